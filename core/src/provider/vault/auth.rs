//! passmint's Vault token: the one the Vault CLI would use (`VAULT_TOKEN`, else
//! `~/.vault-token`, read at every fetch so an agent may replace it), or one from a login
//! (Kubernetes: the service account's JWT; AppRole: a role id and a secret id from a file),
//! cached until shortly before its own lease ends, like AWS credentials.

use std::sync::Arc;

use serde_json::json;
use zeroize::Zeroizing;

use super::client::{self, Client};
use super::config::Auth;
use crate::cache::{BoxFuture, Cache, Clock, Fetch, Lease};
use crate::error::{Error, ErrorKind, Result};

/// A Vault token and when it ends (unix seconds; `None`: not known, a token from the
/// environment).
#[derive(Clone)]
pub(super) struct VaultToken {
    pub token: Arc<Zeroizing<String>>,
    pub expires_at: Option<i64>,
}

/// Where tokens come from: the environment each time, or a cached login.
pub(super) enum Tokens {
    Env,
    Login(Cache<VaultToken>),
}

impl Tokens {
    pub fn new(
        auth: &Auth,
        client: Arc<Client>,
        clock: Clock,
        deadline: std::time::Duration,
    ) -> Tokens {
        match auth {
            Auth::Token => Tokens::Env,
            login => {
                let (auth, clock2) = (Arc::new(login.clone()), clock.clone());
                let fetch: Fetch<VaultToken> = Arc::new(move || {
                    let (auth, client, clock) = (auth.clone(), client.clone(), clock2.clone());
                    Box::pin(async move { self::login(&auth, &client, &clock).await })
                        as BoxFuture<_>
                });
                Tokens::Login(Cache::new("Vault token", fetch, clock, deadline))
            }
        }
    }

    pub async fn get(&self) -> Result<VaultToken> {
        match self {
            Tokens::Env => from_env(),
            Tokens::Login(cache) => cache.get().await,
        }
    }

    /// A token Vault refused (expired, revoked): the next fetch logs in again.
    pub fn refused(&self) {
        if let Tokens::Login(cache) = self {
            cache.invalidate();
        }
    }
}

fn from_env() -> Result<VaultToken> {
    if let Some(token) = crate::provider::env("VAULT_TOKEN") {
        return Ok(VaultToken {
            token: Arc::new(Zeroizing::new(token.trim().to_string())),
            expires_at: None,
        });
    }
    let home = crate::provider::env("HOME").unwrap_or_default();
    let path = std::path::Path::new(&home).join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(VaultToken {
            token: Arc::new(Zeroizing::new(text.trim().to_string())),
            expires_at: None,
        }),
        _ => Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!(
                "no Vault token: set VAULT_TOKEN, run `vault login` (it writes {}), or log in with ?auth=kubernetes&role=… or ?auth=approle",
                path.display()
            ),
        )),
    }
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Zeroizing<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::CredentialUnavailable,
            format!(
                "vault://: the {what} at `{}` cannot be read ({e})",
                path.display()
            ),
        )
    })?;
    let text = Zeroizing::new(text.trim().to_string());
    if text.is_empty() {
        return Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!("vault://: the {what} at `{}` is empty", path.display()),
        ));
    }
    Ok(text)
}

async fn login(auth: &Auth, client: &Client, clock: &Clock) -> Result<Lease<VaultToken>> {
    let (mount, body, method) = match auth {
        Auth::Token => unreachable!("a token from the environment is not a login"),
        Auth::Kubernetes {
            mount,
            role,
            jwt_file,
        } => {
            let jwt = read_file(jwt_file, "service account token")?;
            (
                mount,
                json!({"role": role, "jwt": jwt.as_str()}),
                "kubernetes",
            )
        }
        Auth::AppRole {
            mount,
            role_id,
            secret_id_file,
        } => {
            let secret_id = read_file(secret_id_file, "AppRole secret id")?;
            (
                mount,
                json!({"role_id": role_id, "secret_id": secret_id.as_str()}),
                "approle",
            )
        }
    };
    let answer = client
        .send(
            hyper::Method::POST,
            &format!("auth/{mount}/login"),
            None,
            Some(body),
            &format!("logging in with {method} at auth/{mount}"),
        )
        .await?;
    let token = client::string(&answer, &["auth", "client_token"]).ok_or_else(|| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("Vault's {method} login answered without auth.client_token"),
        )
    })?;
    let now_ms = clock.now_ms();
    let expires_at = client::seconds(&answer, &["auth", "lease_duration"])
        .filter(|s| *s > 0)
        .map(|s| now_ms.div_euclid(1000).saturating_add(s));
    Ok(Lease {
        value: VaultToken {
            token: Arc::new(Zeroizing::new(token.to_string())),
            expires_at,
        },
        expires_at_ms: expires_at.map(|s| s.saturating_mul(1000)),
        short_lived: false,
        refresh_at_ms: None,
    })
}
