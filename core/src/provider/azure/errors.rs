//! azure_core errors → passmint's kinds, with messages safe to show.
//!
//! The SDK wraps every failure in a `Credential` error whose text may quote a response
//! body or a CLI's stderr. The kind is read from the innermost SDK error; the text is
//! scrubbed of anything token-shaped and of the secrets this process holds, then capped.

use azure_core::error::{Error as AzError, ErrorKind as AzKind};

use crate::error::{Error, ErrorKind};

const MAX_DETAIL: usize = 240;

/// What a credential step's failure means for the chain.
pub(super) enum Failure {
    /// No credential of this kind here: the chain moves on.
    Unavailable(String),
    /// The credential exists and failed: the chain stops.
    Failed(Error),
}

/// Maps an SDK error from `step` (a display name). `secrets` are values this process holds
/// (client secret, federated assertion) that must never be echoed.
pub(super) fn classify(step: &str, err: &AzError, secrets: &[&str]) -> Failure {
    let errors = chain(err);
    let detail = |e: &AzError| scrub(&e.to_string(), secrets);
    for e in &errors {
        if let AzKind::HttpResponse {
            status, error_code, ..
        } = e.kind()
        {
            return http_failure(step, u16::from(*status), error_code.as_deref(), &detail(e));
        }
    }
    if let Some(e) = errors
        .iter()
        .find(|e| matches!(e.kind(), AzKind::Connection | AzKind::Io))
    {
        return Failure::Failed(Error::new(
            ErrorKind::Network,
            format!("{step}: cannot reach the identity endpoint ({})", detail(e)),
        ));
    }
    if let Some(e) = errors
        .iter()
        .find(|e| matches!(e.kind(), AzKind::DataConversion))
    {
        return Failure::Failed(Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "{step}: the answer is not a usable token response ({})",
                detail(e)
            ),
        ));
    }
    // Left: Credential errors, which for the CLIs carry their stderr.
    let text = detail(errors.last().copied().unwrap_or(err));
    let lower = text.to_ascii_lowercase();
    if lower.contains("az login") {
        return Failure::Unavailable("not logged in: run `az login`".into());
    }
    if lower.contains("azd auth login") {
        return Failure::Unavailable("not logged in: run `azd auth login`".into());
    }
    if lower.contains("not found on path") || lower.contains("wasn't found on path") {
        return Failure::Unavailable(format!("not installed ({text})"));
    }
    Failure::Failed(Error::new(
        ErrorKind::AuthenticationFailed,
        format!("{step}: {text}"),
    ))
}

/// An identity endpoint's refusal: `detail` is already scrubbed; `aad` an AADSTS code.
pub(super) fn http_failure(step: &str, code: u16, aad: Option<&str>, detail: &str) -> Failure {
    let aad = aad.map(|c| format!(", AADSTS{c}")).unwrap_or_default();
    let (kind, hint) = match code {
        400 | 401 | 403 => (
            ErrorKind::AuthenticationFailed,
            "the endpoint refused this identity: check the client id, secret or federated token, the tenant, and that the identity is assigned to this resource",
        ),
        429 => (
            ErrorKind::ProviderResponse,
            "rate limited: passmint retries with backoff",
        ),
        _ => (
            ErrorKind::ProviderResponse,
            "the identity endpoint failed: passmint retries with backoff",
        ),
    };
    Failure::Failed(Error::new(
        kind,
        format!("{step}: the identity endpoint answered HTTP {code}{aad} ({detail}); {hint}"),
    ))
}

/// The SDK error and the SDK errors it wraps, outermost first.
fn chain(err: &AzError) -> Vec<&AzError> {
    let mut out = vec![err];
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if let Some(az) = e.downcast_ref::<AzError>() {
            out.push(az);
        }
        cur = e.source();
    }
    out
}

/// One line, no known secret, nothing token-shaped, at most [`MAX_DETAIL`] characters.
pub(super) fn scrub(text: &str, secrets: &[&str]) -> String {
    crate::redact::scrub(text, secrets, MAX_DETAIL)
}
