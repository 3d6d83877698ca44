//! A managed-identity answer read as the official SDKs read it (docs/CONFORMANCE.md):
//! `expires_on` as unix seconds (a number or a string) or JavaScript's ISO form, `expires_in` as
//! seconds from the request (a number or a string), `resource`, `token_type` and
//! `refresh_in` optional.

use serde_json::{Map, Value};

use super::super::http::MAX_TOKEN_SECONDS;
use crate::when::{parse_datetime, unix_seconds};

pub(super) struct Parsed {
    pub secret: String,
    pub expires_on: i64,
    pub fields: Map<String, Value>,
}

/// The token and its expiry in unix seconds; `requested_at`: unix seconds when the request
/// was sent. Where both `expires_on` and `expires_in` are readable the earlier wins: a token
/// never outlives an expiry its own answer states (the SDKs each read one field, IMDS's and
/// Arc's `expires_in`, the others' `expires_on`, and real answers agree). The error says what
/// is wrong with the answer and never quotes it.
pub(super) fn parse(body: &[u8], requested_at: i64) -> Result<Parsed, String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(if body.is_empty() {
            "an empty body".to_string()
        } else {
            format!("a body of {} bytes that is not a JSON object", body.len())
        });
    };
    let secret = match fields.get("access_token") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err("an access_token that is not a non-empty string".into()),
        None => return Err("no access_token".into()),
    };
    let on = fields.get("expires_on").and_then(expires_on);
    let within = fields
        .get("expires_in")
        .and_then(unix_seconds)
        .map(|s| requested_at.saturating_add(s));
    let expires_on = match (on, within) {
        (Some(a), Some(b)) => a.min(b),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) if fields.contains_key("expires_on") || fields.contains_key("expires_in") => {
            return Err(format!(
                "an expiry that is neither unix seconds nor an ISO time ({})",
                shape(&fields)
            ));
        }
        (None, None) => return Err("neither expires_on nor expires_in".into()),
    };
    if expires_on.saturating_sub(requested_at).abs() > MAX_TOKEN_SECONDS {
        return Err(format!("an expiry of {expires_on}, which no token has"));
    }
    Ok(Parsed {
        secret,
        expires_on,
        fields,
    })
}

/// `expires_on` as unix seconds, or as a time in exactly JavaScript's `toISOString()` form
/// (`2026-01-02T03:04:05.000Z`), the one date form a reference SDK (MSAL Node) reads there.
/// Python's reads none, so any other date form stays an error.
fn expires_on(value: &Value) -> Option<i64> {
    unix_seconds(value).or_else(|| {
        let text = value.as_str()?;
        let b = text.as_bytes();
        let js_form = b.len() == 24
            && b[19] == b'.'
            && b[23] == b'Z'
            && b[20..23].iter().all(u8::is_ascii_digit);
        js_form.then(|| parse_datetime(text)).flatten()
    })
}

/// The expiry fields' JSON types, for a message that must not quote the answer.
fn shape(fields: &Map<String, Value>) -> String {
    ["expires_on", "expires_in"]
        .iter()
        .filter_map(|name| {
            let kind = match fields.get(*name)? {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            };
            Some(format!("{name} is {kind}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_323_045;

    fn expiry(body: &str) -> Result<i64, String> {
        parse(body.as_bytes(), NOW).map(|p| p.expires_on)
    }

    #[test]
    fn every_expiry_form_the_sdks_accept() {
        let on = NOW + 3600;
        for body in [
            format!(r#"{{"access_token":"t","expires_on":{on}}}"#),
            format!(r#"{{"access_token":"t","expires_on":"{on}"}}"#),
            format!(
                r#"{{"access_token":"t","expires_on":"{on}","resource":"r","token_type":"Bearer"}}"#
            ),
            r#"{"access_token":"t","expires_in":3600}"#.to_string(),
            r#"{"access_token":"t","expires_in":"3600","refresh_in":1800}"#.to_string(),
            r#"{"access_token":"t","expires_on":"2026-01-02T04:04:05.000Z"}"#.to_string(),
        ] {
            assert_eq!(expiry(&body), Ok(on), "{body}");
        }
    }

    #[test]
    fn the_earlier_of_two_expiries_wins() {
        let body = format!(
            r#"{{"access_token":"t","expires_in":"60","expires_on":"{}"}}"#,
            NOW + 90
        );
        assert_eq!(expiry(&body), Ok(NOW + 60));
        let body = format!(
            r#"{{"access_token":"t","expires_in":"3599","expires_on":"{}"}}"#,
            NOW - 60
        );
        assert_eq!(expiry(&body), Ok(NOW - 60));
        let body = r#"{"access_token":"t","expires_in":"60","expires_on":"soon"}"#;
        assert_eq!(expiry(body), Ok(NOW + 60));
    }

    #[test]
    fn unusable_answers_say_why_without_quoting() {
        for (body, why) in [
            ("", "an empty body"),
            ("[]", "not a JSON object"),
            ("{\"expires_in\":3600}", "no access_token"),
            (
                "{\"access_token\":\"\",\"expires_in\":3600}",
                "non-empty string",
            ),
            (
                "{\"access_token\":7,\"expires_in\":3600}",
                "non-empty string",
            ),
            (
                "{\"access_token\":\"sekrit\"}",
                "neither expires_on nor expires_in",
            ),
            (
                "{\"access_token\":\"sekrit\",\"expires_on\":\"6/20/2019 02:57:58 +00:00\"}",
                "expires_on is a string",
            ),
            (
                "{\"access_token\":\"sekrit\",\"expires_in\":true}",
                "expires_in is a boolean",
            ),
            (
                "{\"access_token\":\"sekrit\",\"expires_on\":\"2026-01-02T04:04:05Z\"}",
                "expires_on is a string",
            ),
            (
                "{\"access_token\":\"sekrit\",\"expires_in\":99999999999999}",
                "no token has",
            ),
        ] {
            let e = expiry(body).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
            assert!(!e.contains("sekrit"), "{e}");
        }
    }
}
