//! Google OAuth 2.0 access tokens for Cloud SQL and AlloyDB IAM database users (`gcp://`;
//! docs/DESIGN.md §9).
//!
//! Application Default Credentials in google-auth's order, on passmint's own HTTP client:
//! Google's Rust crate (google-cloud-auth) brings its own reqwest client, reads no
//! `CLOUDSDK_CONFIG`, and signs service-account JWTs for APIs where passmint needs the
//! token endpoint's OAuth token (the only kind Cloud SQL takes as a password).

mod adc;
mod answer;
mod aws_subject;
mod config;
mod external;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod impersonate;
mod metadata;
mod service_account;
mod transport;
mod user;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use self::adc::{AdcFile, FileCredential};
use self::answer::AccessToken;
use self::config::{Endpoints, GcpConfig, GcpCredential, IAM_SCOPE};
use self::transport::Transport;
use super::registry::{Built, Ctx, Scheme, Source};
use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

pub(crate) const GCP: Scheme = Scheme {
    kind: ProviderKind::Gcp,
    authority: &[],
    path: false,
    role_hint: "the IAM database user (a user account's e-mail; a service account's e-mail without `.gserviceaccount.com`), as `gcloud sql users list` shows it",
    rotates: false,
    params: config::PARAMS,
    example: "gcp://?user=<iam-user>",
    server_ca_bundle: None,
    build,
    for_postgres,
    // Google's access tokens are opaque: they state no expiry, so none is shared.
    stated_expiry: |_| None,
};

/// Cloud SQL's and AlloyDB's hosts are IP addresses or the customer's DNS names: none is
/// Google's to claim (issue 19), so `gcp://` is always asked for by name.
fn for_postgres(_: &PgTarget, _: &Ctx) -> Option<Result<Built>> {
    None
}

fn build(authority: &str, query: &Query, _ctx: &Ctx) -> Result<Built> {
    let config = config::parse(authority, query)?;
    let endpoints = Endpoints::from_env()?;
    let credentials = Arc::new(Credentials {
        description: format!(
            "gcp:// ({}{}, scope {})",
            config.credential.name(),
            config
                .impersonate
                .as_ref()
                .map(|e| format!(" impersonating {e}"))
                .unwrap_or_default(),
            config.scopes.join(" ")
        ),
        config,
        endpoints,
        transport: Transport::new(),
        used: AtomicU8::new(Used::None as u8),
    });
    Ok(Built {
        kind: ProviderKind::Gcp,
        description: credentials.description.clone(),
        username: credentials.config.user.clone(),
        host: None,
        source: credentials,
    })
}

/// Which credential the last fetch used, for `status()` (an atomic: a forked child reads it
/// without a lock).
#[derive(Clone, Copy)]
#[repr(u8)]
enum Used {
    None,
    ServiceAccount,
    AuthorizedUser,
    ExternalAccount,
    Impersonated,
    Metadata,
}

impl Used {
    fn of(file: &FileCredential) -> Used {
        match file {
            FileCredential::ServiceAccount(_) => Used::ServiceAccount,
            FileCredential::AuthorizedUser(_) => Used::AuthorizedUser,
            FileCredential::ExternalAccount(_) => Used::ExternalAccount,
            FileCredential::Impersonated(_) => Used::Impersonated,
        }
    }

    fn name(code: u8) -> Option<&'static str> {
        Some(match code {
            1 => "service account key",
            2 => "authorized user",
            3 => "workload identity federation",
            4 => "impersonated service account",
            5 => "metadata server",
            _ => return None,
        })
    }
}

struct Credentials {
    config: GcpConfig,
    endpoints: Endpoints,
    transport: Transport,
    description: String,
    used: AtomicU8,
}

/// What google-auth asks impersonated tokens to live (`"3600s"`).
const DEFAULT_LIFETIME_SECS: u64 = 3600;

const CHAIN_FIX: &str = "To fix: run `gcloud auth application-default login` (developer machine); or set GOOGLE_APPLICATION_CREDENTIALS to a service account key or a workload identity federation file; or run on Google Cloud with a service account attached";

/// A token and, when the credential says, the e-mail of the identity it is for.
struct Minted {
    token: AccessToken,
    email: Option<String>,
    /// The file's `quota_project_id`: google-auth bills an impersonation to it.
    quota: Option<String>,
}

/// What a token is asked for: the database login, or the source of an impersonation (which
/// google-auth asks for with the IAM scope; a user's refresh token keeps its own scopes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Login,
    Impersonation,
}

impl Credentials {
    async fn mint(&self, now: i64) -> Result<Minted> {
        let purpose = if self.config.impersonate.is_some() {
            Purpose::Impersonation
        } else {
            Purpose::Login
        };
        let base = match self.config.credential {
            GcpCredential::Metadata => self.metadata(purpose, now).await?,
            GcpCredential::Auto => match adc::find()? {
                Some(file) => self.file_token(&file, purpose, now).await?,
                None => {
                    if std::env::var("NO_GCE_CHECK").is_ok_and(|v| v == "true") {
                        return Err(Error::new(
                            ErrorKind::CredentialUnavailable,
                            format!(
                                "no Google credential is available here: {} is not set, gcloud's ADC file does not exist, and NO_GCE_CHECK=true rules out the metadata server. {CHAIN_FIX}",
                                adc::PATH_VAR
                            ),
                        ));
                    }
                    if let Err(why) =
                        metadata::probe(&self.transport, &self.endpoints.metadata_ip).await
                    {
                        return Err(Error::new(
                            ErrorKind::CredentialUnavailable,
                            format!(
                                "no Google credential is available here: {} is not set, gcloud's ADC file does not exist, and {why}. {CHAIN_FIX}",
                                adc::PATH_VAR
                            ),
                        ));
                    }
                    self.metadata(purpose, now).await?
                }
            },
            named => {
                let file = adc::find()?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::CredentialUnavailable,
                        format!("{} is not available: neither {} nor gcloud's ADC file names a credential. {CHAIN_FIX}", named.name(), adc::PATH_VAR),
                    )
                })?;
                let wanted = match named {
                    GcpCredential::ServiceAccount => "service_account",
                    GcpCredential::AuthorizedUser => "authorized_user",
                    _ => "external_account",
                };
                if file.credential.type_name() != wanted {
                    return Err(Error::new(
                        ErrorKind::CredentialUnavailable,
                        format!(
                            "credential={wanted} was asked for, but {} holds a {} credential: point {} at the right file, or drop credential=",
                            file.origin,
                            file.credential.type_name(),
                            adc::PATH_VAR
                        ),
                    ));
                }
                self.file_token(&file, purpose, now).await?
            }
        };
        let Some(target) = &self.config.impersonate else {
            return Ok(base);
        };
        self.impersonated(
            impersonate::url(&self.endpoints.iam, target),
            &base.token.secret,
            Purpose::Login,
            &[],
            DEFAULT_LIFETIME_SECS,
            base.quota.as_deref(),
        )
        .await
    }

    /// A token of `purpose`'s scopes for the service account `url` impersonates, from
    /// `source`'s token; billed to `quota_project`, else the file's `file_quota`.
    async fn impersonated(
        &self,
        url: String,
        source: &str,
        purpose: Purpose,
        delegates: &[String],
        lifetime_secs: u64,
        file_quota: Option<&str>,
    ) -> Result<Minted> {
        let email = adc::target_of(&url);
        let token = impersonate::token(
            &self.transport,
            impersonate::Request {
                url,
                source_token: source,
                scopes: &self.scopes(purpose),
                delegates,
                lifetime_secs,
                quota_project: self.config.quota_project.as_deref().or(file_quota),
            },
        )
        .await?;
        Ok(Minted {
            token,
            email,
            quota: None,
        })
    }

    async fn metadata(&self, purpose: Purpose, now: i64) -> Result<Minted> {
        let scopes = self.scopes(purpose);
        let (token, email) =
            metadata::token(&self.transport, &self.endpoints.metadata_host, &scopes, now).await?;
        self.used.store(Used::Metadata as u8, Ordering::Release);
        Ok(Minted {
            token,
            email,
            quota: None,
        })
    }

    /// The scopes of a token for `purpose`.
    fn scopes(&self, purpose: Purpose) -> Vec<String> {
        match purpose {
            Purpose::Login => self.config.scopes.clone(),
            Purpose::Impersonation => vec![IAM_SCOPE.to_string()],
        }
    }

    async fn file_token(&self, file: &AdcFile, purpose: Purpose, now: i64) -> Result<Minted> {
        let minted = self
            .credential(&file.credential, &file.origin, purpose, now)
            .await?;
        self.used
            .store(Used::of(&file.credential) as u8, Ordering::Release);
        Ok(minted)
    }

    async fn credential(
        &self,
        credential: &FileCredential,
        origin: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Minted> {
        let t = &self.transport;
        match credential {
            FileCredential::ServiceAccount(key) => {
                let token = service_account::token(
                    t,
                    key,
                    origin,
                    &self.endpoints.token,
                    &self.scopes(purpose),
                    now,
                )
                .await?;
                Ok(Minted {
                    token,
                    email: Some(key.client_email.clone()),
                    quota: key.quota_project_id.clone(),
                })
            }
            FileCredential::AuthorizedUser(user) => {
                let scopes = self.scopes(Purpose::Login);
                let asked = (purpose == Purpose::Login).then_some(scopes.as_slice());
                let token = user::token(t, user, &self.endpoints.token, asked, now).await?;
                Ok(Minted {
                    token,
                    email: None,
                    quota: user.quota_project_id.clone(),
                })
            }
            FileCredential::ExternalAccount(account) => {
                let Some(url) = &account.impersonation_url else {
                    let token =
                        external::token(t, account, origin, &self.scopes(purpose), now).await?;
                    return Ok(Minted {
                        token,
                        email: None,
                        quota: account.quota_project_id.clone(),
                    });
                };
                let source = external::token(
                    t,
                    account,
                    origin,
                    &self.scopes(Purpose::Impersonation),
                    now,
                )
                .await?;
                self.impersonated(
                    url.clone(),
                    &source.secret,
                    purpose,
                    &[],
                    account.lifetime.unwrap_or(DEFAULT_LIFETIME_SECS),
                    account.quota_project_id.as_deref(),
                )
                .await
            }
            FileCredential::Impersonated(imp) => {
                let source =
                    Box::pin(self.credential(&imp.source, origin, Purpose::Impersonation, now))
                        .await?;
                self.impersonated(
                    impersonate::url(&self.endpoints.iam, &imp.target),
                    &source.token.secret,
                    purpose,
                    &imp.delegates,
                    DEFAULT_LIFETIME_SECS,
                    imp.quota_project_id.as_deref(),
                )
                .await
            }
        }
    }
}

impl Source for Credentials {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            let now = clock.now_ms().div_euclid(1000);
            let minted = self.mint(now).await?;
            lease(minted, self.config.user.clone(), now)
        })
    }

    fn credential(&self) -> Option<String> {
        Used::name(self.used.load(Ordering::Acquire)).map(str::to_string)
    }
}

fn lease(minted: Minted, user: Option<String>, now: i64) -> Result<Lease<Token>> {
    let expires = minted.token.expires_at;
    let left = expires - now;
    if left < 30 {
        return Err(Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "Google returned a token that expires in {left} s: check this machine's clock (`date -u`)"
            ),
        ));
    }
    // An explicit user wins; else the identity's e-mail as Cloud SQL names its database user.
    let username = user.or_else(|| minted.email.as_deref().map(config::database_user));
    Ok(Lease {
        value: Token::new(minted.token.secret, expires, username, ProviderKind::Gcp),
        expires_at_ms: Some(expires.saturating_mul(1000)),
        short_lived: false,
        refresh_at_ms: None,
    })
}
