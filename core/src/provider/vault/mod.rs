//! `vault://`: HashiCorp Vault and OpenBao. The database secrets engine's dynamic credentials
//! (a new role and password per lease), a static role's rotated password, or a KV v2 secret
//! with `username` and `password`.
//!
//! A lease is the credentials' expiry, and the cache's refresh rules apply to it: before it
//! ends, a renewable lease is renewed (`PUT sys/leases/renew`, as hvac sends it) and keeps its
//! role; a lease Vault will not renew for its whole term (capped by its max TTL), or one that
//! is not renewable, is replaced by new credentials, whose new username the next connection
//! uses. The old lease is left to end on its own, so pooled sessions of its role continue
//! until Vault drops it. A Vault that is down during a renewal leaves the credentials served
//! until 30 s before their lease ends. A lease never outlives the login token that took it:
//! Vault revokes a token's leases with it.

mod auth;
mod client;
mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use self::auth::{Tokens, VaultToken};
use self::client::Client;
use self::config::{Auth, Config, Secret};
use super::registry::{Built, Ctx, Scheme, Source};
use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

pub(crate) const VAULT: Scheme = Scheme {
    kind: ProviderKind::Vault,
    authority: &["host", "port"],
    path: true,
    role_hint: "the role Vault's credentials name (a KV secret needs a `username` field, or `user=`)",
    rotates: true,
    params: config::PARAMS,
    example: "vault://<host>:8200/<mount>/creds/<role>",
    server_ca_bundle: None,
    build,
    for_postgres: |_: &PgTarget, _: &Ctx| None,
    stated_expiry: |_| None,
};

/// The lease whose credentials are cached, to renew it rather than take a new one.
struct Held {
    lease_id: Zeroizing<String>,
    username: String,
    password: Zeroizing<String>,
    /// What Vault granted at first: a renewal that grants less has met the max TTL.
    duration_s: i64,
    renewable: bool,
}

struct VaultSource {
    config: Config,
    client: Arc<Client>,
    tokens: Tokens,
    /// Lock-free: a `fork()` at any instant leaves the child nothing to wait on.
    held: ArcSwapOption<Held>,
}

fn build(location: &str, query: &Query, ctx: &Ctx) -> Result<Built> {
    let config = config::parse(location, query)?;
    let client = Arc::new(Client::new(config.addr.clone(), config.namespace.clone()));
    let tokens = Tokens::new(
        &config.auth,
        client.clone(),
        ctx.clock.clone(),
        crate::cache::nested_deadline(ctx.deadline),
    );
    let description = format!(
        "vault {} {}{}",
        config.addr,
        config.secret.api_path(),
        config
            .namespace
            .as_ref()
            .map(|n| format!(" (namespace {n})"))
            .unwrap_or_default()
    );
    Ok(Built {
        kind: ProviderKind::Vault,
        description,
        username: config.user.clone(),
        host: None,
        source: Arc::new(VaultSource {
            config,
            client,
            tokens,
            held: ArcSwapOption::empty(),
        }),
    })
}

impl VaultSource {
    async fn fetch_lease(&self, clock: &Clock) -> Result<Lease<Token>> {
        match self.read(clock).await {
            // A login token Vault no longer honours (expired, revoked): log in again, once.
            Err(e) if e.kind() == ErrorKind::AuthenticationFailed && self.logs_in() => {
                self.tokens.refused();
                self.read(clock).await
            }
            other => other,
        }
    }

    fn logs_in(&self) -> bool {
        !matches!(self.config.auth, Auth::Token)
    }

    async fn read(&self, clock: &Clock) -> Result<Lease<Token>> {
        let token = self.tokens.get().await?;
        match &self.config.secret {
            Secret::Creds { .. } => self.creds(&token, clock).await,
            Secret::StaticCreds { .. } => self.static_creds(&token, clock).await,
            Secret::Kv { .. } => self.kv(&token, clock).await,
        }
    }

    async fn get(&self, token: &VaultToken) -> Result<Value> {
        let path = self.config.secret.api_path();
        self.client
            .send(
                hyper::Method::GET,
                &path,
                Some(token.token.as_str()),
                None,
                &format!("reading {path}"),
            )
            .await
    }

    async fn creds(&self, token: &VaultToken, clock: &Clock) -> Result<Lease<Token>> {
        if let Some(held) = self.held.load_full().filter(|h| h.renewable) {
            match self.renew(&held, token).await {
                Ok(Some(granted)) => return Ok(self.lease(&held, granted, token, clock)),
                // Vault unreachable: the cache keeps serving what it has, until 30 s before
                // the lease ends.
                Err(e) if e.kind() == ErrorKind::Network => return Err(e),
                // Capped by the max TTL, gone, or refused (a token that may read credentials
                // but not renew them): new credentials.
                _ => {}
            }
        }
        let answer = self.get(token).await?;
        let field = |name: &str| {
            client::string(&answer, &["data", name]).ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    format!("Vault's credentials answer has no data.{name}"),
                )
            })
        };
        let (username, password) = (field("username")?, field("password")?);
        let duration_s = client::seconds(&answer, &["lease_duration"])
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    "Vault's credentials answer has no positive lease_duration (seconds)",
                )
            })?;
        let held = Held {
            lease_id: Zeroizing::new(
                client::string(&answer, &["lease_id"])
                    .unwrap_or("")
                    .to_string(),
            ),
            username: username.to_string(),
            password: Zeroizing::new(password.to_string()),
            duration_s,
            renewable: answer.get("renewable").and_then(Value::as_bool) == Some(true)
                && client::string(&answer, &["lease_id"]).is_some(),
        };
        let lease = self.lease(&held, duration_s, token, clock);
        self.held.store(Some(Arc::new(held)));
        Ok(lease)
    }

    /// The renewal's grant in seconds, or `None` when Vault granted less than the lease's
    /// first term (its max TTL is near) or no longer knows the lease.
    async fn renew(&self, held: &Held, token: &VaultToken) -> Result<Option<i64>> {
        let answer = self
            .client
            .send(
                hyper::Method::PUT,
                "sys/leases/renew",
                Some(token.token.as_str()),
                Some(json!({"lease_id": held.lease_id.as_str(), "increment": null})),
                "renewing the credentials' lease",
            )
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) if e.kind() == ErrorKind::Network => return Err(e),
            // 400: unknown lease, past its max TTL, not renewable; 403: no renew policy.
            Err(_) => return Ok(None),
        };
        let granted = client::seconds(&answer, &["lease_duration"]).unwrap_or(0);
        Ok((granted >= held.duration_s).then_some(granted))
    }

    /// A token for `held`, good for `granted_s` from now, and never past the login token.
    fn lease(
        &self,
        held: &Held,
        granted_s: i64,
        token: &VaultToken,
        clock: &Clock,
    ) -> Lease<Token> {
        let now = clock.now_ms().div_euclid(1000);
        // Saturating: a lease_duration of 2^63 is an answer to survive, not to trust.
        let mut expires_at = now.saturating_add(granted_s);
        if let Some(token_end) = token.expires_at {
            expires_at = expires_at.min(token_end);
        }
        Lease {
            value: Token::new(
                held.password.to_string(),
                expires_at,
                Some(held.username.clone()),
                ProviderKind::Vault,
            ),
            expires_at_ms: Some(expires_at.saturating_mul(1000)),
            // A lease shorter than a minute (a test's, a cautious operator's) is served until
            // half its life, as a short DSQL token is.
            short_lived: expires_at - now < 60,
            refresh_at_ms: None,
        }
    }

    async fn static_creds(&self, token: &VaultToken, clock: &Clock) -> Result<Lease<Token>> {
        let answer = self.get(token).await?;
        let field = |name: &str| {
            client::string(&answer, &["data", name]).ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    format!("Vault's static credentials answer has no data.{name}"),
                )
            })
        };
        let held = Held {
            lease_id: Zeroizing::new(String::new()),
            username: field("username")?.to_string(),
            password: Zeroizing::new(field("password")?.to_string()),
            duration_s: 0,
            renewable: false,
        };
        // `ttl`: seconds until Vault rotates the password, when the old one stops working.
        let ttl = client::seconds(&answer, &["data", "ttl"])
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    "Vault's static credentials answer has no data.ttl",
                )
            })?;
        Ok(self.lease(&held, ttl, token, clock))
    }

    async fn kv(&self, token: &VaultToken, clock: &Clock) -> Result<Lease<Token>> {
        let answer = self.get(token).await?;
        if client::string(&answer, &["data", "metadata", "deletion_time"]).is_some() {
            return Err(Error::new(
                ErrorKind::CredentialUnavailable,
                format!(
                    "the KV secret {} is deleted in its latest version",
                    self.config.secret.api_path()
                ),
            ));
        }
        let data = answer
            .get("data")
            .and_then(|d| d.get("data"))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    "Vault's KV v2 answer has no data.data (is the mount KV version 1?)",
                )
            })?;
        let bytes = Zeroizing::new(data.to_string().into_bytes());
        let parsed = crate::provider::secret::json(&bytes, clock.now_ms().div_euclid(1000))
            .map_err(|why| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    format!(
                        "the KV secret {} holds no password: {why}",
                        self.config.secret.api_path()
                    ),
                )
            })?;
        Ok(crate::provider::secret::lease(
            parsed,
            self.config.user.as_deref(),
            ProviderKind::Vault,
            self.config.refresh_s,
            clock,
        ))
    }
}

impl Source for VaultSource {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move { self.fetch_lease(&clock).await })
    }

    fn credential(&self) -> Option<String> {
        Some(
            match &self.config.auth {
                Auth::Token => "Vault token (VAULT_TOKEN or ~/.vault-token)",
                Auth::Kubernetes { .. } => "Vault Kubernetes login",
                Auth::AppRole { .. } => "Vault AppRole login",
            }
            .to_string(),
        )
    }
}
