//! libpq's `sslmode` and `sslrootcert`, taken out of a connection string before a driver that
//! rejects them (tokio-postgres) or reads them its own way (sqlx) sees it. Both of libpq's
//! forms: a URL's query (`?sslmode=verify-full`) and key/value pairs (`sslmode=verify-full`).

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::error::{Error, invalid};

/// A connection string without its TLS settings, and those settings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub rest: String,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

pub(crate) fn take_tls(conninfo: &str) -> Result<Split, Error> {
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        Ok(from_url(conninfo))
    } else {
        from_pairs(conninfo)
    }
}

fn from_url(url: &str) -> Split {
    let Some((base, query)) = url.split_once('?') else {
        return Split {
            rest: url.to_string(),
            ..Split::default()
        };
    };
    let mut split = Split::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        match decode(key).as_ref() {
            "sslmode" => split.sslmode = Some(value.into_owned()),
            "sslrootcert" => split.sslrootcert = Some(value.into_owned()),
            _ => kept.push(pair),
        }
    }
    split.rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    split
}

fn decode(s: &str) -> Cow<'_, str> {
    percent_decode_str(s).decode_utf8_lossy()
}

/// Key/value pairs as libpq reads them: `key = value`, a value single-quoted with `\'` and
/// `\\` inside, or unquoted up to whitespace.
fn from_pairs(conninfo: &str) -> Result<Split, Error> {
    let mut split = Split::default();
    let mut kept: Vec<&str> = Vec::new();
    let bytes = conninfo.as_bytes();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &conninfo[start..i];
        i = skip_space(i);
        if i >= bytes.len() || bytes[i] != b'=' {
            // Not quoted: a stray word may be part of a password.
            return Err(invalid(format!(
                "the connection string has a word without `=value` at byte {start}"
            )));
        }
        i = skip_space(i + 1);
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(invalid(format!(
                            "the connection string's `{key}` has an unterminated quoted value"
                        )));
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        let c = conninfo[i + 1..].chars().next().unwrap_or_default();
                        value.push(c);
                        i += 1 + c.len_utf8();
                    }
                    Some(_) => {
                        let c = conninfo[i..].chars().next().unwrap_or_default();
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                let c = conninfo[i..].chars().next().unwrap_or_default();
                value.push(c);
                i += c.len_utf8();
            }
        }
        match key {
            "sslmode" => split.sslmode = Some(value),
            "sslrootcert" => split.sslrootcert = Some(value),
            _ => kept.push(&conninfo[start..i]),
        }
    }
    split.rest = kept.join(" ");
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(s: &str) -> (String, Option<String>, Option<String>) {
        let t = take_tls(s).unwrap();
        (t.rest, t.sslmode, t.sslrootcert)
    }

    #[test]
    fn a_urls_tls_settings_are_taken_and_the_rest_kept_as_written() {
        assert_eq!(
            take(
                "postgres://app@h:5432/db?sslmode=verify-ca&application_name=a%20b&sslrootcert=%2Fetc%2Fca.pem"
            ),
            (
                "postgres://app@h:5432/db?application_name=a%20b".into(),
                Some("verify-ca".into()),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            take("postgresql://h/db?sslmode=require"),
            ("postgresql://h/db".into(), Some("require".into()), None)
        );
        assert_eq!(
            take("postgres://h/db"),
            ("postgres://h/db".into(), None, None)
        );
    }

    #[test]
    fn key_value_pairs_are_read_as_libpq_reads_them() {
        assert_eq!(
            take("host=h  sslmode = 'verify-full' user=app sslrootcert='/a b/it\\'s.pem' dbname=x"),
            (
                "host=h user=app dbname=x".into(),
                Some("verify-full".into()),
                Some("/a b/it's.pem".into())
            )
        );
        assert_eq!(
            take("options='-c search_path=a' host=h"),
            ("options='-c search_path=a' host=h".into(), None, None)
        );
        assert_eq!(
            take("sslrootcert='/certs/\\é\\\\ca.pem' host=h sslmode=v\\ërify"),
            (
                "host=h".into(),
                Some("vërify".into()),
                Some("/certs/é\\ca.pem".into())
            )
        );
    }

    #[test]
    fn malformed_pairs_are_refused_without_quoting_them() {
        for bad in ["host", "host=h password=abc def", "sslmode='verify-full"] {
            let e = take_tls(bad).unwrap_err().to_string();
            assert!(e.contains("the connection string"), "{bad}: {e}");
            assert!(!e.contains("def") && !e.contains("abc"), "{bad}: {e}");
        }
    }
}
