//! AWS credentials from the aws-config default chain, cached and refreshed ahead of expiry
//! (docs/DESIGN.md §2 rule 7). Signing is local, so this is the only network the AWS providers use.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

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
use crate::fork::ProcessLocal;

/// Where credentials come from; tests and the signing API use `Static`.
#[derive(Clone)]
pub(crate) enum CredentialSource {
    DefaultChain {
        region: String,
        profile: Option<String>,
    },
    Static(Credentials),
    /// The caller's function (`caller.rs`).
    Caller(super::caller::Fetch),
}

pub(crate) fn cache(
    source: CredentialSource,
    clock: Clock,
    deadline: std::time::Duration,
) -> Cache<Credentials> {
    let fetch: Fetch<Credentials> = match source {
        CredentialSource::Static(creds) => Arc::new(move || {
            let creds = creds.clone();
            Box::pin(async move { Ok(lease(creds)) }) as BoxFuture<_>
        }),
        CredentialSource::Caller(fetch) => Arc::new(move || {
            let fetch = fetch.clone();
            Box::pin(async move { Ok(lease(fetch().await?)) }) as BoxFuture<_>
        }),
        CredentialSource::DefaultChain { region, profile } => {
            let chain = Arc::new(PerProcessChain {
                region,
                profile,
                built: ProcessLocal::new(),
            });
            Arc::new(move || {
                let chain = chain.clone();
                Box::pin(async move { chain.fetch().await }) as BoxFuture<_>
            })
        }
    };
    Cache::new("AWS credentials", fetch, clock, deadline)
}

pub(super) fn lease(creds: Credentials) -> Lease<Credentials> {
    let expires_at_ms = creds.expiry().map(|t| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    Lease {
        value: creds,
        expires_at_ms,
        short_lived: false,
        refresh_at_ms: None,
    }
}

/// The name of the chain's provider that supplied `creds` (`EnvironmentVariable`,
/// `ProfileFile`, `WebIdentityToken`, `EcsContainer`, `IMDSv2`, …). aws-credential-types
/// keeps it private except in `Debug`, which redacts the secret and is read here for the name
/// alone.
pub(super) fn provider_name(creds: &Credentials) -> Option<String> {
    let shown = format!("{creds:?}");
    let start = shown.find("provider_name: \"")? + "provider_name: \"".len();
    let len = shown[start..].find('"')?;
    Some(shown[start..start + len].to_string())
}

/// The chain holds an HTTP client whose connections belong to one process's runtime, so a
/// forked child builds its own (and never drops or locks the parent's).
struct PerProcessChain {
    region: String,
    profile: Option<String>,
    built: ProcessLocal<DefaultCredentialsChain>,
}

impl PerProcessChain {
    async fn fetch(&self) -> Result<Lease<Credentials>> {
        if let Some(command) = super::process::command(self.profile.as_deref()) {
            return Ok(lease(super::process::run(&command).await?));
        }
        let chain = match self.built.get() {
            Some(chain) => chain,
            None => {
                let region = RegionProviderChain::first_try(Region::new(self.region.clone()));
                let mut builder = DefaultCredentialsChain::builder().region(region);
                let client = super::transport::client()?;
                builder = builder.configure(ProviderConfig::default().with_http_client(client));
                if let Some(p) = &self.profile {
                    builder = builder.profile_name(p);
                }
                self.built.publish(builder.build().await)
            }
        };
        let creds = chain
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(&e, self.profile.as_deref()))?;
        Ok(lease(creds))
    }
}

pub(super) fn credentials_error(e: &CredentialsError, profile: Option<&str>) -> Error {
    let detail = crate::error::error_chain(e);
    let kind = match e {
        CredentialsError::CredentialsNotLoaded(_) => ErrorKind::CredentialUnavailable,
        CredentialsError::ProviderTimedOut(_) => ErrorKind::Timeout,
        CredentialsError::InvalidConfiguration(_) => ErrorKind::InvalidConfig,
        _ => transport_kind(e).unwrap_or_else(|| match e {
            // The SDK's word for "the answer could not be used": bad JSON, missing or bad fields.
            CredentialsError::Unhandled(_) => ErrorKind::ProviderResponse,
            _ => answer_kind(&detail),
        }),
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
    // A credential_process's stderr and the endpoints' bodies are quoted in the chain.
    let known = known_secrets();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let shown = crate::redact::scrub(&detail, &known, 600);
    Error::new(
        kind,
        format!("could not get AWS credentials: {shown}.{hint}"),
    )
}

/// The AWS secrets this process holds, which an error must never quote, whatever the chain
/// echoed: static keys and the tokens the container and web-identity providers send.
pub(super) fn known_secrets() -> Vec<String> {
    let vars = [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ];
    let files = [
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ];
    let from_files = files.iter().filter_map(|v| {
        let path = std::env::var_os(v)?;
        std::fs::read_to_string(path).ok()
    });
    vars.iter()
        .filter_map(|v| std::env::var(v).ok())
        .chain(from_files)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
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

/// What an endpoint's answer means, from the SDK's error chain. The credential providers wrap
/// their HTTP and service errors in types private to aws-config, so the status or service code
/// is read from the chain's text. "No" (401, 403, 400, access denied, a bad web identity token)
/// is AUTHENTICATION_FAILED, the fix being the identity's; an unusable or unexpected answer
/// (429, 5xx, 404, unparsable XML) is PROVIDER_RESPONSE, the fix being to retry or to check the
/// endpoint; a read timeout is TIMEOUT.
fn answer_kind(chain: &str) -> ErrorKind {
    if chain.contains("timed out") || chain.contains("timeout occurred") {
        return ErrorKind::Timeout;
    }
    if let Some(status) = http_status(chain) {
        return match status {
            400 | 401 | 403 => ErrorKind::AuthenticationFailed,
            _ => ErrorKind::ProviderResponse,
        };
    }
    // A credential_process that is not there: the shell's "not found".
    if chain.contains("external process exited with code exit status: 127") {
        return ErrorKind::CredentialUnavailable;
    }
    const UNUSABLE: [&str; 7] = [
        "(InternalFailure)",
        "(ServiceUnavailable)",
        "(Throttling)",
        "(RequestLimitExceeded)",
        "error parsing XML",
        // A credential_process's output that is not credentials.
        "could not parse response",
        "could not decode output",
    ];
    if UNUSABLE.iter().any(|marker| chain.contains(marker)) {
        return ErrorKind::ProviderResponse;
    }
    ErrorKind::AuthenticationFailed
}

/// The HTTP status in an SDK error chain: `StatusCode(503)` (container, SSO) or `(code: 503)` (IMDS).
fn http_status(chain: &str) -> Option<u16> {
    ["StatusCode(", "(code: "].iter().find_map(|marker| {
        let start = chain.find(marker)? + marker.len();
        let digits: String = chain[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_name_is_read_without_the_secret() {
        let creds = Credentials::new("AKID", "s3cr3t", Some("tok".into()), None, "ProfileFile");
        assert_eq!(provider_name(&creds).as_deref(), Some("ProfileFile"));
    }

    #[test]
    fn answers_are_classified_by_status_and_service_code() {
        let cases = [
            (
                "Non-success status from HTTP credential provider: StatusCode(401).",
                ErrorKind::AuthenticationFailed,
            ),
            (
                "Non-success status from HTTP credential provider: StatusCode(503).",
                ErrorKind::ProviderResponse,
            ),
            (
                "error response from IMDS (code: 429). Response { status: StatusCode(429) }",
                ErrorKind::ProviderResponse,
            ),
            (
                "error response from IMDS (code: 403).",
                ErrorKind::AuthenticationFailed,
            ),
            (
                "error response from IMDS (code: 404).",
                ErrorKind::ProviderResponse,
            ),
            (
                "service error: unhandled error (InternalFailure): Error",
                ErrorKind::ProviderResponse,
            ),
            (
                "service error: error parsing XML: no root element.",
                ErrorKind::ProviderResponse,
            ),
            (
                "service error: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
                ErrorKind::AuthenticationFailed,
            ),
            (
                "communicating with IMDS: HTTP read timeout occurred after 1s: timed out.",
                ErrorKind::Timeout,
            ),
        ];
        for (chain, kind) in cases {
            assert_eq!(answer_kind(chain), kind, "{chain}");
        }
        assert_eq!(http_status("StatusCode(abc)"), None);
        let process = "Error retrieving credentials from external process, could not parse response: Expected a JSON object";
        assert_eq!(answer_kind(process), ErrorKind::ProviderResponse);
        let missing = "Error retrieving credentials: external process exited with code exit status: 127. Stderr: sh: 1: /x: not found";
        assert_eq!(answer_kind(missing), ErrorKind::CredentialUnavailable);
    }
}
