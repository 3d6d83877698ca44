//! `Provider`: a configured source of tokens with its own cache.

pub(crate) mod aws_credentials;
pub(crate) mod azure;
mod dsql;
mod rds;
mod sigv4;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;

use crate::cache::{self, BoxFuture, Cache, Clock, Fetch, Lease};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::runtime;
use crate::token::Token;
use crate::url::{self, DsqlConfig, ProviderConfig, RdsConfig};

pub(crate) use aws_credentials::CredentialSource;

/// How long after the caller's deadline a callback whose fetch task never ran is called with
/// TIMEOUT: the task's own wait ends at that deadline, so this only fires when it was not run.
const LATE_CALLBACK: Duration = Duration::from_millis(250);

/// A configured source of database tokens. Build it once per database target and share it:
/// clones share one cache, and it is `Send + Sync`.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    kind: &'static str,
    /// Host, region and role: enough to tell providers apart in logs, nothing secret.
    description: String,
    username: Option<String>,
    cache: Cache<Token>,
    deadline: Duration,
}

impl Provider {
    /// Builds a provider from a provider URL (`dsql://…`, `rds://…`, `azure://…`).
    pub fn from_url(url: &str) -> Result<Provider> {
        Self::from_config(url::parse_provider_url(url)?)
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
        Self::from_config(url::parse_postgres_url(url)?)
    }

    fn from_config(config: ProviderConfig) -> Result<Provider> {
        // Gated (crate::fork): building a provider reaches TLS libraries' process-wide statics.
        crate::fork::gated(|| Self::build(config))
    }

    fn build(config: ProviderConfig) -> Result<Provider> {
        let source = |region: &str, profile: &Option<String>| CredentialSource::DefaultChain {
            region: region.to_string(),
            profile: profile.clone(),
        };
        match config {
            ProviderConfig::Dsql(c) => {
                let creds = source(&c.region, &c.profile);
                Ok(Self::aws(
                    AwsTarget::Dsql(c),
                    creds,
                    cache::system_clock(),
                    cache::DEFAULT_DEADLINE,
                ))
            }
            ProviderConfig::Rds(c) => {
                let creds = source(&c.region, &c.profile);
                Ok(Self::aws(
                    AwsTarget::Rds(c),
                    creds,
                    cache::system_clock(),
                    cache::DEFAULT_DEADLINE,
                ))
            }
            ProviderConfig::Azure(c) => {
                Self::azure(c, cache::system_clock(), cache::DEFAULT_DEADLINE)
            }
        }
    }

    fn azure(config: url::AzureConfig, clock: Clock, deadline: Duration) -> Result<Provider> {
        let username = config.user.clone();
        let credentials = Arc::new(azure::Credentials::new(config)?);
        let description = credentials.describe();
        let fetch = azure::fetch(credentials, clock.clone());
        Ok(Provider {
            inner: Arc::new(Inner {
                kind: "azure",
                description,
                username,
                cache: Cache::new("token", fetch, clock, deadline),
                deadline,
            }),
        })
    }

    pub(crate) fn aws(
        target: AwsTarget,
        creds: CredentialSource,
        clock: Clock,
        deadline: Duration,
    ) -> Provider {
        let credentials = aws_credentials::credentials_cache(creds, clock.clone(), deadline);
        let (kind, description, username) = match &target {
            AwsTarget::Dsql(c) => (
                "dsql",
                format!("dsql://{} (region {}, user {})", c.host, c.region, c.user),
                c.user.clone(),
            ),
            AwsTarget::Rds(c) => (
                "rds",
                format!(
                    "rds://{}:{} (region {}, user {})",
                    c.host, c.port, c.region, c.user
                ),
                c.user.clone(),
            ),
        };
        let target = Arc::new(target);
        let fetch_clock = clock.clone();
        let fetch: Fetch<Token> = Arc::new(move || {
            let credentials = credentials.clone();
            let target = target.clone();
            let clock = fetch_clock.clone();
            Box::pin(async move {
                let creds = credentials.get().await?;
                target.mint(&creds, clock.now_ms())
            }) as BoxFuture<_>
        });
        Provider {
            inner: Arc::new(Inner {
                kind,
                description,
                username: Some(username),
                cache: Cache::new("token", fetch, clock, deadline),
                deadline,
            }),
        }
    }

    /// A token, from the cache when it is fresh; concurrent callers share one fetch.
    ///
    /// The returned future does not need a tokio runtime: fetches run on passmint's own.
    pub async fn token(&self) -> Result<Token> {
        self.inner.cache.get().await
    }

    /// [`Provider::token`] for synchronous code. Returns at once on a cache hit; otherwise
    /// blocks this thread (never longer than the deadline). Safe to call from any thread,
    /// including inside an async runtime, on passmint's own threads (in a callback of
    /// [`Provider::token_with`]) and in a `fork()`ed child.
    pub fn token_blocking(&self) -> Result<Token> {
        self.inner.cache.get_blocking()
    }

    /// The cached token when it is fresh, without waiting, fetching or locking; `None` when
    /// a call to [`Provider::token`] would have to fetch or refresh. For bindings that answer
    /// cache hits on the caller's thread (no hop to passmint's runtime).
    pub fn cached_token(&self) -> Option<Token> {
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

    /// The provider kind: `"dsql"`, `"rds"` or `"azure"`.
    pub fn kind(&self) -> &'static str {
        self.inner.kind
    }

    /// The database role tokens are for, when configured or known.
    pub fn username(&self) -> Option<&str> {
        self.inner.username.as_deref()
    }

    /// Where to get the CA bundle a driver needs to verify this provider's database servers,
    /// when the system's roots do not do (RDS and Aurora: Amazon's RDS CAs); `None` when the
    /// servers' certificates chain to public roots (Azure Flexible Server, Aurora DSQL).
    pub fn server_ca_bundle(&self) -> Option<&'static str> {
        (self.inner.kind == "rds").then_some(rds::CA_BUNDLE_URL)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Provider")
            .field(&self.inner.description)
            .finish()
    }
}

/// A canned program's answer for `passmint::fuzzing`: its stdout, or
/// `stdout\n--stderr--\nstderr` for a program that fails. Returns the stderr part if any.
pub(crate) fn split_canned_output(answer: &[u8]) -> (&[u8], Option<&[u8]>) {
    const SPLIT: &[u8] = b"\n--stderr--\n";
    match answer.windows(SPLIT.len()).position(|w| w == SPLIT) {
        Some(at) => (&answer[..at], Some(&answer[at + SPLIT.len()..])),
        None => (answer, None),
    }
}

pub(crate) enum AwsTarget {
    Dsql(DsqlConfig),
    Rds(RdsConfig),
}

impl AwsTarget {
    fn sign(&self, creds: &Credentials, now_ms: i64) -> Result<String> {
        let time = UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
        match self {
            AwsTarget::Dsql(c) => dsql::sign(c, creds, time),
            AwsTarget::Rds(c) => rds::sign(c, creds, time),
        }
    }

    /// Signs locally; a token never outlives the credentials that signed it.
    fn mint(&self, creds: &Credentials, now_ms: i64) -> Result<Lease<Token>> {
        let secret = self.sign(creds, now_ms)?;
        let (expires_in, user, kind) = match self {
            AwsTarget::Dsql(c) => (c.expires_in, &c.user, "dsql"),
            AwsTarget::Rds(c) => (url::RDS_EXPIRES_IN, &c.user, "rds"),
        };
        // SigV4 counts from the whole second it signed in.
        let signed_ms = now_ms - now_ms.rem_euclid(1000);
        let mut expires_ms = signed_ms + expires_in as i64 * 1000;
        if let Some(cred_expiry) = creds.expiry() {
            let cred_ms = cred_expiry
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            expires_ms = expires_ms.min(cred_ms);
        }
        Ok(Lease {
            value: Token::new(
                secret,
                expires_ms.div_euclid(1000),
                Some(user.clone()),
                kind,
            ),
            expires_at_ms: Some(expires_ms),
            short_lived: expires_in < 60,
        })
    }
}

/// Signing with credentials you already hold, at a time you choose: no network, no cache.
/// For tests, comparisons with other SDKs and benchmarks.
pub mod offline {
    use super::*;
    use std::time::SystemTime;

    /// AWS credentials held by the caller. `Debug` hides the secret key and session token.
    #[derive(Clone)]
    pub struct StaticCredentials {
        pub access_key_id: String,
        pub secret_access_key: String,
        pub session_token: Option<String>,
    }

    impl fmt::Debug for StaticCredentials {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("StaticCredentials")
                .field("access_key_id", &self.access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field(
                    "session_token",
                    &self.session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish()
        }
    }

    /// A DSQL or RDS provider URL bound to fixed credentials.
    pub struct Signer {
        target: AwsTarget,
        creds: Credentials,
    }

    impl Signer {
        pub fn new(provider_url: &str, creds: &StaticCredentials) -> Result<Signer> {
            let target = match url::parse_provider_url(provider_url)? {
                ProviderConfig::Dsql(c) => AwsTarget::Dsql(c),
                ProviderConfig::Rds(c) => AwsTarget::Rds(c),
                ProviderConfig::Azure(_) => {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        "offline signing is for dsql:// and rds:// (SigV4) only",
                    ));
                }
            };
            let creds = Credentials::new(
                &creds.access_key_id,
                &creds.secret_access_key,
                creds.session_token.clone(),
                None,
                "passmint-static",
            );
            Ok(Signer { target, creds })
        }

        /// The token as it would be minted at `time`.
        pub fn sign_at(&self, time: SystemTime) -> Result<String> {
            let ms = time
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .map_err(|_| Error::new(ErrorKind::InvalidArgument, "time is before 1970"))?;
            self.target.sign(&self.creds, ms)
        }

        /// A provider with these fixed credentials: caches tokens like any other provider.
        pub fn into_provider(self) -> Provider {
            Provider::aws(
                self.target,
                CredentialSource::Static(self.creds),
                cache::system_clock(),
                cache::DEFAULT_DEADLINE,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::parse_provider_url;
    use std::time::SystemTime;

    fn dsql(url: &str) -> AwsTarget {
        match parse_provider_url(url).unwrap() {
            ProviderConfig::Dsql(c) => AwsTarget::Dsql(c),
            _ => unreachable!(),
        }
    }

    /// A DSQL provider over fixed credentials, as `from_url` would build it.
    fn static_dsql(url: &str, creds: Credentials) -> Provider {
        Provider::aws(
            dsql(url),
            CredentialSource::Static(creds),
            cache::system_clock(),
            cache::DEFAULT_DEADLINE,
        )
    }

    #[tokio::test]
    async fn token_never_outlives_its_signing_credentials() {
        let now = SystemTime::now();
        let cred_expiry = now + Duration::from_secs(120);
        let creds = Credentials::new("AKID", "secret", Some("tok".into()), Some(cred_expiry), "t");
        let p = static_dsql("dsql://abc.dsql.us-east-1.on.aws?expires_in=900", creds);
        let token = p.token().await.unwrap();
        let cred_secs = cred_expiry.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        assert_eq!(token.expires_at(), cred_secs);
        assert!(token.secret().contains("X-Amz-Expires=900"));
        assert!(token.secret().contains("X-Amz-Security-Token=tok"));

        // Long-lived credentials: the token's own expiry governs.
        let creds = Credentials::new(
            "AKID",
            "secret",
            None,
            Some(now + Duration::from_secs(7200)),
            "t",
        );
        let p = static_dsql("dsql://abc.dsql.us-east-1.on.aws?expires_in=900", creds);
        let token = p.token().await.unwrap();
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now_secs + 899..=now_secs + 901).contains(&token.expires_at()));
        assert_eq!(token.username(), Some("admin"));
    }

    #[test]
    fn cached_hit_returns_the_same_token_without_signing_again() {
        let creds = Credentials::new("AKID", "secret", None, None, "t");
        let p = static_dsql("dsql://abc.dsql.us-east-1.on.aws", creds);
        let a = p.token_blocking().unwrap();
        let b = p.token_blocking().unwrap();
        assert!(std::ptr::eq(a.secret(), b.secret()), "same Arc, no re-sign");
    }
}
