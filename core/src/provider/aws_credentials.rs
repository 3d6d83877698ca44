//! AWS credentials from the aws-config default chain, cached and refreshed ahead of expiry
//! (DESIGN §2 rule 6). Signing is local, so this is the only network the AWS providers use.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwapOption;
use aws_config::Region;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::ConnectorError;

use crate::cache::{BoxFuture, Cache, Clock, Fetch, Lease};
use crate::error::{Error, ErrorKind, Result};

/// Where credentials come from; tests and the signing API use `Static`.
#[derive(Clone)]
pub(crate) enum CredentialSource {
    DefaultChain {
        region: String,
        profile: Option<String>,
    },
    Static(Credentials),
}

pub(crate) fn credentials_cache(
    source: CredentialSource,
    clock: Clock,
    deadline: std::time::Duration,
) -> Cache<Credentials> {
    let fetch: Fetch<Credentials> = match source {
        CredentialSource::Static(creds) => Arc::new(move || {
            let creds = creds.clone();
            Box::pin(async move { Ok(lease(creds)) }) as BoxFuture<_>
        }),
        CredentialSource::DefaultChain { region, profile } => {
            let chain = Arc::new(PerProcessChain {
                region,
                profile,
                built: ArcSwapOption::empty(),
            });
            Arc::new(move || {
                let chain = chain.clone();
                Box::pin(async move { chain.fetch().await }) as BoxFuture<_>
            })
        }
    };
    Cache::new("AWS credentials", fetch, clock, deadline)
}

fn lease(creds: Credentials) -> Lease<Credentials> {
    let expires_at_ms = creds.expiry().map(|t| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    Lease {
        value: creds,
        expires_at_ms,
    }
}

/// The chain holds an HTTP client whose connections belong to one process's runtime, so a
/// forked child builds its own.
struct PerProcessChain {
    region: String,
    profile: Option<String>,
    built: ArcSwapOption<(u32, DefaultCredentialsChain)>,
}

impl PerProcessChain {
    async fn fetch(&self) -> Result<Lease<Credentials>> {
        let pid = std::process::id();
        let chain = match &*self.built.load() {
            Some(b) if b.0 == pid => b.clone(),
            _ => {
                let region = RegionProviderChain::first_try(Region::new(self.region.clone()));
                let mut builder = DefaultCredentialsChain::builder().region(region);
                if let Some(client) = crate::tls::aws_http_client()? {
                    builder = builder.configure(ProviderConfig::default().with_http_client(client));
                }
                if let Some(p) = &self.profile {
                    builder = builder.profile_name(p);
                }
                let built = Arc::new((pid, builder.build().await));
                self.built.store(Some(built.clone()));
                built
            }
        };
        let creds = chain
            .1
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(&e, self.profile.as_deref()))?;
        Ok(lease(creds))
    }
}

fn credentials_error(e: &CredentialsError, profile: Option<&str>) -> Error {
    let detail = one_line(&crate::error::error_chain(e));
    let kind = match e {
        CredentialsError::CredentialsNotLoaded(_) => ErrorKind::CredentialUnavailable,
        CredentialsError::ProviderTimedOut(_) => ErrorKind::Timeout,
        CredentialsError::InvalidConfiguration(_) => ErrorKind::InvalidConfig,
        _ => transport_kind(e).unwrap_or(ErrorKind::AuthenticationFailed),
    };
    let hint = match kind {
        ErrorKind::CredentialUnavailable => match profile {
            Some(p) => format!(" Check that profile `{p}` exists in ~/.aws/config (or AWS_CONFIG_FILE) and that its login is current."),
            None => " Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, choose a profile (AWS_PROFILE or ?profile=), or run where a role is attached (ECS, EKS, EC2).".to_string(),
        },
        ErrorKind::Network | ErrorKind::Timeout => {
            " Check that the credential endpoint is reachable from here.".to_string()
        }
        _ => String::new(),
    };
    Error::new(
        kind,
        format!("could not get AWS credentials: {detail}.{hint}"),
    )
}

/// Connection failures deep in the chain's error sources are network problems, not a "no".
fn transport_kind(e: &CredentialsError) -> Option<ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(c) = err.downcast_ref::<ConnectorError>() {
            if c.is_timeout() {
                return Some(ErrorKind::Timeout);
            }
            if c.is_io() {
                return Some(ErrorKind::Network);
            }
        }
        if err.downcast_ref::<std::io::Error>().is_some() {
            return Some(ErrorKind::Network);
        }
        source = err.source();
    }
    None
}

/// Bounded, single-line: SDK error chains can be long and multi-line.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 600 {
        let mut out: String = flat.chars().take(600).collect();
        out.push('…');
        out
    } else {
        flat
    }
}
