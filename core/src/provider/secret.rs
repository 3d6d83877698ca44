//! What the secret sources (`file://`, `exec:`, and the secret stores) share: reading a
//! password, a username and an expiry out of the JSON an agent or a command wrote, and the
//! lease of a secret that states no expiry, fetched again every `refresh` seconds.

use serde_json::{Map, Value};

use crate::cache::{Clock, Lease};
use crate::error::{Error, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::Query;

/// How often a secret that states no expiry is read again, unless `refresh=` says otherwise.
pub(crate) const DEFAULT_REFRESH_S: i64 = 300;
/// A password file or a command's answer larger than this is not a password.
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// The names the secret is found under, first match wins: ours, Kubernetes' and the RDS
/// secret shape's `password`, and the OAuth and `az account get-access-token` names.
const SECRET_FIELDS: [&str; 4] = ["password", "token", "access_token", "accessToken"];
const USER_FIELDS: [&str; 2] = ["username", "user"];

/// A secret as read, before it becomes a token.
pub(crate) struct Secret {
    pub password: String,
    pub username: Option<String>,
    /// Unix seconds, when the secret says.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `format=raw|json`; `None` when not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Raw,
    Json,
}

pub(crate) fn format(query: &Query, scheme: &str) -> Result<Option<Format>> {
    match query.get("format")? {
        None => Ok(None),
        Some("raw") => Ok(Some(Format::Raw)),
        Some("json") => Ok(Some(Format::Json)),
        Some(other) => Err(Error::config(format!(
            "{scheme}: format must be raw or json, not `{}`",
            crate::url::shorten(other)
        ))),
    }
}

/// `refresh=<seconds>`: how often a secret without an expiry is read again.
pub(crate) fn refresh(query: &Query, scheme: &str) -> Result<i64> {
    match query.get("refresh")? {
        None => Ok(DEFAULT_REFRESH_S),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=86_400).contains(&n) => Ok(n),
            _ => Err(Error::config(format!(
                "{scheme}: refresh must be a number of seconds from 1 to 86400, not `{}`",
                crate::url::shorten(s)
            ))),
        },
    }
}

/// A raw secret: the text without the line ending an editor or `echo` adds.
pub(crate) fn raw(bytes: &[u8]) -> std::result::Result<Secret, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("empty".into());
    }
    if password.contains(['\n', '\r', '\0']) {
        return Err("more than one line (for JSON, use format=json)".into());
    }
    Ok(Secret {
        password: password.to_string(),
        username: None,
        expires_at: None,
    })
}

/// A JSON secret: an object with the password under `password` (or `token`, `access_token`,
/// `accessToken`), and optionally `username` (or `user`) and an expiry: `expires_at` (unix
/// seconds or an RFC 3339 date-time), `expires_on` (unix seconds, as `az` prints them),
/// `Expiration` (RFC 3339, as a `credential_process` prints it) or `expires_in` (seconds
/// from `now`). The reason never quotes a value.
pub(crate) fn json(bytes: &[u8], now: i64) -> std::result::Result<Secret, String> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
    let Value::Object(fields) = value else {
        return Err("not a JSON object".into());
    };
    let password = match SECRET_FIELDS
        .iter()
        .find_map(|k| fields.get(*k).map(|v| (k, v)))
    {
        None => {
            return Err(format!(
                "no password: expected one of {}",
                SECRET_FIELDS.map(|k| format!("`{k}`")).join(", ")
            ));
        }
        Some((_, Value::String(s))) if !s.is_empty() => s.clone(),
        Some((k, _)) => return Err(format!("`{k}` is not a non-empty string")),
    };
    let username = match USER_FIELDS
        .iter()
        .find_map(|k| fields.get(*k).map(|v| (k, v)))
    {
        None | Some((_, Value::Null)) => None,
        Some((_, Value::String(s))) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some((k, _)) => return Err(format!("`{k}` is not a string")),
    };
    Ok(Secret {
        password,
        username,
        expires_at: expiry(&fields, now)?,
    })
}

fn expiry(fields: &Map<String, Value>, now: i64) -> std::result::Result<Option<i64>, String> {
    let at = |k: &str| fields.get(k).filter(|v| !v.is_null());
    if let Some(v) = at("expires_at") {
        return crate::when::unix_seconds(v)
            .or_else(|| v.as_str().and_then(crate::when::parse_datetime))
            .map(Some)
            .ok_or_else(|| {
                "`expires_at` is neither unix seconds nor an RFC 3339 date-time with a zone".into()
            });
    }
    if let Some(v) = at("expires_on") {
        return crate::when::unix_seconds(v)
            .map(Some)
            .ok_or_else(|| "`expires_on` is not unix seconds".into());
    }
    if let Some(v) = at("Expiration").or_else(|| at("expiration")) {
        return v
            .as_str()
            .and_then(crate::when::parse_datetime)
            .map(Some)
            .ok_or_else(|| "`Expiration` is not an RFC 3339 date-time with a zone".into());
    }
    if let Some(v) = at("expires_in") {
        return crate::when::unix_seconds(v)
            .filter(|s| *s > 0)
            // A lifetime past the end of time is nonsense, not a panic (found by fuzz_smoke).
            .and_then(|s| now.checked_add(s))
            .map(Some)
            .ok_or_else(|| "`expires_in` is not a positive number of seconds".into());
    }
    Ok(None)
}

/// The secret as a lease: held to its own expiry when it states one, and read again every
/// `refresh_s` seconds either way. A secret without an expiry keeps being served if reading
/// it again fails (nothing says it stopped working); its token's `expires_at` is when it is
/// read again.
pub(crate) fn lease(
    secret: Secret,
    user: Option<&str>,
    kind: ProviderKind,
    refresh_s: i64,
    clock: &Clock,
) -> Lease<Token> {
    let now_ms = clock.now_ms();
    let refresh_at_ms = now_ms + refresh_s * 1000;
    let expires_at = secret.expires_at.unwrap_or(refresh_at_ms.div_euclid(1000));
    // An explicit user wins over the one the secret names, as for every source.
    let username = user.map(str::to_owned).or(secret.username);
    Lease {
        value: Token::new(secret.password, expires_at, username, kind),
        expires_at_ms: secret.expires_at.map(|s| s.saturating_mul(1000)),
        short_lived: false,
        refresh_at_ms: Some(refresh_at_ms),
    }
}

/// A secret as the fuzz targets see it: password, username, expiry; or the reason.
#[cfg(feature = "fuzzing")]
pub type FuzzRead = std::result::Result<(String, Option<String>, Option<i64>), String>;

/// What a password file or a command's output becomes, raw and as JSON: for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub fn fuzz_secret(bytes: &[u8]) -> [FuzzRead; 2] {
    let out = |r: std::result::Result<Secret, String>| {
        r.map(|s| (s.password.clone(), s.username.clone(), s.expires_at))
    };
    [out(raw(bytes)), out(json(bytes, 1_800_000_000))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_secrets_lose_their_line_ending_only() {
        assert_eq!(raw(b"  pa ss \n").unwrap().password, "  pa ss ");
        assert_eq!(raw(b"pw\r\n").unwrap().password, "pw");
        assert_eq!(raw(b"\n").err().unwrap(), "empty");
        assert!(raw(b"a\nb\n").is_err());
        assert!(raw(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn json_secrets_take_the_names_agents_and_clis_write() {
        let s = json(br#"{"username":"app","password":"pw","host":"db"}"#, 0).unwrap();
        assert_eq!(
            (s.password.as_str(), s.username.as_deref()),
            ("pw", Some("app"))
        );
        assert_eq!(s.expires_at, None);
        let s = json(br#"{"token":"t","expires_at":"2030-01-02T03:04:05Z"}"#, 0).unwrap();
        assert_eq!(s.expires_at, Some(1_893_553_445));
        let s = json(br#"{"accessToken":"t","expires_on":"1893553445"}"#, 0).unwrap();
        assert_eq!(s.expires_at, Some(1_893_553_445));
        let s = json(br#"{"access_token":"t","expires_in":60}"#, 100).unwrap();
        assert_eq!(s.expires_at, Some(160));
        let s = json(
            br#"{"password":"t","Expiration":"2030-01-02T03:04:05Z"}"#,
            0,
        )
        .unwrap();
        assert_eq!(s.expires_at, Some(1_893_553_445));
    }

    #[test]
    fn json_refusals_never_quote_a_value() {
        for bad in [
            &br#"{"username":"app"}"#[..],
            br#"{"password":""}"#,
            br#"{"password":42}"#,
            br#"{"password":"pw-secret-1","expires_at":"soon"}"#,
            br#"["pw-secret-1"]"#,
            b"pw-secret-1",
        ] {
            let why = json(bad, 0).err().unwrap();
            assert!(!why.contains("pw-secret-1"), "{why}");
        }
    }
}
