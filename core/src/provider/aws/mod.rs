//! AWS: Aurora DSQL (`dsql://`, [`dsql`]) and RDS/Aurora (`rds://`, [`rds`]) IAM tokens.
//!
//! A token is a SigV4-presigned URL, signed locally ([`sigv4`]) with credentials from the
//! aws-config default chain ([`credentials`]), which are cached and refreshed ahead of their
//! own expiry (docs/DESIGN.md §2, cache rule 7): the only network the AWS sources use.

mod caller;
mod credentials;
mod dsql;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod offline;
mod process;
mod profile;
mod rds;
mod region;
pub(crate) mod sigv4;
mod transport;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;

pub use self::caller::AwsCredentials;
pub(crate) use self::caller::{
    Fetch as CallerCredentials, blocking as blocking_credentials,
    completing as completing_credentials,
};
use self::credentials::CredentialSource;
pub(crate) use self::dsql::{DSQL, DsqlConfig};
pub(crate) use self::rds::{RDS, RdsConfig};
use super::registry::{Built, Ctx, Source};
use crate::cache::{BoxFuture, Cache, Clock, Lease};
use crate::error::{Error, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::shorten;

/// What a token is signed for.
pub(crate) enum Target {
    Dsql(DsqlConfig),
    Rds(RdsConfig),
}

impl Target {
    fn kind(&self) -> ProviderKind {
        match self {
            Target::Dsql(_) => ProviderKind::Dsql,
            Target::Rds(_) => ProviderKind::Rds,
        }
    }

    /// The database host, which is signed into the token.
    fn host(&self) -> &str {
        match self {
            Target::Dsql(c) => &c.host,
            Target::Rds(c) => &c.host,
        }
    }

    /// The database role, which is signed into the token.
    fn user(&self) -> &str {
        match self {
            Target::Dsql(c) => &c.user,
            Target::Rds(c) => &c.user,
        }
    }

    fn region(&self) -> &str {
        match self {
            Target::Dsql(c) => &c.region,
            Target::Rds(c) => &c.region,
        }
    }

    fn profile(&self) -> Option<&str> {
        match self {
            Target::Dsql(c) => c.profile.as_deref(),
            Target::Rds(c) => c.profile.as_deref(),
        }
    }

    fn expires_in(&self) -> u64 {
        match self {
            Target::Dsql(c) => c.expires_in,
            Target::Rds(_) => rds::EXPIRES_IN,
        }
    }

    /// `dsql://host (region r, user u)`: for logs and `Debug`.
    fn describe(&self) -> String {
        let place = match self {
            Target::Dsql(c) => c.host.clone(),
            Target::Rds(c) => format!("{}:{}", c.host, c.port),
        };
        format!(
            "{}://{place} (region {}, user {})",
            self.kind(),
            self.region(),
            self.user()
        )
    }

    fn sign(&self, creds: &Credentials, now_ms: i64) -> Result<String> {
        let time = UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
        match self {
            Target::Dsql(c) => dsql::sign(c, creds, time),
            Target::Rds(c) => rds::sign(c, creds, time),
        }
    }

    /// Signs locally; a token never outlives the credentials that signed it.
    fn mint(&self, creds: &Credentials, now_ms: i64) -> Result<Lease<Token>> {
        let secret = self.sign(creds, now_ms)?;
        let expires_in = self.expires_in();
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
                Some(self.user().to_string()),
                self.kind(),
            ),
            expires_at_ms: Some(expires_ms),
            short_lived: expires_in < 60,
            refresh_at_ms: None,
        })
    }
}

/// A DSQL or RDS source: its target and the cache of the credentials that sign for it.
struct AwsSource {
    target: Target,
    credentials: Cache<Credentials>,
}

impl Source for AwsSource {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            let creds = self.credentials.get().await?;
            self.target.mint(&creds, clock.now_ms())
        })
    }

    /// Which provider of the chain (or the caller) supplied the signing credentials.
    fn credential(&self) -> Option<String> {
        Some(describe_credentials(&self.credentials.health().value?))
    }
}

/// A provider for `target`, signing with credentials from `creds` (the default chain, unless
/// the caller holds credentials: [`offline`]).
fn built(target: Target, creds: CredentialSource, ctx: &Ctx) -> Built {
    Built {
        kind: target.kind(),
        description: target.describe(),
        username: Some(target.user().to_string()),
        host: Some(target.host().to_string()),
        source: Arc::new(AwsSource {
            credentials: credentials::cache(
                creds,
                ctx.clock.clone(),
                crate::cache::nested_deadline(ctx.deadline),
            ),
            target,
        }),
    }
}

/// `target` with the default credential chain of its region and profile, or with the
/// caller's credentials when the builder was given them.
fn from_chain(target: Target, ctx: &Ctx) -> Built {
    let creds = match &ctx.aws_credentials {
        Some(fetch) => CredentialSource::Caller(fetch.clone()),
        None => CredentialSource::DefaultChain {
            region: target.region().to_string(),
            profile: target.profile().map(str::to_owned),
        },
    };
    built(target, creds, ctx)
}

/// The default chain's credentials (or the caller's, when the builder was given them) for
/// another AWS service in `region`, cached as DSQL's and RDS's are: Secrets Manager's.
pub(crate) fn credentials_for(
    region: &str,
    profile: Option<&str>,
    ctx: &Ctx,
) -> Cache<Credentials> {
    let creds = match &ctx.aws_credentials {
        Some(fetch) => CredentialSource::Caller(fetch.clone()),
        None => CredentialSource::DefaultChain {
            region: region.to_string(),
            profile: profile.map(str::to_owned),
        },
    };
    credentials::cache(
        creds,
        ctx.clock.clone(),
        crate::cache::nested_deadline(ctx.deadline),
    )
}

/// `AWS credentials (<chain provider>)`, for `Provider::status()`.
pub(crate) fn describe_credentials(creds: &Credentials) -> String {
    match credentials::provider_name(creds) {
        Some(name) => format!("AWS credentials ({name})"),
        None => "AWS credentials".to_string(),
    }
}

/// The region for `what` (`awssm://<secret>`): `explicit` and `stated` (an ARN's) agree, else the
/// AWS settings, as DSQL's and RDS's are found.
pub(crate) fn resolve_region(
    scheme: &str,
    what: &str,
    explicit: Option<String>,
    stated: Option<String>,
    profile: Option<&str>,
) -> Result<String> {
    let explicit = explicit.map(|r| validate_region(&r)).transpose()?;
    region::resolve(scheme, what, explicit, stated, profile)
}

/// An AWS region code, such as `us-east-1`.
pub(crate) fn validate_region(region: &str) -> Result<String> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region.contains('-')
        && region.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(region.to_string())
    } else {
        Err(Error::config(format!(
            "`{}` is not an AWS region: use a region code such as us-east-1",
            shorten(region)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Query;
    use std::time::SystemTime;

    fn ctx() -> Ctx {
        Ctx {
            clock: crate::cache::system_clock(),
            deadline: crate::cache::DEFAULT_DEADLINE,
            aws_credentials: None,
        }
    }

    /// A DSQL provider over fixed credentials, as `from_url` would build it.
    fn static_dsql(authority: &str, query: &str, creds: Credentials) -> crate::Provider {
        let q = Query::parse(query, "dsql", DSQL.params).unwrap();
        let target = Target::Dsql(dsql::parse(authority, &q).unwrap());
        crate::Provider::from_built(
            built(target, CredentialSource::Static(creds), &ctx()),
            &ctx(),
        )
    }

    #[tokio::test]
    async fn token_never_outlives_its_signing_credentials() {
        let now = SystemTime::now();
        let cred_expiry = now + Duration::from_secs(120);
        let creds = Credentials::new("AKID", "secret", Some("tok".into()), Some(cred_expiry), "t");
        let p = static_dsql("abc.dsql.us-east-1.on.aws", "expires_in=900", creds);
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
        let p = static_dsql("abc.dsql.us-east-1.on.aws", "expires_in=900", creds);
        let token = p.token().await.unwrap();
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now_secs + 899..=now_secs + 901).contains(&token.expires_at()));
        assert_eq!(token.username(), Some("admin"));
    }

    #[test]
    fn status_says_what_is_cached_and_which_credentials_signed() {
        let expiry = SystemTime::now() + Duration::from_secs(7200);
        let creds = Credentials::new("AKID", "s3cr3t", None, Some(expiry), "Static");
        let p = static_dsql("abc.dsql.us-east-1.on.aws", "", creds);
        let before = p.status();
        assert!(!before.cached && before.expires_at.is_none() && before.credential.is_none());
        let token = p.token_blocking().unwrap();
        let after = p.status();
        assert!(after.cached);
        assert_eq!(after.expires_at, Some(token.expires_at()));
        assert!(after.next_refresh_at.unwrap() < token.expires_at());
        assert_eq!(after.consecutive_failures, 0);
        assert_eq!(
            after.credential.as_deref(),
            Some("AWS credentials (Static)")
        );
        let json = after.to_json();
        assert!(
            json.contains("\"cached\":true") && !json.contains("s3cr3t"),
            "{json}"
        );
    }

    #[test]
    fn cached_hit_returns_the_same_token_without_signing_again() {
        let creds = Credentials::new("AKID", "secret", None, None, "t");
        let p = static_dsql("abc.dsql.us-east-1.on.aws", "", creds);
        let a = p.token_blocking().unwrap();
        let b = p.token_blocking().unwrap();
        assert!(std::ptr::eq(a.secret(), b.secret()), "same Arc, no re-sign");
    }
}
