//! What every provider URL shares (docs/DESIGN.md §3): the split into scheme,
//! authority and query; the query rules (unknown, repeated and empty parameters are errors);
//! host names; and the reading of a postgres URL. Each source's own parameters live in its
//! folder under `provider/`, which the registry (`provider/registry.rs`) dispatches to.
//!
//! Parsing is strict on purpose: a typo in a parameter name silently ignored would mint a
//! token for the wrong role or region and surface later as a baffling server-side
//! "PAM authentication failed".

use crate::error::{Error, ErrorKind, Result};
use percent_encoding::percent_decode_str;

/// A provider URL cut at its joints, its shared rules checked.
pub(crate) struct Parts<'a> {
    /// Lower-cased.
    pub scheme: String,
    pub authority: &'a str,
    /// What follows the authority's `/`, undecoded (`""`: none, or a bare trailing `/`).
    pub path: &'a str,
    pub query: &'a str,
}

/// Splits `<scheme>://<authority>[/<path>][?<query>]`, or `<scheme>:?<query>` for a source with
/// no location (`exec:?cmd=…`); `known` lists the schemes for messages.
pub(crate) fn split<'a>(input: &'a str, known: &str) -> Result<Parts<'a>> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::config(format!(
            "empty provider URL: pass one of {known}"
        )));
    }
    let opaque = input.split_once(':').filter(|(scheme, rest)| {
        !rest.starts_with("//")
            && (rest.is_empty() || rest.starts_with('?'))
            && scheme.chars().all(|c| c.is_ascii_alphanumeric())
    });
    let Some((scheme, rest)) = input.split_once("://").or(opaque) else {
        return Err(Error::config(format!(
            "`{}` is not a provider URL: expected {known} (for a postgres URL use for_postgres_url / --for)",
            shorten(input)
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "postgres" || scheme == "postgresql" {
        return Err(Error::config(
            "this is a postgres URL, not a provider URL: pass it to for_postgres_url (C: passmint_provider_for_postgres_url, CLI: --for)",
        ));
    }
    if rest.contains('#') {
        return Err(Error::config(
            "provider URLs take no #fragment: remove everything from `#`",
        ));
    }
    let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = authority_path
        .split_once('/')
        .unwrap_or((authority_path, ""));
    if authority.contains('@') {
        return Err(Error::config(
            "provider URLs take no user@ part: pass the database role as ?user=<role>",
        ));
    }
    Ok(Parts {
        scheme,
        authority,
        path,
        query,
    })
}

/// The refusal of a path, for the sources whose URLs take none.
pub(crate) fn no_path(path: &str) -> Error {
    Error::config(format!(
        "provider URLs take no path (found `/{}`): put options in the query, e.g. ?user=app",
        shorten(path)
    ))
}

/// Decoded query parameters, checked against the names a scheme accepts.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// From a URL's query string: values percent-decoded.
    pub fn parse(query: &str, scheme: &str, allowed: &[&str]) -> Result<Query> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(Error::config(format!(
                    "query parameter `{}` has no value: write it as name=value",
                    shorten(part)
                )));
            };
            pairs.push((decode(k, "parameter name")?, decode(v, k)?));
        }
        Self::from_pairs(pairs, scheme, allowed)
    }

    /// From name/value pairs a typed builder was given (no URL in between).
    pub fn from_pairs(
        given: Vec<(String, String)>,
        scheme: &str,
        allowed: &[&str],
    ) -> Result<Query> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(given.len());
        for (k, v) in given {
            if !allowed.contains(&k.as_str()) {
                return Err(Error::config(format!(
                    "unknown parameter `{}` for {scheme}://: accepted are {}",
                    shorten(&k),
                    allowed.join(", ")
                )));
            }
            if pairs.iter().any(|(existing, _)| *existing == k) {
                return Err(Error::config(format!(
                    "parameter `{k}` is given twice: keep one"
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    /// A parameter that, when present, must not be empty.
    pub fn get(&self, name: &str) -> Result<Option<&str>> {
        match self.pairs.iter().find(|(k, _)| k == name) {
            None => Ok(None),
            Some((_, v)) if v.is_empty() => Err(Error::config(format!(
                "parameter `{name}` is empty: give it a value or leave it out"
            ))),
            Some((_, v)) => Ok(Some(v)),
        }
    }

    /// A parameter as an owned string.
    pub fn owned(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name)?.map(str::to_owned))
    }

    /// A yes/no parameter: `true`/`1` or `false`/`0`, absent meaning no.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name)? {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(Error::config(format!(
                "{name} `{}` is not a yes/no value: use true or false",
                shorten(other)
            ))),
        }
    }
}

pub(crate) fn decode(s: &str, what: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            Error::config(format!(
                "`{}` is not valid UTF-8 once percent-decoded: fix the %XX escapes",
                shorten(what)
            ))
        })
}

/// A DNS host name: letters, digits, `-` and `.`. The host is signed into AWS tokens, where
/// `&`, `=`, `%`, `/` or `?` would change what the signature covers.
/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`): the one place a secret
/// store's answer may travel as plain http (a dev server, an emulator).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(crate) fn validate_host(host: &str) -> Result<()> {
    let ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "`{}` is not a valid host name (letters, digits, `-` and `.` only): use the endpoint shown in the cloud's console",
            shorten(host)
        )))
    }
}

/// What a postgres URL says about its target: enough for each source's host rule.
pub(crate) struct PgTarget {
    /// Lower-cased, without a trailing dot, validated.
    pub host: String,
    /// Percent-decoded.
    pub user: Option<String>,
    pub port: u16,
}

/// Reads a `postgres://` / `postgresql://` URL. The input is never echoed: it may carry a
/// password.
pub(crate) fn parse_postgres_url(input: &str) -> Result<PgTarget> {
    let input = input.trim();
    let lower = input.to_ascii_lowercase();
    if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
        return Err(Error::config(
            "not a postgres URL: expected postgresql://user@host:port/dbname",
        ));
    }
    let url = url::Url::parse(input).map_err(|e| {
        Error::config(format!(
            "cannot parse the postgres URL ({e}): expected postgresql://user@host:port/dbname"
        ))
    })?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_end_matches('.').to_ascii_lowercase(),
        _ => {
            return Err(Error::config(
                "the postgres URL has no host: expected postgresql://user@host:port/dbname",
            ));
        }
    };
    validate_host(&host)?;
    let user = match url.username() {
        "" => None,
        u => Some(decode(u, "user name")?),
    };
    let port = url.port().unwrap_or(5432);
    if port == 0 {
        return Err(Error::config("port 0 is not a TCP port: use 1-65535"));
    }
    Ok(PgTarget { host, user, port })
}

/// An argument a typed builder refused (as opposed to a URL's, which is configuration).
pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// Keeps messages one readable line even when the input is a megabyte of junk.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
