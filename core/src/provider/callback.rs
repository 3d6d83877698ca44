//! The caller's own token source (docs/DESIGN.md §9, "Callbacks"): a function that returns a
//! secret, its expiry and optionally a username, behind the same cache as every other source
//! (single flight, refresh-ahead, serve-while-valid, backoff, the caller's deadline). The
//! bindings' callables, functions and C callbacks all come here.

use std::future::Future;
use std::sync::Arc;

use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::provider::registry::{Built, Source};
use crate::token::Token;

/// Unix seconds past this (the year 2286) are milliseconds or garbage, not an expiry.
const MAX_UNIX_SECONDS: i64 = 9_999_999_999;

/// What a token callback hands back.
#[derive(Clone)]
pub struct Minted {
    secret: String,
    expires_at: i64,
    username: Option<String>,
}

impl Minted {
    /// A token `secret` that the server accepts until `expires_at` (unix seconds).
    pub fn new(secret: impl Into<String>, expires_at: i64) -> Minted {
        Minted {
            secret: secret.into(),
            expires_at,
            username: None,
        }
    }

    /// The database role the token is for.
    pub fn with_username(mut self, username: impl Into<String>) -> Minted {
        self.username = Some(username.into());
        self
    }
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("expires_at", &self.expires_at)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A token source of the caller's own: [`crate::Provider::from_source`].
pub trait TokenSource: Send + Sync + 'static {
    /// One fresh token. An error's kind and message reach the callers as they are.
    fn fetch(&self) -> BoxFuture<Result<Minted>>;

    /// What `Provider::status()` names as the credential in use.
    fn describe(&self) -> String {
        "token callback".to_string()
    }
}

/// An error a callback raised, as callers get it: `kind` (`ProviderResponse` when the
/// callback's language has no passmint kind for it) and its own message, scrubbed of anything
/// token-shaped and capped, so a callback that quotes a credential in its exception does not
/// leak it.
pub fn callback_error(kind: ErrorKind, message: &str) -> Error {
    Error::new(kind, crate::redact::scrub(message, &[], 600))
}

/// [`TokenSource`] for a synchronous function, run on passmint's blocking pool (a callback
/// into Python, or C): [`crate::Provider::from_blocking_fn`].
pub(crate) struct BlockingFnSource<F> {
    pub f: Arc<F>,
    pub name: String,
}

impl<F> TokenSource for BlockingFnSource<F>
where
    F: Fn() -> Result<Minted> + Send + Sync + 'static,
{
    fn fetch(&self) -> BoxFuture<Result<Minted>> {
        let f = self.f.clone();
        Box::pin(async move {
            // A callback that never returns holds one pool thread; callers still get TIMEOUT
            // at their deadline, and the next refresh (after backoff) uses another thread.
            tokio::task::spawn_blocking(move || f())
                .await
                .unwrap_or_else(|e| {
                    Err(Error::new(
                        ErrorKind::Panic,
                        format!(
                            "the token callback panicked: {}",
                            crate::redact::scrub(&e.to_string(), &[], 300)
                        ),
                    ))
                })
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// The one answer to one call of an asynchronous callback ([`crate::Provider::from_async_callback`],
/// and `T` = [`crate::AwsCredentials`] for the caller's AWS credentials): complete it from any
/// thread, once. Dropped without an answer, the call fails; not completed by the deadline,
/// callers get `TIMEOUT` and a late answer is ignored.
pub struct Completion<T = Minted> {
    tx: Option<tokio::sync::oneshot::Sender<Result<T>>>,
}

impl<T> Completion<T> {
    pub(crate) fn channel() -> (Completion<T>, tokio::sync::oneshot::Receiver<Result<T>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Completion { tx: Some(tx) }, rx)
    }

    pub fn complete(mut self, answer: Result<T>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(answer);
        }
    }

    /// Nobody waits for this answer any more (the fetch passed its deadline): a binding that
    /// keeps completions in a table can drop this one.
    pub fn is_abandoned(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }
}

impl<T> std::fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion").finish_non_exhaustive()
    }
}

/// Calls `start` on the blocking pool with a fresh completion and waits for its answer. On the
/// blocking pool, not awaited: a callback may answer inline and slowly (C), or hand the call to
/// another thread (JS); a callback that panics drops its completion.
pub(crate) async fn completed<T: Send + 'static>(
    start: Arc<dyn Fn(Completion<T>) + Send + Sync>,
    what: &str,
) -> Result<T> {
    let (completion, rx) = Completion::channel();
    drop(tokio::task::spawn_blocking(move || start(completion)));
    rx.await.unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::ProviderResponse,
            format!("the {what} ended without completing its call"),
        ))
    })
}

/// [`TokenSource`] for a callback that starts the work and answers later through a
/// [`Completion`] (a JS function's Promise, a C callback's completion call).
pub(crate) struct AsyncCallbackSource {
    pub start: Arc<dyn Fn(Completion) + Send + Sync>,
    pub name: String,
}

impl TokenSource for AsyncCallbackSource {
    fn fetch(&self) -> BoxFuture<Result<Minted>> {
        let start = self.start.clone();
        Box::pin(async move { completed(start, "token callback").await })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// [`TokenSource`] for an async closure: [`crate::Provider::from_fn`].
pub(crate) struct FnSource<F>(pub F);

impl<F, Fut> TokenSource for FnSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Minted>> + Send + 'static,
{
    fn fetch(&self) -> BoxFuture<Result<Minted>> {
        Box::pin((self.0)())
    }
}

/// What tokens from a source are: a plain callback's, or Entra ID tokens from a credential the
/// caller holds (an azure-identity or @azure/identity credential), which take Azure's TLS
/// rules and, like `azure://`, the role from `user` or else from the token's claims.
#[derive(Clone, Debug)]
pub(crate) enum Flavor {
    Plain,
    Azure { user: Option<String> },
}

struct Callback<S: TokenSource> {
    source: S,
    flavor: Flavor,
}

impl<S: TokenSource> Source for Callback<S> {
    fn fetch(self: Arc<Self>, _clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move { checked(self.source.fetch().await?, &self.flavor) })
    }

    fn credential(&self) -> Option<String> {
        Some(self.source.describe())
    }
}

/// The callback's answer as a lease, or why it cannot be one. The cache then applies the
/// 30-second rule to its expiry as to any other source's.
fn checked(minted: Minted, flavor: &Flavor) -> Result<Lease<Token>> {
    let Minted {
        secret,
        expires_at,
        username,
    } = minted;
    let refuse = |why: String| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("the token callback returned {why}"),
        )
    };
    if secret.is_empty() {
        return Err(refuse("an empty token".into()));
    }
    if secret.contains('\0') {
        return Err(refuse("a token with a NUL character".into()));
    }
    if expires_at > MAX_UNIX_SECONDS {
        return Err(refuse(format!(
            "expires_at {expires_at}, which is not unix seconds (milliseconds? divide by 1000)"
        )));
    }
    if expires_at <= 0 {
        return Err(refuse(format!(
            "expires_at {expires_at}: give the token's expiry in unix seconds"
        )));
    }
    let username = username.filter(|u| !u.is_empty());
    let (kind, username) = match flavor {
        Flavor::Plain => (ProviderKind::Callback, username),
        // An explicit user always wins and the claims are not even read (docs/DESIGN.md §4).
        Flavor::Azure { user } => (
            ProviderKind::Azure,
            user.clone()
                .or(username)
                .or_else(|| crate::provider::azure::claims_username(&secret)),
        ),
    };
    Ok(Lease {
        value: Token::new(secret, expires_at, username, kind),
        expires_at_ms: Some(expires_at.saturating_mul(1000)),
        short_lived: false,
        refresh_at_ms: None,
    })
}

/// A built provider around the caller's source.
pub(crate) fn built(source: impl TokenSource, flavor: Flavor) -> Built {
    let description = source.describe();
    let (kind, username) = match &flavor {
        Flavor::Plain => (ProviderKind::Callback, None),
        Flavor::Azure { user } => (ProviderKind::Azure, user.clone()),
    };
    Built {
        kind,
        description,
        host: None,
        username,
        source: Arc::new(Callback { source, flavor }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_thousand_cold_callers_call_the_function_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let p = crate::Provider::from_fn(move || {
            let calls = counted.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                Ok(Minted::new("cb-token", now() + 3600).with_username("app"))
            }
        });
        let all = futures_join(&p, 1000).await;
        assert!(
            all.iter()
                .all(|t| t.secret() == "cb-token" && t.username() == Some("app"))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(all[0].provider(), "callback");
        assert_eq!(p.status().credential.as_deref(), Some("token callback"));
    }

    async fn futures_join(p: &crate::Provider, n: usize) -> Vec<Token> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.token().await.unwrap() })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[test]
    fn wrong_answers_are_provider_response_and_errors_pass_through() {
        let cases: [(Minted, &str); 4] = [
            (Minted::new("", now() + 3600), "empty"),
            (Minted::new("t", (now() + 3600) * 1000), "milliseconds"),
            (Minted::new("t", 0), "unix seconds"),
            (Minted::new("t", now() + 10), "expire"),
        ];
        for (minted, says) in cases {
            let p = crate::Provider::from_fn(move || {
                let m = minted.clone();
                async move { Ok(m) }
            });
            let e = p.token_blocking().unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::ProviderResponse,
                "{says}: {}",
                e.message()
            );
            assert!(e.message().contains(says), "{says}: {}", e.message());
        }
        let p = crate::Provider::from_fn(|| async {
            Err(Error::new(ErrorKind::AuthenticationFailed, "vault said no"))
        });
        let e = p.token_blocking().unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::AuthenticationFailed, "vault said no")
        );
        let s = p.status();
        assert_eq!(
            (s.consecutive_failures, s.last_error_kind()),
            (1, Some(ErrorKind::AuthenticationFailed))
        );
    }

    #[test]
    fn an_async_callback_completes_from_another_thread_or_fails_when_dropped() {
        let p = crate::Provider::from_async_callback("js function", |done: Completion| {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                done.complete(Ok(Minted::new("later", now() + 3600)));
            });
        });
        assert_eq!(p.token_blocking().unwrap().secret(), "later");
        assert_eq!(p.status().credential.as_deref(), Some("js function"));
        let dropped = crate::Provider::from_async_callback("c", drop);
        let e = dropped.token_blocking().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProviderResponse);
        assert!(
            e.message().contains("without completing"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn an_azure_credential_gives_azure_tokens_with_the_role_from_user_or_claims() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"none"}"#),
            b64(r#"{"upn":"someone@example.com"}"#)
        );
        let exp = now() + 3600;
        let j = jwt.clone();
        let p = crate::Provider::from_blocking_azure_credential("cred", None, move || {
            Ok(Minted::new(j.clone(), exp))
        });
        let t = p.token_blocking().unwrap();
        assert_eq!(
            (t.provider(), t.username()),
            ("azure", Some("someone@example.com"))
        );
        let p = crate::Provider::from_blocking_azure_credential(
            "cred",
            Some("app".into()),
            move || Ok(Minted::new(jwt.clone(), exp)),
        );
        assert_eq!(p.username(), Some("app"));
        assert_eq!(p.token_blocking().unwrap().username(), Some("app"));
        assert_eq!(
            crate::azure_scope("usgov").unwrap(),
            "https://ossrdbms-aad.database.usgovcloudapi.net/.default"
        );
        assert_eq!(
            crate::azure_scope("mars").unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn a_callback_that_never_completes_is_a_timeout_at_the_deadline() {
        let p = crate::Provider::from_fn(std::future::pending::<Result<Minted>>);
        let started = std::time::Instant::now();
        let e = p.token_blocking().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(started.elapsed() < std::time::Duration::from_secs(12));
    }
}
