//! `NativeProvider`: one core `Provider` per JS object. Cache hits are answered on the JS
//! thread; misses run on passmint's runtime and settle a promise through a threadsafe deferred,
//! so the event loop never waits on the network.
//!
//! A hit costs one call returning a number: `freshId()` names the fresh token, and the JS side
//! asks for its secret (`lastSecret()`) only when that number changes, so a 1.5 KB string is
//! not copied into the JS heap on every call. Freshness is decided here, on every call.

use std::cell::{Cell, RefCell};

use napi::bindgen_prelude::{Either, Function, Object, ToNapiValue};
use napi::{Env, JsDeferred};
use napi_derive::napi;
use passmint_core::{Provider, Token};

use crate::errors::{Failure, Result, guarded, thrown};
use crate::secret::Secret;

/// A token as plain data; `lib/index.ts` wraps it in a `Token` whose inspect hides `secret`.
/// `provider.status()`: the core's `Status`, its keys in camelCase.
#[napi(object, object_from_js = false)]
pub struct NativeStatus {
    pub cached: bool,
    pub expires_at: Option<i64>,
    pub next_refresh_at: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error_kind: Option<String>,
    pub last_error_message: Option<String>,
    pub credential: Option<String>,
}

#[napi(object, object_from_js = false)]
pub struct NativeToken {
    #[napi(ts_type = "string")]
    pub secret: Secret,
    /// Unix seconds.
    pub expires_at: i64,
    pub username: Option<String>,
    pub provider: String,
}

impl From<&Token> for NativeToken {
    fn from(t: &Token) -> Self {
        NativeToken {
            secret: Secret::of(t),
            expires_at: t.expires_at(),
            username: t.username().map(str::to_string),
            provider: t.provider().to_string(),
        }
    }
}

#[napi]
pub struct NativeProvider {
    inner: Provider,
    /// The token `fresh_id` last named. Holding it keeps its allocation alive, so a later
    /// token can never be mistaken for it by address.
    last: RefCell<Option<Token>>,
    generation: Cell<u32>,
}

impl From<Provider> for NativeProvider {
    fn from(inner: Provider) -> Self {
        NativeProvider {
            inner,
            last: RefCell::new(None),
            generation: Cell::new(0),
        }
    }
}

#[napi]
impl NativeProvider {
    #[napi(constructor)]
    pub fn new(url: String) -> Result<Self> {
        guarded(|| Provider::from_url(&url).map(Self::from).map_err(thrown))
    }

    /// A provider over a JS function: `trampoline(id)` runs it and settles `id`
    /// (`lib/callback.ts`); `name` is what `status().credential` says.
    #[napi(factory)]
    pub fn from_function(trampoline: Function<u32, ()>, name: String) -> Result<Self> {
        guarded(|| {
            let start = crate::callback::starter(trampoline).map_err(registration)?;
            Ok(Self::from(Provider::from_async_callback(
                name,
                crate::callback::token(start),
            )))
        })
    }

    /// A provider over an Entra credential the caller holds: `trampoline(id)` calls its
    /// `getToken` and settles `id`; `azure` tokens, the role from `user` or the claims.
    #[napi(factory)]
    pub fn from_azure_function(
        trampoline: Function<u32, ()>,
        name: String,
        user: Option<String>,
    ) -> Result<Self> {
        guarded(|| {
            let start = crate::callback::starter(trampoline).map_err(registration)?;
            Ok(Self::from(Provider::from_azure_credential(
                name,
                user,
                crate::callback::token(start),
            )))
        })
    }

    /// `fromFields` for dsql/rds signing with the caller's AWS credential provider:
    /// `trampoline(id)` calls it and settles `id` (`lib/callback.ts`).
    #[napi(factory)]
    pub fn from_fields_with_credentials(
        kind: String,
        fields: Vec<Vec<String>>,
        trampoline: Function<u32, ()>,
    ) -> Result<Self> {
        guarded(|| {
            let start = crate::callback::starter(trampoline).map_err(registration)?;
            let pairs = pairs(&fields);
            Provider::from_fields_with_async_aws_credentials(
                &kind,
                &pairs,
                crate::callback::credentials(start),
            )
            .map(Self::from)
            .map_err(thrown)
        })
    }

    #[napi(factory)]
    pub fn for_postgres_url(url: String) -> Result<Self> {
        guarded(|| {
            Provider::for_postgres_url(&url)
                .map(Self::from)
                .map_err(thrown)
        })
    }

    /// A provider from a typed builder's fields (snake_case, as in the provider URL); the core
    /// checks the names and builds it.
    #[napi(factory)]
    pub fn from_fields(kind: String, fields: Vec<Vec<String>>) -> Result<Self> {
        guarded(|| {
            let pairs = pairs(&fields);
            Provider::from_fields(&kind, &pairs)
                .map(Self::from)
                .map_err(thrown)
        })
    }

    /// Drops the cached token (`Provider::invalidate` in the core).
    #[napi]
    pub fn invalidate(&self) {
        self.inner.invalidate();
    }

    /// A server refused `password` (`Provider::password_refused` in the core).
    #[napi]
    pub fn password_refused(&self, password: String) -> bool {
        self.inner.password_refused(&password)
    }

    /// The provider's health, without fetching (`Provider::status` in the core).
    #[napi]
    pub fn status(&self) -> NativeStatus {
        let s = self.inner.status();
        NativeStatus {
            cached: s.cached,
            expires_at: s.expires_at,
            next_refresh_at: s.next_refresh_at,
            consecutive_failures: s.consecutive_failures,
            last_error_kind: s.last_error_kind().map(|k| k.code().to_string()),
            last_error_message: s.last_error_message().map(str::to_string),
            credential: s.credential,
        }
    }

    /// `"dsql"`, `"rds"` or `"azure"`.
    /// This provider with the shared token cache under its own (`on`) or without it.
    #[napi]
    pub fn with_shared_cache(&self, on: bool) -> NativeProvider {
        Self::from(self.inner.clone().shared_cache(on))
    }

    #[napi(getter)]
    pub fn shared_cache(&self) -> bool {
        self.inner.uses_shared_cache()
    }

    #[napi(getter)]
    pub fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The database host tokens are signed for (dsql, rds); null for Azure and callbacks.
    #[napi(getter)]
    pub fn host(&self) -> Option<String> {
        self.inner.host().map(str::to_string)
    }

    /// The provider `PASSMINT_PROVIDER` names.
    #[napi(factory)]
    pub fn from_env() -> Result<Self> {
        guarded(|| Provider::from_env().map(Self::from).map_err(thrown))
    }

    /// The role tokens are for when the provider URL named it.
    #[napi(getter)]
    pub fn username(&self) -> Option<String> {
        self.inner.username().map(str::to_string)
    }

    /// Where to get the CA bundle drivers need to verify this provider's servers (RDS, Aurora);
    /// null when they chain to public roots (Azure, DSQL).
    #[napi(getter)]
    pub fn server_ca_bundle(&self) -> Option<&'static str> {
        self.inner.server_ca_bundle()
    }

    /// A non-zero number naming the cached token when it is fresh (a lock-free peek), the same
    /// number while it stays the same token; `0` means "fetch".
    #[napi]
    pub fn fresh_id(&self) -> Result<u32> {
        guarded(|| {
            let Some(token) = self.inner.cached_token() else {
                return Ok(0);
            };
            let mut last = self.last.borrow_mut();
            if !last.as_ref().is_some_and(|l| l.same_as(&token)) {
                *last = Some(token);
                self.generation
                    .set(self.generation.get().checked_add(1).unwrap_or(1));
            }
            Ok(self.generation.get())
        })
    }

    /// The secret of the token `freshId()` last named.
    #[napi(ts_return_type = "string | null")]
    pub fn last_secret(&self) -> Option<Secret> {
        self.last.borrow().as_ref().map(Secret::of)
    }

    #[napi]
    pub fn last_info(&self) -> Option<NativeToken> {
        self.last.borrow().as_ref().map(NativeToken::from)
    }

    /// Blocks the calling thread until the token is there (never past the deadline).
    #[napi(ts_return_type = "string")]
    pub fn token_sync(&self) -> Result<Secret> {
        guarded(|| {
            self.inner
                .token_blocking()
                .map(|t| Secret::of(&t))
                .map_err(thrown)
        })
    }

    #[napi]
    pub fn info_sync(&self) -> Result<NativeToken> {
        guarded(|| {
            self.inner
                .token_blocking()
                .map(|t| NativeToken::from(&t))
                .map_err(thrown)
        })
    }

    #[napi(ts_return_type = "Promise<string | Failure>")]
    pub fn token_async<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        settle_later(&self.inner, env, Secret::of)
    }

    #[napi(ts_return_type = "Promise<NativeToken | Failure>")]
    pub fn info_async<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        settle_later(&self.inner, env, |t| NativeToken::from(t))
    }
}

type Outcome<T> = Either<T, Failure>;
type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<Outcome<T>> + Send>;

/// Owns a promise's deferred until it is settled. Dropped unsettled (the request was dropped
/// unrun, or a panic unwound through it), it settles with `Failure::dropped()`: a deferred left
/// pending would keep its threadsafe function, and so the process, alive for ever.
struct Settle<T: ToNapiValue + Send + 'static>(Option<JsDeferred<Outcome<T>, Resolver<T>>>);

impl<T: ToNapiValue + Send + 'static> Settle<T> {
    fn settle(mut self, outcome: Outcome<T>) {
        if let Some(deferred) = self.0.take() {
            deferred.resolve(Box::new(move |_env| Ok(outcome)));
        }
    }
}

impl<T: ToNapiValue + Send + 'static> Drop for Settle<T> {
    fn drop(&mut self) {
        if let Some(deferred) = self.0.take() {
            deferred.resolve(Box::new(|_env| Ok(Either::B(Failure::dropped()))));
        }
    }
}

/// A promise settled from passmint's runtime with `convert(token)` or a `Failure`.
fn settle_later<'env, T>(
    provider: &Provider,
    env: &'env Env,
    convert: fn(&Token) -> T,
) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    let settle = Settle::<T>(Some(deferred));
    // On an error the callback, and with it `settle`, is dropped unrun: the promise then
    // settles through `Settle::drop`.
    let _ = provider.token_with(move |result| {
        settle.settle(match result {
            Ok(token) => Either::A(convert(&token)),
            Err(e) => Either::B(Failure::from(e)),
        })
    });
    Ok(promise)
}

/// A threadsafe function that could not be made: the addon's environment is unusable.
fn registration(e: napi::Error) -> napi::Error<crate::errors::Code> {
    thrown(passmint_core::Error::new(
        passmint_core::ErrorKind::Internal,
        format!("the JS function could not be registered: {e}"),
    ))
}

/// The builders' `[name, value]` pairs as the core takes them.
fn pairs(fields: &[Vec<String>]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .filter_map(|f| match f.as_slice() {
            [k, v] => Some((k.as_str(), v.as_str())),
            _ => None,
        })
        .collect()
}
