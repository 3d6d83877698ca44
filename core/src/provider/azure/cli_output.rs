//! `az` and `azd` output in every form they have printed, rewritten into the one form
//! azure_identity reads (docs/CONFORMANCE.md). The Rust SDK reads only `az` 2.54+ output
//! (`expires_on` an integer, `tokenType` present) and RFC 3339 from `azd`; azure-identity
//! (Python) and @azure/identity also read `az` before 2.54 (`expiresOn` in local time) and
//! `expires_on` as a string. Output that is not a token is passed on untouched, so the SDK's
//! own error (and its hint to log in) is what the user sees.

use serde_json::{Map, Value, json};

use crate::when::{parse_datetime, parse_local_datetime, unix_seconds};

/// `az account get-access-token` output as `{"accessToken", "expires_on", "tokenType"}`.
pub(super) fn az(stdout: &[u8]) -> Option<Vec<u8>> {
    let fields = object(stdout)?;
    let token = fields.get("accessToken")?.as_str()?;
    // As azure-identity: `expires_on` (unix seconds) when present, else `expiresOn`, the
    // naive local time az prints (microseconds or not).
    let expires_on = match fields.get("expires_on") {
        Some(v) => unix_seconds(v)?,
        None => parse_local_datetime(fields.get("expiresOn")?.as_str()?)?,
    };
    let token_type = fields
        .get("tokenType")
        .and_then(Value::as_str)
        .unwrap_or("Bearer");
    serde_json::to_vec(&json!({
        "accessToken": token,
        "expires_on": expires_on,
        "tokenType": token_type,
    }))
    .ok()
}

/// `azd auth token --output json` output as `{"token", "expiresOn"}` with a plain RFC 3339 UTC
/// time: azd has printed 0 to 7 fractional digits and offsets.
pub(super) fn azd(stdout: &[u8]) -> Option<Vec<u8>> {
    let fields = object(stdout)?;
    let token = fields.get("token")?.as_str()?;
    let expires_on = parse_datetime(fields.get("expiresOn")?.as_str()?)?;
    let expires_on = azure_core::time::OffsetDateTime::from_unix_timestamp(expires_on).ok()?;
    serde_json::to_vec(&json!({
        "token": token,
        "expiresOn": azure_core::time::to_rfc3339(&expires_on),
    }))
    .ok()
}

fn object(stdout: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(stdout).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(out: Option<Vec<u8>>) -> Value {
        serde_json::from_slice(&out.expect("a token")).unwrap()
    }

    #[test]
    fn az_every_version() {
        let new = read(az(br#"{"accessToken":"t","expiresOn":"2026-01-02 03:04:05.000000","expires_on":1767323045,"tokenType":"Bearer","tenant":"x"}"#));
        assert_eq!(
            new,
            json!({"accessToken":"t","expires_on":1767323045,"tokenType":"Bearer"})
        );
        let string = read(az(br#"{"accessToken":"t","expires_on":"1767323045"}"#));
        assert_eq!(string["expires_on"], 1767323045);
        let old = read(az(
            br#"{"accessToken":"t","expiresOn":"2026-01-02 03:04:05.123456","tokenType":"Bearer"}"#,
        ));
        let no_micro = read(az(
            br#"{"accessToken":"t","expiresOn":"2026-01-02 03:04:05"}"#,
        ));
        assert_eq!(old["expires_on"], no_micro["expires_on"]);
        assert_eq!(
            old["expires_on"].as_i64(),
            crate::when::parse_local_datetime("2026-01-02 03:04:05")
        );
    }

    #[test]
    fn azd_fractions_and_offsets() {
        for text in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.1234567Z",
            "2026-01-02T04:04:05+01:00",
        ] {
            let out = read(azd(
                format!(r#"{{"token":"t","expiresOn":"{text}"}}"#).as_bytes()
            ));
            assert_eq!(
                out,
                json!({"token":"t","expiresOn":"2026-01-02T03:04:05Z"}),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_a_token_is_left_alone() {
        assert!(az(b"ERROR: Please run 'az login'").is_none());
        assert!(az(br#"{"accessToken":"t","expiresOn":"soon"}"#).is_none());
        assert!(az(br#"{"accessToken":"t","expires_on":"1.5"}"#).is_none());
        assert!(azd(br#"{"token":"t","expiresOn":"2026-01-02 03:04:05"}"#).is_none());
    }
}
