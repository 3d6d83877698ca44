//! Entra ID tokens for Azure Database for PostgreSQL (`azure://`; docs/DESIGN.md §4).
//!
//! azure_identity supplies the credentials; passmint supplies what it lacks: the chain
//! (the crate has no DefaultAzureCredential), an IMDS probe and redirect, one deadline per
//! fetch, caching of CLI tokens, usernames from claims, and errors that say what to do.

mod certificate;
mod claims;
mod cli_output;
mod config;
mod credentials;
mod errors;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod managed;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use azure_core::credentials::AccessToken;

pub(crate) use self::config::{AzureConfig, AzureCredential};
use self::credentials::{Settings, name};
use self::errors::Failure;
use super::registry::{Built, Ctx, Scheme, Source};
use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

pub(crate) const AZURE: Scheme = Scheme {
    kind: ProviderKind::Azure,
    authority: &[],
    path: false,
    role_hint: "the role Azure Database for PostgreSQL made for this identity (the name given to pgaadauth_create_principal; `select rolname from pg_roles` on the server lists them)",
    rotates: false,
    params: config::PARAMS,
    example: "azure://",
    server_ca_bundle: None,
    build,
    for_postgres,
    stated_expiry: claims::expiry,
};

/// The role an Entra token is for, from its claims (docs/DESIGN.md §4), for tokens from a
/// credential the caller holds.
pub(crate) fn claims_username(token: &str) -> Option<String> {
    claims::username(token)
}

/// The OSS RDBMS scope of `cloud` (`public`, `usgov`, `china`), for a credential the caller
/// holds: the scope `azure://?cloud=` would ask for.
pub fn scope_for_cloud(cloud: &str) -> Result<&'static str> {
    config::cloud_by_name(cloud).map(|c| c.default_scope())
}

fn build(authority: &str, query: &Query, _ctx: &Ctx) -> Result<Built> {
    built(config::parse(authority, query)?)
}

fn for_postgres(pg: &PgTarget, _ctx: &Ctx) -> Option<Result<Built>> {
    config::for_postgres(pg).map(|config| built(config?))
}

fn built(config: AzureConfig) -> Result<Built> {
    let username = config.user.clone();
    let credentials = Arc::new(Credentials::new(config)?);
    Ok(Built {
        kind: ProviderKind::Azure,
        description: credentials.describe(),
        username,
        host: None,
        source: credentials,
    })
}

const NONE_CHOSEN: usize = usize::MAX;
const CHAIN_FIX: &str = "To fix: run `az login` (developer machine); or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (service principal); or run on Azure with a managed identity (user-assigned: azure://?client_id=<id>); or pick one with azure://?credential=environment|workload|managed|cli|azd";

/// The credentials of one provider: a fixed kind, or the `auto` chain with its memory.
pub(crate) struct Credentials {
    settings: Settings,
    /// The chain's pick once a credential has worked (index into the config's `chain`).
    chosen: AtomicUsize,
}

impl Credentials {
    pub fn new(config: AzureConfig) -> Result<Credentials> {
        Ok(Credentials {
            settings: Settings {
                config,
                transport: Arc::new(http::Transport::new()?),
                imds_seen: AtomicBool::new(false),
            },
            chosen: AtomicUsize::new(NONE_CHOSEN),
        })
    }

    pub fn describe(&self) -> String {
        let c = &self.settings.config;
        format!("azure:// ({}, scope {})", name(c.credential), c.scope)
    }

    async fn access_token(&self, clock: &Clock) -> Result<AccessToken> {
        let requested = self.settings.config.credential;
        if requested != AzureCredential::Auto {
            return self.one(requested, "", clock).await;
        }
        let chosen = self.chosen.load(Ordering::Acquire);
        let chain = self.settings.config.chain;
        if let Some(kind) = chain.get(chosen) {
            // Like DefaultAzureCredential: once a credential worked, it is the credential.
            return self
                .one(*kind, " (chosen earlier by the credential chain)", clock)
                .await;
        }
        let mut tried = Vec::new();
        for (i, kind) in chain.iter().enumerate() {
            match self.settings.attempt(*kind, clock).await {
                Ok(token) => {
                    self.chosen.store(i, Ordering::Release);
                    tracing::debug!(credential = name(*kind), "azure credential chain picked");
                    return Ok(token);
                }
                Err(Failure::Unavailable(why)) => tried.push(format!("{}: {why}", name(*kind))),
                Err(Failure::Failed(e)) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!(
                "no Azure credential is available here. Tried, in order: {}{}. {CHAIN_FIX}",
                tried.join("; "),
                if chain.len() < config::CHAIN.len() {
                    " (only these: AZURE_TOKEN_CREDENTIALS narrows the chain)"
                } else {
                    ""
                }
            ),
        ))
    }

    async fn one(&self, kind: AzureCredential, note: &str, clock: &Clock) -> Result<AccessToken> {
        self.settings
            .attempt(kind, clock)
            .await
            .map_err(|f| failure_error(kind, note, f))
    }
}

/// A step's failure as the error users get when that credential was asked for by name.
fn failure_error(kind: AzureCredential, note: &str, failure: Failure) -> Error {
    match failure {
        Failure::Failed(e) => e,
        Failure::Unavailable(why) => Error::new(
            ErrorKind::CredentialUnavailable,
            format!(
                "{}{note} is not available: {why}. {}",
                name(kind),
                fix(kind)
            ),
        ),
    }
}

fn fix(kind: AzureCredential) -> &'static str {
    match kind {
        AzureCredential::Environment => {
            "Set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) for a service principal"
        }
        AzureCredential::Workload => {
            "Enable AKS workload identity for the pod (it sets AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID)"
        }
        AzureCredential::Managed => {
            "Run on Azure with a managed identity assigned (user-assigned: add client_id=<id>)"
        }
        AzureCredential::Cli => "Install the Azure CLI and run `az login`",
        AzureCredential::Azd => "Install azd and run `azd auth login`",
        AzureCredential::Auto => CHAIN_FIX,
    }
}

impl Source for Credentials {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            let token = self.access_token(&clock).await?;
            lease(token, self.settings.config.user.clone(), clock.now_ms())
        })
    }

    /// The named credential, or the chain's pick once it has made one; managed identity with
    /// its host.
    fn credential(&self) -> Option<String> {
        let config = &self.settings.config;
        let kind = match config.credential {
            AzureCredential::Auto => *config.chain.get(self.chosen.load(Ordering::Acquire))?,
            named => named,
        };
        Some(match kind {
            AzureCredential::Managed => managed::describe(),
            other => name(other).to_string(),
        })
    }
}

fn lease(token: AccessToken, user: Option<String>, now_ms: i64) -> Result<Lease<Token>> {
    let secret = token.token.secret();
    if secret.trim().is_empty() {
        return Err(Error::new(
            ErrorKind::ProviderResponse,
            "the identity endpoint answered without an access_token",
        ));
    }
    let expires = token.expires_on.unix_timestamp();
    let left = expires - now_ms.div_euclid(1000);
    if left < 30 {
        return Err(Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "the identity endpoint returned a token that {} (expires_on {expires}): check this machine's clock (`date -u`) and the endpoint",
                if left <= 0 {
                    format!("expired {} s ago", -left)
                } else {
                    format!("expires in {left} s")
                }
            ),
        ));
    }
    // An explicit user always wins and the claims are not even read (docs/DESIGN.md §4).
    let username = user.or_else(|| claims::username(secret));
    Ok(Lease {
        value: Token::new(secret.to_string(), expires, username, ProviderKind::Azure),
        expires_at_ms: Some(expires.saturating_mul(1000)),
        short_lived: false,
        refresh_at_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::time::{Duration, OffsetDateTime};

    fn access(secret: &str, in_secs: i64) -> AccessToken {
        AccessToken::new(
            secret.to_string(),
            OffsetDateTime::now_utc() + Duration::seconds(in_secs),
        )
    }

    fn now_ms() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp() * 1000
    }

    #[test]
    fn explicit_user_wins_over_claims() {
        // base64url of {"upn":"u@x"}
        let jwt = "e30.eyJ1cG4iOiJ1QHgifQ.c2ln";
        let l = lease(access(jwt, 3600), Some("role".into()), now_ms()).unwrap();
        assert_eq!(l.value.username(), Some("role"));
        let l = lease(access(jwt, 3600), None, now_ms()).unwrap();
        assert_eq!(l.value.username(), Some("u@x"));
        assert_eq!(l.value.provider(), "azure");
    }

    #[test]
    fn empty_or_expiring_tokens_are_provider_errors() {
        let e = lease(access("", 3600), None, now_ms()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ProviderResponse);
        let e = lease(access("tok", -600), None, now_ms()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ProviderResponse);
        assert!(
            e.message().contains("expired 600 s ago") || e.message().contains("expired 59"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("tok "));
        assert!(lease(access("tok", 10), None, now_ms()).is_err());
    }
}
