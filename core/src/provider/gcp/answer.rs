//! Google's answers, read as google-auth reads them: an OAuth token answer (`access_token`,
//! `expires_in` as a number or a string), IAM Credentials' `{accessToken, expireTime}`, the
//! metadata server's token, and the error bodies of each (`{error, error_description}`, or
//! `{error: {code, message, status}}`), of which only those fields ever reach a message.

use hyper::body::Bytes;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::http::Answer;

/// A Google access token and when it ends.
pub(crate) struct AccessToken {
    pub secret: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// No token lives 300 years: a longer `expires_in` is a malformed answer (a long but possible
/// one is served, and refreshed by the cache's own cap).
const MAX_LIFETIME: i64 = 10_000_000_000;
const MAX_DETAIL: usize = 240;

/// A 2xx answer's body; anything else is the endpoint's refusal, as an error that names it.
pub(super) fn success(answer: Answer, what: &str, secrets: &[&str]) -> Result<Bytes> {
    if (200..300).contains(&answer.status) {
        return Ok(answer.body);
    }
    Err(refusal(answer.status, &answer.body, what, secrets))
}

/// An endpoint's non-2xx answer as passmint's error: 400-403 say this identity was refused,
/// 429 and 5xx that the endpoint failed (the cache retries with backoff).
pub(crate) fn refusal(status: u16, body: &[u8], what: &str, secrets: &[&str]) -> Error {
    let detail = crate::redact::scrub(&error_detail(body), secrets, MAX_DETAIL);
    let (kind, hint) = match status {
        400 | 401 | 403 => (ErrorKind::AuthenticationFailed, refused_hint(what)),
        404 => (
            ErrorKind::AuthenticationFailed,
            "Google does not know this identity or endpoint: check the service account e-mail and the URLs in the credential file",
        ),
        429 => (
            ErrorKind::ProviderResponse,
            "rate limited: passmint retries with backoff",
        ),
        _ => (
            ErrorKind::ProviderResponse,
            "the endpoint failed: passmint retries with backoff",
        ),
    };
    Error::new(
        kind,
        format!("{what} answered HTTP {status} ({detail}); {hint}"),
    )
}

/// What to check when `what` (an endpoint, as messages name it) refuses.
fn refused_hint(what: &str) -> &'static str {
    if what.starts_with("the metadata server") {
        "check that a service account is attached to this VM, service or GKE workload (Workload Identity: the Kubernetes service account's binding) and that it has the cloud-platform access scope"
    } else if what.starts_with("IAM Credentials") {
        "check that the source identity may impersonate the service account (roles/iam.serviceAccountTokenCreator on it) and that the e-mail is right"
    } else {
        "Google refused this credential: check the key, refresh token or federation settings, and that the account is enabled"
    }
}

/// `error: error_description`, or the nested form's `status: message`; never the body.
pub(crate) fn error_detail(body: &[u8]) -> String {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return if body.is_empty() {
            "an empty body".into()
        } else {
            format!("a non-JSON body of {} bytes", body.len())
        };
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let (error, description) = match map.get("error") {
        Some(Value::Object(inner)) => (
            text(inner.get("status")).or_else(|| inner.get("code").map(|c| c.to_string())),
            text(inner.get("message")),
        ),
        other => (text(other), text(map.get("error_description"))),
    };
    let detail = match (error, description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => "a JSON body without error details".into(),
    };
    detail.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn malformed(what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::ProviderResponse,
        format!("{what} answered 2xx but not with a usable token: {why}"),
    )
}

fn object(body: &[u8], what: &str) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed(what, "the body is JSON but not an object")),
        Err(_) => Err(malformed(
            what,
            &format!("the body is not JSON ({} bytes)", body.len()),
        )),
    }
}

/// A seconds count as Google's endpoints send it: a JSON number, or a string of digits (the
/// token endpoint and STS have sent both; google-auth takes both).
fn seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An OAuth 2.0 token answer (token endpoint, STS, metadata server). `numeric_only`: the
/// metadata server's `expires_in`, which google-auth reads as a number alone.
pub(crate) fn oauth(body: &[u8], now: i64, what: &str, numeric_only: bool) -> Result<AccessToken> {
    let map = object(body, what)?;
    let secret = match map.get("access_token") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(malformed(what, "no access_token")),
    };
    let lifetime = match map.get("expires_in") {
        Some(v @ Value::Number(_)) => seconds(v),
        Some(v @ Value::String(_)) if !numeric_only => seconds(v),
        Some(_) => None,
        // google-auth leaves the expiry unknown; passmint's cache needs one, and no token
        // answer of Google's omits it.
        None => return Err(malformed(what, "no expires_in")),
    }
    .ok_or_else(|| malformed(what, "expires_in is not a number of seconds"))?;
    if !(0..=MAX_LIFETIME).contains(&lifetime) {
        return Err(malformed(
            what,
            &format!("expires_in {lifetime} is not a token's lifetime"),
        ));
    }
    Ok(AccessToken {
        secret,
        expires_at: now + lifetime,
    })
}

/// IAM Credentials' `generateAccessToken` answer: `{accessToken, expireTime}` (RFC 3339, UTC).
pub(crate) fn iam(body: &[u8], what: &str) -> Result<AccessToken> {
    let map = object(body, what)?;
    let secret = match map.get("accessToken") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(malformed(what, "no accessToken")),
    };
    let expires_at = map
        .get("expireTime")
        .and_then(Value::as_str)
        .and_then(crate::when::parse_datetime)
        .ok_or_else(|| malformed(what, "expireTime is missing or not an RFC 3339 time"))?;
    Ok(AccessToken { secret, expires_at })
}

/// A JSON object's string field, for the answers that carry other facts (the metadata
/// server's e-mail).
pub(crate) fn string_field(body: &[u8], field: &str) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    map.get(field).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_as_number_or_string() {
        let t = oauth(
            br#"{"access_token":"ya29.a","expires_in":3599}"#,
            100,
            "x",
            false,
        )
        .unwrap();
        assert_eq!(t.expires_at, 3699);
        let t = oauth(
            br#"{"access_token":"ya29.a","expires_in":"3599"}"#,
            100,
            "x",
            false,
        )
        .unwrap();
        assert_eq!(t.expires_at, 3699);
        assert!(
            oauth(
                br#"{"access_token":"ya29.a","expires_in":"3599"}"#,
                100,
                "x",
                true
            )
            .is_err()
        );
        for bad in [
            &br#"{"access_token":"ya29.a"}"#[..],
            br#"{"access_token":"","expires_in":1}"#,
            br#"{"access_token":"a","expires_in":-5}"#,
            br#"{"access_token":"a","expires_in":1e300}"#,
            br#"["a"]"#,
            b"<html>",
        ] {
            let e = oauth(bad, 0, "the token endpoint", false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProviderResponse);
            assert!(!e.message().contains("ya29"), "{}", e.message());
        }
    }

    #[test]
    fn iam_answers_take_rfc3339() {
        let t = iam(
            br#"{"accessToken":"ya29.b","expireTime":"2026-12-04T10:00:00Z"}"#,
            "x",
        )
        .unwrap();
        assert_eq!(t.expires_at, 1_796_378_400);
        let t = iam(
            br#"{"accessToken":"ya29.b","expireTime":"2026-12-04T10:00:00.5+01:00"}"#,
            "x",
        )
        .unwrap();
        assert_eq!(t.expires_at, 1_796_374_800);
        assert!(iam(br#"{"accessToken":"ya29.b","expireTime":"soon"}"#, "x").is_err());
    }

    #[test]
    fn error_bodies_give_their_fields_only() {
        let d = error_detail(br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature.","x":"ya29.s"}"#);
        assert_eq!(d, "invalid_grant: Invalid JWT Signature.");
        let d = error_detail(br#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}}"#);
        assert!(d.starts_with("PERMISSION_DENIED: Permission"), "{d}");
        assert_eq!(error_detail(b"oops"), "a non-JSON body of 4 bytes");
        let e = refusal(
            400,
            br#"{"error":"invalid_grant","error_description":"bad secret-xyz"}"#,
            "the token endpoint",
            &["secret-xyz"],
        );
        assert_eq!(e.kind(), ErrorKind::AuthenticationFailed);
        assert!(!e.message().contains("secret-xyz"), "{}", e.message());
        assert_eq!(
            refusal(503, b"", "x", &[]).kind(),
            ErrorKind::ProviderResponse
        );
    }
}
