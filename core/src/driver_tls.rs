//! When a driver helper may send a token, decided once for every binding (docs/DESIGN.md
//! §7). A token is a password any server of its audience accepts (an Entra
//! token, every Azure PostgreSQL server of the tenant), so it travels only over TLS that checks
//! the server's name: without TLS only with `allow_plaintext`, over TLS that checks no name
//! only with `allow_unverified_tls`. When nothing chose, the helper adds verified TLS.
//!
//! The bindings read their driver's own settings (a conninfo, asyncpg's `ssl=`, a node-postgres
//! `ssl` object) into a [`TlsChoice`]; the driver's rules for mode strings, and every message,
//! are here. `tests/vectors/driver_tls.json` holds the cases, run in Rust, Python and Node.

use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::provider::registry;

/// A driver whose TLS rules the helpers follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Driver {
    /// libpq and what is built on it (psycopg, psycopg2, SQLAlchemy's libpq dialects).
    Libpq,
    /// asyncpg, whose `ssl=` takes libpq's mode names, `True`, `False` or an `SSLContext`.
    Asyncpg,
    /// node-postgres (and Sequelize and Knex on it).
    NodePostgres,
    /// Postgres.js, whose `ssl` takes `true`, a `tls.connect` options object or a mode name,
    /// from its options, the URL's `ssl`/`sslmode`, or `PGSSL` (not `PGSSLMODE`).
    PostgresJs,
    /// tokio-postgres (and deadpool, bb8 on it) with passmint-postgres's rustls connector, which
    /// checks what libpq's mode names say.
    TokioPostgres,
    /// sqlx: libpq's mode names, but its `verify-ca` adds the caller's CA to the system's roots
    /// rather than replacing them, so no `verify-ca` vouches for one server.
    Sqlx,
}

impl Driver {
    pub fn from_name(name: &str) -> Option<Driver> {
        match name {
            "libpq" => Some(Driver::Libpq),
            "asyncpg" => Some(Driver::Asyncpg),
            "node-postgres" => Some(Driver::NodePostgres),
            "postgres.js" => Some(Driver::PostgresJs),
            "tokio-postgres" => Some(Driver::TokioPostgres),
            "sqlx" => Some(Driver::Sqlx),
            _ => None,
        }
    }
}

/// What the caller chose, as the binding read it from the driver's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Nothing in the driver's settings (PGSSLMODE may still choose).
    Unset,
    /// A mode name: libpq's `sslmode`, asyncpg's `ssl="..."`. `from` names the setting
    /// (`sslmode`, `ssl`).
    Mode { value: String, from: String },
    /// TLS switched off (`ssl=False`, a falsy node-postgres `ssl`); `shown` as the caller wrote it.
    Off { shown: String },
    /// TLS the caller set up that checks the server's name (asyncpg `ssl=True`, a verifying
    /// `SSLContext`, a node-postgres `ssl` object or `true`).
    Verified,
    /// TLS the caller set up that checks no name; `shown` says how (`an ssl.SSLContext with
    /// check_hostname=False`, `ssl: { rejectUnauthorized: false }`).
    Unverified { shown: String },
}

impl Setting {
    /// A setting from the names the bindings and `tests/vectors/driver_tls.json` use:
    /// `kind` is `unset`, `mode` (with `value` and `from`, default `sslmode`), `off`,
    /// `verified` or `unverified` (with `shown`). `None` for an unknown kind.
    pub fn from_parts(
        kind: &str,
        value: Option<String>,
        from: Option<String>,
        shown: Option<String>,
    ) -> Option<Setting> {
        let shown = shown.unwrap_or_default();
        Some(match kind {
            "unset" => Setting::Unset,
            "mode" => Setting::Mode {
                value: value.unwrap_or_default(),
                from: from.unwrap_or_else(|| "sslmode".into()),
            },
            "off" => Setting::Off { shown },
            "verified" => Setting::Verified,
            "unverified" => Setting::Unverified { shown },
            _ => return None,
        })
    }
}

/// Everything the decision depends on.
#[derive(Clone, Debug)]
pub struct TlsChoice {
    pub driver: Driver,
    pub setting: Setting,
    /// The environment's `PGSSLMODE`, consulted when the setting is [`Setting::Unset`].
    pub pgsslmode: Option<String>,
    /// The CA file the caller named (`sslrootcert`), else the environment's `PGSSLROOTCERT`.
    pub sslrootcert: Option<String>,
    pub pgsslrootcert: Option<String>,
    /// The provider's kind: the advice names the CA its servers need.
    pub provider: ProviderKind,
    /// The helper as the caller wrote it (`passmint.psycopg.connection_class()`).
    pub helper: String,
    pub allow_plaintext: bool,
    pub allow_unverified_tls: bool,
}

/// What the helper does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsDecision {
    /// Nothing chose: add verified TLS (`sslmode=verify-full`, asyncpg `ssl="verify-full"`,
    /// node-postgres `ssl: { rejectUnauthorized: true }`).
    AddVerified,
    /// The caller's choice stands.
    Keep,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Verified,
    Unverified,
    Plaintext,
}

/// The error a driver helper raises when neither the caller (`user`, `PGUSER`) nor the token
/// names a database role: connecting anyway would log in as the OS user. A service principal's
/// app-only Entra token names none; the message says how to find the role.
pub fn missing_user(provider: ProviderKind, helper: &str) -> Error {
    let find = crate::provider::registry::role_hint(provider);
    Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "{helper}: the token names no database role and none was given, and passmint does not connect as the OS user: pass user=<role>, {find}"
        ),
    )
}

/// The decision, or the one error a refused choice gets (`INVALID_CONFIG`, before any token is
/// minted).
pub fn decide(choice: &TlsChoice) -> Result<TlsDecision> {
    let (class, shown) = match &choice.setting {
        Setting::Unset => match non_empty(&choice.pgsslmode) {
            None => return Ok(TlsDecision::AddVerified),
            Some(mode) => (mode_class(choice, mode), format!("PGSSLMODE={mode}")),
        },
        Setting::Mode { value, from } => (mode_class(choice, value), format!("{from}={value}")),
        Setting::Off { shown } => (Class::Plaintext, shown.clone()),
        Setting::Verified => (Class::Verified, String::new()),
        Setting::Unverified { shown } => (Class::Unverified, shown.clone()),
    };
    let allowed = match class {
        Class::Verified => true,
        Class::Plaintext => choice.allow_plaintext,
        Class::Unverified => choice.allow_unverified_tls,
    };
    if allowed {
        Ok(TlsDecision::Keep)
    } else {
        Err(refusal(choice, class, &shown))
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A mode name by the driver's own rules.
fn mode_class(choice: &TlsChoice, mode: &str) -> Class {
    match choice.driver {
        // node-postgres matches PGSSLMODE exactly; all its TLS modes but no-verify mean
        // `ssl: true`, which Node verifies in full; anything else is plaintext.
        Driver::NodePostgres => match mode {
            "prefer" | "require" | "verify-ca" | "verify-full" => Class::Verified,
            "no-verify" => Class::Unverified,
            _ => Class::Plaintext,
        },
        // Postgres.js switches verification off for exactly these three names, and `prefer`
        // falls back to plaintext when the server declines TLS; any other name is Node's
        // default, full verification. The binding reads the URL's `disable`/`false` as off,
        // as Postgres.js does.
        Driver::PostgresJs => match mode {
            "prefer" => Class::Plaintext,
            "require" | "allow" => Class::Unverified,
            _ => Class::Verified,
        },
        Driver::Libpq | Driver::Asyncpg | Driver::TokioPostgres | Driver::Sqlx => {
            match mode.to_ascii_lowercase().as_str() {
                "disable" | "allow" | "prefer" => Class::Plaintext,
                "require" => Class::Unverified,
                "verify-ca" if choice.driver == Driver::Sqlx => Class::Unverified,
                // Only a CA of the caller's vouches for this server alone: the system's roots
                // would make any publicly trusted certificate pass.
                "verify-ca" if !named_ca(choice) => Class::Unverified,
                // verify-full, verify-ca with the caller's CA, or a name the driver itself refuses.
                _ => Class::Verified,
            }
        }
    }
}

fn named_ca(choice: &TlsChoice) -> bool {
    non_empty(&choice.sslrootcert)
        .or(non_empty(&choice.pgsslrootcert))
        .is_some_and(|ca| !ca.eq_ignore_ascii_case("system"))
}

/// What to write instead, in the driver's own terms, with the CA the provider's servers need.
fn advice(choice: &TlsChoice) -> String {
    let bundle = registry::server_ca_bundle(choice.provider);
    match (choice.driver, bundle) {
        (Driver::Libpq, Some(url)) => {
            format!("sslmode=verify-full sslrootcert=global-bundle.pem (from {url})")
        }
        (Driver::Libpq, None) => {
            "sslmode=verify-full sslrootcert=system (libpq 16+; before, a file of the system's roots)".into()
        }
        (Driver::Asyncpg, Some(url)) => {
            format!("ssl='verify-full' with sslrootcert=global-bundle.pem (from {url})")
        }
        (Driver::Asyncpg, None) => {
            "ssl=True (the system's roots, host name checked) or ssl='verify-full' with sslrootcert".into()
        }
        (Driver::NodePostgres, Some(url)) => {
            format!("ssl: {{ rejectUnauthorized: true, ca: <global-bundle.pem from {url}> }}")
        }
        (Driver::NodePostgres, None) => {
            "ssl: { rejectUnauthorized: true } (Node's bundled roots)".into()
        }
        (Driver::PostgresJs, Some(url)) => {
            format!("ssl: {{ ca: <global-bundle.pem from {url}> }}")
        }
        (Driver::PostgresJs, None) => "ssl: 'verify-full' (Node's bundled roots)".into(),
        (Driver::TokioPostgres | Driver::Sqlx, Some(url)) => {
            format!("sslmode=verify-full&sslrootcert=global-bundle.pem (from {url})")
        }
        (Driver::TokioPostgres | Driver::Sqlx, None) => {
            "sslmode=verify-full (the system's roots)".into()
        }
    }
}

/// The opt-in, spelled as the caller's language spells it.
fn opt_in(driver: Driver, class: Class) -> &'static str {
    match (driver, class) {
        (Driver::NodePostgres | Driver::PostgresJs, Class::Plaintext) => "{ allowPlaintext: true }",
        (Driver::NodePostgres | Driver::PostgresJs, _) => "{ allowUnverifiedTls: true }",
        (Driver::TokioPostgres | Driver::Sqlx, Class::Plaintext) => {
            "Options { allow_plaintext: true, .. }"
        }
        (Driver::TokioPostgres | Driver::Sqlx, _) => "Options { allow_unverified_tls: true, .. }",
        (_, Class::Plaintext) => "allow_plaintext=True",
        _ => "allow_unverified_tls=True",
    }
}

fn refusal(choice: &TlsChoice, class: Class, shown: &str) -> Error {
    let (advice, opt_in, helper) = (advice(choice), opt_in(choice.driver, class), &choice.helper);
    let message = if class == Class::Plaintext {
        format!(
            "{shown} lets the driver send the database token without TLS; use {advice}, or pass {opt_in} to {helper} if sending it unencrypted is intended"
        )
    } else {
        // A copied quickstart string needs one word changed.
        let fix = if shown.contains("rejectUnauthorized: false") {
            " (the one-word fix: rejectUnauthorized: true)"
        } else if shown.ends_with("=require") || shown.ends_with("'require'") {
            " (the one-word fix: require -> verify-full)"
        } else {
            ""
        };
        format!(
            "{shown} encrypts but does not check that the server is the one you named, so anyone on the path could take the database token and use it elsewhere; use {advice}{fix}, or pass {opt_in} to {helper} if this is intended"
        )
    };
    Error::new(ErrorKind::InvalidConfig, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tests/vectors/driver_tls.json`, the cases every binding runs too.
    #[test]
    fn the_shared_vectors() {
        let text = include_str!("../../tests/vectors/driver_tls.json");
        let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for case in cases {
            let choice = from_vector(&case);
            let got = decide(&choice);
            let want = case["expect"].as_str().unwrap();
            match (want, &got) {
                ("add_verified", Ok(TlsDecision::AddVerified))
                | ("keep", Ok(TlsDecision::Keep)) => {}
                ("refuse", Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
                    for part in case["message_has"].as_array().into_iter().flatten() {
                        let part = part.as_str().unwrap();
                        assert!(
                            e.message().contains(part),
                            "{case}: `{part}` not in `{}`",
                            e.message()
                        );
                    }
                    for part in case["message_lacks"].as_array().into_iter().flatten() {
                        let part = part.as_str().unwrap();
                        assert!(
                            !e.message().contains(part),
                            "{case}: `{part}` in `{}`",
                            e.message()
                        );
                    }
                }
                _ => panic!("{case}: got {got:?}"),
            }
        }
    }

    fn from_vector(case: &serde_json::Value) -> TlsChoice {
        let s = |k: &str| case[k].as_str().map(str::to_string);
        let setting = &case["setting"];
        let part = |k: &str| setting[k].as_str().map(str::to_string);
        TlsChoice {
            driver: Driver::from_name(case["driver"].as_str().unwrap()).unwrap(),
            setting: Setting::from_parts(
                setting["kind"].as_str().unwrap(),
                part("value"),
                part("from"),
                part("shown"),
            )
            .unwrap(),
            pgsslmode: s("pgsslmode"),
            sslrootcert: s("sslrootcert"),
            pgsslrootcert: s("pgsslrootcert"),
            provider: ProviderKind::from_name(case["provider"].as_str().unwrap()).unwrap(),
            helper: "the helper".into(),
            allow_plaintext: case["allow_plaintext"].as_bool().unwrap_or(false),
            allow_unverified_tls: case["allow_unverified_tls"].as_bool().unwrap_or(false),
        }
    }
}
