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
            let code = u16::from(*status);
            let aad = error_code
                .as_deref()
                .map(|c| format!(", AADSTS{c}"))
                .unwrap_or_default();
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
            return Failure::Failed(Error::new(
                kind,
                format!(
                    "{step}: the identity endpoint answered HTTP {code}{aad} ({}); {hint}",
                    detail(e)
                ),
            ));
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

/// One line, no known secret, nothing JWT-shaped, at most [`MAX_DETAIL`] characters.
pub(super) fn scrub(text: &str, secrets: &[&str]) -> String {
    // Whitespace is normalised first, and the secrets are matched in normalised form too:
    // collapsing whitespace after redaction could put a secret back together (found by
    // core/tests/fuzz_smoke.rs).
    let normal = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = normal(text);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        s = s.replace(secret, "<redacted>");
        let flat = normal(secret);
        if flat.len() >= 4 {
            s = s.replace(&flat, "<redacted>");
        }
    }
    let words: Vec<String> = s
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if looks_like_token(w) {
                "<redacted>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let s = words.join(" ");
    // The SDK appends a troubleshooting link per credential; passmint's message says more.
    let s = s
        .split(" To troubleshoot, visit")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if s.chars().count() <= MAX_DETAIL {
        return s;
    }
    let mut cut: String = s.chars().take(MAX_DETAIL).collect();
    cut.push('…');
    cut
}

/// A JWT (`eyJ…`, dotted) or any long opaque run of base64-ish characters.
fn looks_like_token(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if w.contains("eyJ") {
        return true;
    }
    let opaque = w
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '='));
    opaque && w.len() >= 40 && !w.contains("://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_tokens_and_noise() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJ4In0.c2lnbmF0dXJl";
        let text = format!(
            "bad {{\"access_token\":\"{jwt}\"}} with hunter22 and\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789 To troubleshoot, visit https://aka.ms/x"
        );
        let out = scrub(&text, &["hunter22"]);
        assert!(!out.contains(jwt) && !out.contains("hunter22"), "{out}");
        assert!(!out.contains("QUJDREVG") && !out.contains('\n') && !out.contains("aka.ms"));
        assert!(out.starts_with("bad "), "{out}");
        let long = "word ".repeat(200);
        assert!(scrub(&long, &[]).chars().count() <= MAX_DETAIL + 1);
        // URLs stay readable: they say which endpoint failed.
        let url = "http://127.0.0.1:8080/metadata/identity/oauth2/token?api-version=2019-08-01";
        assert!(scrub(url, &[]).contains("127.0.0.1:8080"));
    }
}
