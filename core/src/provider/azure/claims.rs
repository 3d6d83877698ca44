//! The database role an Entra ID token is for, read from its claims (docs/DESIGN.md §4).
//!
//! Only the payload is decoded; the signature is the server's business. Azure Database for
//! PostgreSQL names a managed identity's role after the identity's resource (the last
//! segment of `xms_mirid`) and a user's role after the user's principal name.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Entra tokens are a few kilobytes; anything far larger is not one we decode.
const MAX_TOKEN: usize = 64 * 1024;
const USER_CLAIMS: [&str; 3] = ["upn", "preferred_username", "unique_name"];

/// `xms_mirid` last segment → `upn` → `preferred_username` → `unique_name`, or `None` for
/// an app-only token (or anything that is not a JWT): not an error, just unknown.
pub(crate) fn username(token: &str) -> Option<String> {
    let claims = claims(token)?;
    let text = |key: &str| {
        claims
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(name) = text("xms_mirid").and_then(|id| id.rsplit('/').find(|s| !s.is_empty())) {
        return Some(name.to_string());
    }
    USER_CLAIMS.iter().find_map(|k| text(k)).map(str::to_string)
}

/// The token's `exp` claim (unix seconds), or `None` for anything that is not a JWT with one.
pub(crate) fn expiry(token: &str) -> Option<i64> {
    crate::when::unix_seconds(claims(token)?.get("exp")?)
}

fn claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.c2ln", enc(&json!({"alg": "RS256"})), enc(&claims))
    }

    #[test]
    fn precedence_follows_design_section_4() {
        let mi = "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id";
        let all = json!({"xms_mirid": mi, "upn": "u@x", "preferred_username": "p@x", "unique_name": "n@x"});
        assert_eq!(username(&jwt(all)).as_deref(), Some("app-id"));
        let user = json!({"upn": "u@x", "preferred_username": "p@x", "unique_name": "n@x"});
        assert_eq!(username(&jwt(user)).as_deref(), Some("u@x"));
        let v2 = json!({"preferred_username": "p@x", "unique_name": "n@x"});
        assert_eq!(username(&jwt(v2)).as_deref(), Some("p@x"));
        let legacy = json!({"unique_name": "n@x", "upn": ""});
        assert_eq!(username(&jwt(legacy)).as_deref(), Some("n@x"));
        let system = json!({"xms_mirid": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Web/sites/my-app/"});
        assert_eq!(username(&jwt(system)).as_deref(), Some("my-app"));
    }

    #[test]
    fn app_only_and_garbage_are_unknown_not_errors() {
        assert_eq!(username(&jwt(json!({"appid": "a", "idtyp": "app"}))), None);
        for bad in [
            "",
            "x",
            "a.b",
            "a.!!!.c",
            "a.bnVsbA.c",
            "a.W10.c",
            &"a.".repeat(40_000),
        ] {
            assert_eq!(username(bad), None, "{bad:.20}");
        }
        assert_eq!(username(&jwt(json!({"upn": 42}))), None);
    }
}
