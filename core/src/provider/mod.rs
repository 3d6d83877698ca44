//! `Provider`: a configured source of tokens with its own cache. Each source lives in its
//! folder here (`aws/`, `azure/`, `gcp/`); `registry.rs` lists them and builds one from a URL, a
//! postgres URL or a typed builder's fields.

pub(crate) mod aws;
pub(crate) mod awssm;
pub(crate) mod azure;
pub(crate) mod callback;
pub(crate) mod exec;
pub(crate) mod file;
pub(crate) mod gcp;
pub(crate) mod registry;
pub(crate) mod secret;
pub(crate) mod vault;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::{self, BoxFuture, Cache, Fetch};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::runtime::runtime;
use crate::shared_cache;
use crate::status::Status;
use crate::token::Token;
use registry::{Built, Ctx};

/// A variable's value, unset when empty or blank, as the cloud SDKs read their settings.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How long after the caller's deadline a callback whose fetch task never ran is called with
/// TIMEOUT: the task's own wait ends at that deadline, so this only fires when it was not run.
const LATE_CALLBACK: Duration = Duration::from_millis(250);

impl Ctx {
    /// The system clocks and the default deadline (10 s).
    pub(crate) fn system() -> Ctx {
        Ctx {
            clock: cache::system_clock(),
            deadline: cache::DEFAULT_DEADLINE,
            aws_credentials: None,
        }
    }
}

/// A configured source of database tokens. Build it once per database target and share it:
/// clones share one cache, and it is `Send + Sync`.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ProviderKind,
    source: Arc<dyn registry::Source>,
    /// Host, region and role: enough to tell providers apart in logs, nothing secret.
    description: String,
    username: Option<String>,
    host: Option<String>,
    cache: Cache<Token>,
    deadline: Duration,
    clock: cache::Clock,
    /// The configuration a shared entry is keyed by (URL and builder providers only).
    shared_config: Option<String>,
    shared: Option<Arc<shared_cache::Shared>>,
}

impl Provider {
    /// Builds a provider from a provider URL (`dsql://…`, `rds://…`, `azure://…`).
    /// `shared_cache=1`, accepted by every URL, puts the shared cache under the provider's own
    /// ([`Provider::shared_cache`]).
    pub fn from_url(url: &str) -> Result<Provider> {
        let (url, flag) = shared_cache::take_from_url(url)?;
        let config = format!("url\0{url}");
        Self::build_shared(|ctx| registry::from_url(&url, ctx), config, flag)
    }

    /// Builds the provider named by the `PASSMINT_PROVIDER` environment variable.
    pub fn from_env() -> Result<Provider> {
        match std::env::var("PASSMINT_PROVIDER") {
            Ok(url) if !url.trim().is_empty() => Self::from_url(&url),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(Error::new(
                ErrorKind::InvalidConfig,
                "PASSMINT_PROVIDER is not set: set it to a provider URL such as dsql://<cluster>?region=<region>",
            )),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::new(
                ErrorKind::InvalidArgument,
                "PASSMINT_PROVIDER is not valid UTF-8",
            )),
        }
    }

    /// Picks the provider from a postgres URL's host (`*.dsql.<region>.on.aws`,
    /// `*.rds.amazonaws.com`, `*.postgres.database.azure.com`); user and port come from it.
    pub fn for_postgres_url(url: &str) -> Result<Provider> {
        let config = format!("postgres url\0{url}");
        Self::build_shared(|ctx| registry::for_postgres_url(url, ctx), config, None)
    }

    /// A provider from a typed builder's fields: `kind` is `"dsql"`, `"rds"` or `"azure"`,
    /// the fields are the provider URL's parameters plus `host` and `port` where its URL has
    /// them (`[("host", "abc.dsql.us-east-1.on.aws"), ("user", "app")]`). The bindings'
    /// `dsql(...)`, `rds(...)`, `azure(...)` come here; no URL is written in between.
    /// A `shared_cache` field (`"1"`/`"0"`) is [`Provider::shared_cache`].
    pub fn from_fields(kind: &str, fields: &[(&str, &str)]) -> Result<Provider> {
        let mut flag = None;
        let mut kept = Vec::with_capacity(fields.len());
        for &(name, value) in fields {
            if name == shared_cache::PARAM {
                flag = Some(shared_cache::parse_flag(value)?);
            } else {
                kept.push((name, value));
            }
        }
        let mut sorted = kept.clone();
        sorted.sort_unstable();
        let config = sorted
            .iter()
            .fold(format!("fields\0{kind}\0"), |acc, (k, v)| {
                acc + k + "=" + v + "\0"
            });
        let fields = owned(&kept);
        Self::build_shared(|ctx| registry::from_fields(kind, fields, ctx), config, flag)
    }

    /// This provider with the shared cache under its own cache (`on`), or without it: tokens
    /// shared by the processes of this user on this host that use the same configuration and
    /// identity-relevant environment (docs/DESIGN.md §9; the README says what is on disk).
    /// `PASSMINT_SHARED_CACHE=0` keeps it off whatever `on` says. A provider over a source of
    /// the caller's (a callback, AWS credentials of the caller's) has nothing to key a shared
    /// entry by, and stays as it is. The new provider starts with an empty in-process cache.
    pub fn shared_cache(self, on: bool) -> Provider {
        let Some(config) = self.inner.shared_config.clone() else {
            return self;
        };
        let on = shared_cache::enabled(Some(on));
        if on == self.inner.shared.is_some() {
            return self;
        }
        let inner = &self.inner;
        let built = Built {
            kind: inner.kind,
            source: inner.source.clone(),
            description: inner.description.clone(),
            username: inner.username.clone(),
            host: inner.host.clone(),
        };
        let ctx = Ctx {
            clock: inner.clock.clone(),
            deadline: inner.deadline,
            aws_credentials: None,
        };
        Self::assemble(built, &ctx, Some(config), on)
    }

    /// Whether the shared cache is under this provider's cache.
    pub fn uses_shared_cache(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// A provider over a token source of the caller's own, with the full cache rules: one
    /// call for any number of concurrent cold callers, refresh ahead of expiry, the cached
    /// token served while refreshes fail, backoff, and the caller's deadline (a source that
    /// never answers is a `TIMEOUT`). Its errors reach callers with their kind and message.
    pub fn from_source(source: impl callback::TokenSource) -> Provider {
        Self::from_callback(source, callback::Flavor::Plain)
    }

    /// A provider over an Entra ID credential the caller holds (an azure-identity or
    /// @azure/identity credential, through `start` as in
    /// [`Provider::from_async_callback`]): its tokens are `azure` tokens, with Azure's driver
    /// TLS rules and the role from `user`, else from the token's claims, as for `azure://`.
    /// [`azure_scope`](crate::azure_scope) gives the scope to ask the credential for.
    pub fn from_azure_credential<F>(
        name: impl Into<String>,
        user: Option<String>,
        start: F,
    ) -> Provider
    where
        F: Fn(callback::Completion) + Send + Sync + 'static,
    {
        let source = callback::AsyncCallbackSource {
            start: Arc::new(start),
            name: name.into(),
        };
        Self::from_callback(source, callback::Flavor::Azure { user })
    }

    /// [`Provider::from_azure_credential`] for a credential whose `get_token` blocks (Python's
    /// sync azure-identity credentials): `f` runs on passmint's blocking pool.
    pub fn from_blocking_azure_credential<F>(
        name: impl Into<String>,
        user: Option<String>,
        f: F,
    ) -> Provider
    where
        F: Fn() -> Result<callback::Minted> + Send + Sync + 'static,
    {
        let source = callback::BlockingFnSource {
            f: Arc::new(f),
            name: name.into(),
        };
        Self::from_callback(source, callback::Flavor::Azure { user })
    }

    /// [`Provider::from_source`] for an async closure:
    /// `Provider::from_fn(|| async { Ok(Minted::new(secret, expires_at)) })`.
    pub fn from_fn<F, Fut>(f: F) -> Provider
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<callback::Minted>> + Send + 'static,
    {
        Self::from_source(callback::FnSource(f))
    }

    /// [`Provider::from_fields`] for `dsql` or `rds`, signing with AWS credentials from the
    /// caller's function instead of the default chain: a boto3 `Session`, an `@aws-sdk`
    /// credential provider, a C callback. `credentials` runs on passmint's blocking pool when
    /// the credentials cache needs them (once for any number of callers, again ahead of their
    /// expiry); their expiry bounds the token's.
    pub fn from_fields_with_aws_credentials<F>(
        kind: &str,
        fields: &[(&str, &str)],
        credentials: F,
    ) -> Result<Provider>
    where
        F: Fn() -> Result<aws::AwsCredentials> + Send + Sync + 'static,
    {
        Self::with_aws_credentials(kind, fields, aws::blocking_credentials(credentials))
    }

    /// [`Provider::from_fields_with_aws_credentials`] for a function that answers later:
    /// `start` is called on passmint's blocking pool with a [`callback::Completion`] to
    /// complete from any thread, once (an `@aws-sdk` credential provider's Promise).
    pub fn from_fields_with_async_aws_credentials<F>(
        kind: &str,
        fields: &[(&str, &str)],
        start: F,
    ) -> Result<Provider>
    where
        F: Fn(callback::Completion<aws::AwsCredentials>) + Send + Sync + 'static,
    {
        Self::with_aws_credentials(kind, fields, aws::completing_credentials(start))
    }

    /// [`Provider::from_url`] for a `dsql://` or `rds://` URL, signing with AWS credentials from
    /// the caller's function as in [`Provider::from_fields_with_async_aws_credentials`] (the C
    /// ABI's credentials callback).
    pub fn from_url_with_async_aws_credentials<F>(url: &str, start: F) -> Result<Provider>
    where
        F: Fn(callback::Completion<aws::AwsCredentials>) + Send + Sync + 'static,
    {
        let ctx = Ctx {
            aws_credentials: Some(aws::completing_credentials(start)),
            ..Ctx::system()
        };
        Self::build_in(ctx, |ctx| {
            registry::from_url(url, ctx).and_then(|built| only_aws(built.kind.name(), built))
        })
    }

    fn with_aws_credentials(
        kind: &str,
        fields: &[(&str, &str)],
        credentials: aws::CallerCredentials,
    ) -> Result<Provider> {
        only_aws(kind, ())?;
        let mut kept = Vec::with_capacity(fields.len());
        for &(name, value) in fields {
            if name != shared_cache::PARAM {
                kept.push((name, value));
            } else if shared_cache::parse_flag(value)? {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "shared_cache: a provider signing with AWS credentials of your own shares no cache with other processes (nothing on disk could tell whose credentials signed a token)",
                ));
            }
        }
        let fields = owned(&kept);
        let ctx = Ctx {
            aws_credentials: Some(credentials),
            ..Ctx::system()
        };
        Self::build_in(ctx, |ctx| registry::from_fields(kind, fields, ctx))
    }

    /// [`Provider::from_source`] for a synchronous function, called on passmint's blocking
    /// pool (never on the caller's thread or a runtime worker); `name` is what
    /// `status().credential` reports. For bindings whose callbacks block: Python callables, C
    /// function pointers.
    pub fn from_blocking_fn<F>(name: impl Into<String>, f: F) -> Provider
    where
        F: Fn() -> Result<callback::Minted> + Send + Sync + 'static,
    {
        Self::from_source(callback::BlockingFnSource {
            f: Arc::new(f),
            name: name.into(),
        })
    }

    /// [`Provider::from_source`] for a callback that answers later: `start` is called on
    /// passmint's blocking pool with a [`callback::Completion`] to complete from any thread, once
    /// (a JS function's Promise, a C callback's completion call). `name` is what
    /// `status().credential` reports.
    pub fn from_async_callback<F>(name: impl Into<String>, start: F) -> Provider
    where
        F: Fn(callback::Completion) + Send + Sync + 'static,
    {
        Self::from_source(callback::AsyncCallbackSource {
            start: Arc::new(start),
            name: name.into(),
        })
    }

    fn build_shared(
        make: impl FnOnce(&Ctx) -> Result<Built>,
        config: String,
        flag: Option<bool>,
    ) -> Result<Provider> {
        let ctx = Ctx::system();
        let built = crate::fork::gated(|| make(&ctx))?;
        Ok(Self::assemble(
            built,
            &ctx,
            Some(config),
            shared_cache::enabled(flag),
        ))
    }

    fn build_in(ctx: Ctx, make: impl FnOnce(&Ctx) -> Result<Built>) -> Result<Provider> {
        // Gated (crate::fork): building a provider reaches TLS libraries' process-wide statics.
        let built = crate::fork::gated(|| make(&ctx))?;
        Ok(Self::from_built(built, &ctx))
    }

    fn from_callback(source: impl callback::TokenSource, flavor: callback::Flavor) -> Provider {
        Self::from_built(callback::built(source, flavor), &Ctx::system())
    }

    /// The cache in front of a built source.
    pub(crate) fn from_built(built: Built, ctx: &Ctx) -> Provider {
        Self::assemble(built, ctx, None, false)
    }

    /// The cache in front of a built source, and under it the shared cache when `shared` (and
    /// there is a `config` to key it by).
    fn assemble(built: Built, ctx: &Ctx, config: Option<String>, shared: bool) -> Provider {
        let shared = config
            .as_deref()
            .filter(|_| shared)
            .map(|c| Arc::new(shared_cache::Shared::new(built.kind, c)));
        let (source, clock, deadline) = (built.source.clone(), ctx.clock.clone(), ctx.deadline);
        let below = shared.clone();
        let fetch: Fetch<Token> = Arc::new(move || -> BoxFuture<_> {
            let (source, clock) = (source.clone(), clock.clone());
            match &below {
                None => source.fetch(clock),
                Some(shared) => {
                    let own = clock.clone();
                    shared
                        .clone()
                        .fetch(move || source.fetch(own), clock, deadline)
                }
            }
        });
        Provider {
            inner: Arc::new(Inner {
                kind: built.kind,
                source: built.source,
                description: built.description,
                username: built.username,
                host: built.host,
                cache: Cache::new("token", fetch, ctx.clock.clone(), ctx.deadline),
                deadline: ctx.deadline,
                clock: ctx.clock.clone(),
                shared_config: config,
                shared,
            }),
        }
    }

    /// A token, from the cache when it is fresh; concurrent callers share one fetch.
    ///
    /// The returned future does not need a tokio runtime: fetches run on passmint's own.
    pub async fn token(&self) -> Result<Token> {
        self.check_source();
        self.inner.cache.get().await
    }

    /// [`Provider::token`] for synchronous code. Returns at once on a cache hit; otherwise
    /// blocks this thread (never longer than the deadline). Safe to call from any thread,
    /// including inside an async runtime, on passmint's own threads (in a callback of
    /// [`Provider::token_with`]) and in a `fork()`ed child.
    pub fn token_blocking(&self) -> Result<Token> {
        self.check_source();
        self.inner.cache.get_blocking()
    }

    /// The cached token when it is fresh, without waiting, fetching or locking; `None` when
    /// a call to [`Provider::token`] would have to fetch or refresh. For bindings that answer
    /// cache hits on the caller's thread (no hop to passmint's runtime).
    pub fn cached_token(&self) -> Option<Token> {
        self.check_source();
        self.inner.cache.peek()
    }

    /// Calls `callback` exactly once with the token, on one of passmint's own threads, by
    /// the deadline. For callers that can neither await nor block (C callbacks, other event
    /// loops). Fails, without calling it, only when passmint's runtime cannot start.
    pub fn token_with<F>(&self, callback: F) -> Result<()>
    where
        F: FnOnce(Result<Token>) + Send + 'static,
    {
        let rt = runtime()?;
        self.check_source();
        if let Some(token) = self.inner.cache.peek() {
            rt.spawn(async move { callback(Ok(token)) });
            return Ok(());
        }
        // Whichever comes first calls it: the fetch's outcome, or the deadline kept by a
        // thread that does not depend on the runtime running this task at all.
        let once = Arc::new(std::sync::Mutex::new(Some(callback)));
        let take = |slot: &std::sync::Mutex<Option<F>>| {
            slot.lock().unwrap_or_else(|e| e.into_inner()).take()
        };
        let until = self.inner.cache.caller_deadline();
        let late = once.clone();
        let (what, deadline) = ("token", self.inner.deadline);
        let fallback = deadline::at(until + LATE_CALLBACK, move || {
            if let Some(callback) = take(&late) {
                callback(Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no {what} within the {} s deadline: passmint's runtime did not run the fetch",
                        deadline.as_secs_f64()
                    ),
                )));
            }
        });
        let this = self.clone();
        rt.spawn(async move {
            let result = this.inner.cache.get_by(until).await;
            drop(fallback);
            if let Some(callback) = take(&once) {
                callback(result);
            }
        });
        Ok(())
    }

    /// Drops the cached token (and the shared cache's entry), so the next call fetches a new
    /// one: for a secret rotated before the expiry passmint knew of. The driver helpers do
    /// it themselves, through [`Provider::password_refused`].
    pub fn invalidate(&self) {
        self.inner.cache.invalidate();
        if let Some(shared) = &self.inner.shared {
            shared.forget(None);
        }
    }

    /// Tells the provider that a server refused `password` (`password authentication
    /// failed`). For the sources whose secrets rotate before any expiry passmint knew (Vault,
    /// Secrets Manager, files, commands), the cached token is dropped if it is still that
    /// one, and the answer is true: connect again once, with a fresh token. Many connections
    /// refused at once cause one fetch between them. For IAM tokens the answer is false and
    /// nothing is dropped: a refused IAM token is a wrong role or policy, not a stale one.
    pub fn password_refused(&self, password: &str) -> bool {
        if !registry::rotates(self.inner.kind) {
            return false;
        }
        self.inner
            .cache
            .invalidate_if(|token| same_secret(token.secret(), password));
        if let Some(shared) = &self.inner.shared {
            shared.forget(Some(password));
        }
        true
    }

    /// A source that says what its token came from changed (a rewritten file) loses the
    /// cached token before this call reads it.
    fn check_source(&self) {
        if self.inner.source.changed() {
            self.inner.cache.invalidate();
        }
    }

    /// This provider's health, without fetching or waiting: whether a token is cached, when
    /// it expires and is next refreshed, whether refreshes are failing and why, and the
    /// credential in use. Failed refreshes while the cached token is still served show here
    /// (and as a `tracing` warning) before any caller sees an error.
    pub fn status(&self) -> Status {
        let health = self.inner.cache.health();
        let expires_at = health.value.as_ref().map(Token::expires_at);
        let refresh_at = health.refresh_at_ms.map(|ms| ms.div_euclid(1000));
        let retry_at = health.retry_at_ms.map(|ms| ms.div_euclid(1000));
        let next_refresh_at = match (health.value.is_some(), refresh_at, retry_at) {
            (true, Some(r), Some(b)) => Some(r.max(b)),
            (true, r, None) => r,
            (_, r, b) => b.or(r),
        };
        Status {
            cached: health.value.is_some(),
            expires_at,
            next_refresh_at,
            consecutive_failures: health.failures,
            last_error: health.last_error.filter(|_| health.failures > 0),
            credential: self.inner.source.credential(),
        }
    }

    /// The provider kind's name: `"dsql"`, `"rds"` or `"azure"`.
    pub fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// The provider kind.
    pub fn provider_kind(&self) -> ProviderKind {
        self.inner.kind
    }

    /// The database host tokens are signed for (`dsql`, `rds`): a DSQL cluster id given with a
    /// region comes back as its endpoint, so a driver needs no string building. `None` for
    /// Azure and callbacks, whose tokens are not tied to one host.
    pub fn host(&self) -> Option<&str> {
        self.inner.host.as_deref()
    }

    /// The database role tokens are for, when configured or known.
    pub fn username(&self) -> Option<&str> {
        self.inner.username.as_deref()
    }

    /// Where to get the CA bundle a driver needs to verify this provider's database servers,
    /// when the system's roots do not do (RDS and Aurora: Amazon's RDS CAs); `None` when the
    /// servers' certificates chain to public roots (Azure Flexible Server, Aurora DSQL).
    pub fn server_ca_bundle(&self) -> Option<&'static str> {
        registry::server_ca_bundle(self.inner.kind)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Provider")
            .field(&self.inner.description)
            .finish()
    }
}

/// `value`, when `kind` is one that signs with AWS credentials; else the error that says so.
fn only_aws<T>(kind: &str, value: T) -> Result<T> {
    if matches!(kind, "dsql" | "rds" | "awssm") {
        Ok(value)
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "AWS credentials apply to dsql, rds and awssm, not `{}`",
                crate::url::shorten(kind)
            ),
        ))
    }
}

/// Equal secrets, compared in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Field pairs as the registry takes them.
fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
