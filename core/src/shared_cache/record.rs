//! One cached token on disk: `<key>.json`, JSON, written whole to a temporary file and renamed
//! over the old one, so a reader sees the old file or the new one, never half of one. A file
//! that is truncated, foreign, of another version or for another key is ignored (and rewritten
//! by the next fetch); a token is never trusted past the expiry it states itself.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cache::Lease;
use crate::error::Result;
use crate::kind::ProviderKind;
use crate::provider::registry;
use crate::shared_cache::dir;
use crate::token::Token;

const VERSION: i64 = 1;
/// Far above any token passmint writes (a DSQL token with a session token is ~2 KB).
const MAX_FILE: u64 = 256 * 1024;

/// A token read back, with when it was first fetched (its lifetime sets the refresh point).
pub(crate) struct Stored {
    pub lease: Lease<Token>,
    pub fetched_at_ms: i64,
}

/// The entry for `key`, if there is a readable one that passes every check; `Err` only when
/// the file exists but may not be read (wrong owner, mode, a symlink).
pub(crate) fn read(path: &Path, key: &str, kind: ProviderKind) -> Result<Option<Stored>> {
    let Some(file) = dir::open(path, false)? else {
        return Ok(None);
    };
    let mut text = Zeroizing::new(Vec::new());
    if file.take(MAX_FILE).read_to_end(&mut text).is_err() {
        return Ok(None);
    }
    Ok(parse(&text, key, kind))
}

fn parse(text: &[u8], key: &str, kind: ProviderKind) -> Option<Stored> {
    let v: Value = serde_json::from_slice(text).ok()?;
    if v["v"].as_i64()? != VERSION
        || v["key"].as_str()? != key
        || v["kind"].as_str()? != kind.name()
    {
        return None;
    }
    let secret = v["token"].as_str()?.to_string();
    let written_expiry = v["expires_at_ms"].as_i64()?;
    // Held to what the token says of itself: an edited file cannot stretch it.
    let stated_ms = registry::stated_expiry(kind, &secret)?.checked_mul(1000)?;
    let expires_at_ms = written_expiry.min(stated_ms);
    let username = match &v["username"] {
        Value::Null => None,
        u => Some(u.as_str()?.to_string()),
    };
    let token = Token::new(secret, expires_at_ms.div_euclid(1000), username, kind);
    Some(Stored {
        lease: Lease {
            value: token,
            expires_at_ms: Some(expires_at_ms),
            short_lived: v["short_lived"].as_bool()?,
            refresh_at_ms: None,
        },
        fetched_at_ms: v["fetched_at_ms"].as_i64()?,
    })
}

/// Writes the entry: a new 0600 file in the same directory, renamed over the old one.
pub(crate) fn write(
    path: &Path,
    key: &str,
    lease: &Lease<Token>,
    fetched_at_ms: i64,
) -> std::io::Result<()> {
    let Some(expires_at_ms) = lease.expires_at_ms else {
        return Ok(()); // a token that never expires is not one passmint mints
    };
    let token = &lease.value;
    let body = Zeroizing::new(
        json!({
            "v": VERSION,
            "key": key,
            "kind": token.kind().name(),
            "token": token.secret(),
            "username": token.username(),
            "expires_at_ms": expires_at_ms,
            "fetched_at_ms": fetched_at_ms,
            "short_lived": lease.short_lived,
        })
        .to_string(),
    );
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), fastrand::u32(..)));
    let written = (|| {
        let mut file = dir::open_new(&tmp)?;
        file.write_all(body.as_bytes())?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigv4(date: &str, expires: i64) -> String {
        format!(
            "h.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-Signature=ab"
        )
    }

    fn file(token: &str, expires_at_ms: i64) -> Vec<u8> {
        json!({"v": 1, "key": "k", "kind": "dsql", "token": token, "username": "admin",
               "expires_at_ms": expires_at_ms, "fetched_at_ms": 0, "short_lived": false})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_edited_expiry_is_held_to_what_the_token_states() {
        let token = sigv4("20260101T000000Z", 900);
        let stated = 1_767_225_600 + 900;
        let far = (stated + 86_400) * 1000;
        let got = parse(&file(&token, far), "k", ProviderKind::Dsql).unwrap();
        assert_eq!(got.lease.expires_at_ms, Some(stated * 1000));
        assert_eq!(got.lease.value.expires_at(), stated);
        // An earlier written expiry (the credentials' bound) stands.
        let got = parse(
            &file(&token, (stated - 100) * 1000),
            "k",
            ProviderKind::Dsql,
        )
        .unwrap();
        assert_eq!(got.lease.expires_at_ms, Some((stated - 100) * 1000));
    }

    #[test]
    fn foreign_truncated_or_mismatched_files_are_ignored() {
        let token = sigv4("20260101T000000Z", 900);
        let good = file(&token, 1);
        assert!(parse(&good, "k", ProviderKind::Dsql).is_some());
        assert!(parse(&good, "other-key", ProviderKind::Dsql).is_none());
        assert!(parse(&good, "k", ProviderKind::Rds).is_none());
        assert!(parse(&good[..good.len() / 2], "k", ProviderKind::Dsql).is_none());
        assert!(parse(b"", "k", ProviderKind::Dsql).is_none());
        let newer = String::from_utf8(good.clone())
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        assert!(parse(newer.as_bytes(), "k", ProviderKind::Dsql).is_none());
        // A token that states no expiry is not trusted at all.
        assert!(parse(&file("opaque-token", 1), "k", ProviderKind::Dsql).is_none());
    }
}
