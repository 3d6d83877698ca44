//! What every integration decides the same way before it connects: the TLS mode (by
//! `passmint::driver_tls`, whose rules and messages all bindings share) and the role.

use passmint::driver_tls::{self, Driver, Setting, TlsChoice, TlsDecision};
use passmint::{Provider, Token};

use crate::error::{Error, invalid};

/// The opt-ins of passmint's driver helpers, in every language: by default a token travels
/// only over TLS that checks the server's name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Let `sslmode=disable`, `allow` or `prefer` stand: the token may travel unencrypted.
    pub allow_plaintext: bool,
    /// Let `sslmode=require`, and `verify-ca` without a CA file of yours (under sqlx, any
    /// `verify-ca`), stand: TLS that does not check the server's name.
    pub allow_unverified_tls: bool,
}

/// libpq's `sslmode` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Allow => "allow",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }

    fn parse(name: &str) -> Option<Mode> {
        Some(match name {
            "disable" => Mode::Disable,
            "allow" => Mode::Allow,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => return None,
        })
    }
}

/// How to connect: the mode that stands after passmint's rules, and the CA file, if any
/// (`None` or `system`: the system's roots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsPlan {
    pub mode: Mode,
    pub root_cert: Option<String>,
}

/// The caller's TLS choice as a driver reads it.
pub(crate) struct Chosen<'a> {
    pub driver: Driver,
    /// The helper as a caller writes it, for messages.
    pub helper: &'a str,
    /// `sslmode` from the caller's settings.
    pub mode: Option<&'a str>,
    /// `sslrootcert` from the caller's settings.
    pub root_cert: Option<&'a str>,
    /// Whether the driver reads `PGSSLMODE` and `PGSSLROOTCERT` (sqlx does, tokio-postgres not).
    pub env: bool,
}

pub(crate) fn plan(
    chosen: &Chosen<'_>,
    provider: &Provider,
    options: Options,
) -> Result<TlsPlan, Error> {
    let env = |name: &str| {
        chosen
            .env
            .then(|| std::env::var(name).ok())
            .flatten()
            .filter(|v| !v.trim().is_empty())
    };
    let pgsslrootcert = env("PGSSLROOTCERT");
    // A mode is read strictly before the policy sees it: a name the policy does not know counts
    // as verified there, so ` disable` or `disable\n` must never reach it and then connect as
    // `disable`. PGSSLMODE is trimmed, as the policy reads it.
    let explicit = chosen
        .mode
        .map(|m| parse(m, &format!("sslmode={m}"), chosen.helper))
        .transpose()?;
    let pgsslmode = match (explicit, env("PGSSLMODE")) {
        (None, Some(m)) => Some(parse(m.trim(), &format!("PGSSLMODE={m}"), chosen.helper)?),
        _ => None,
    };
    let setting = match explicit {
        Some(mode) => Setting::Mode {
            value: mode.name().into(),
            from: "sslmode".into(),
        },
        None => Setting::Unset,
    };
    let decision = driver_tls::decide(&TlsChoice {
        driver: chosen.driver,
        setting,
        pgsslmode: pgsslmode.map(|m| m.name().to_string()),
        sslrootcert: chosen.root_cert.map(str::to_string),
        pgsslrootcert: pgsslrootcert.clone(),
        provider: provider.provider_kind(),
        helper: chosen.helper.to_string(),
        allow_plaintext: options.allow_plaintext,
        allow_unverified_tls: options.allow_unverified_tls,
    })?;
    let mode = match decision {
        TlsDecision::AddVerified => Mode::VerifyFull,
        TlsDecision::Keep => explicit.or(pgsslmode).unwrap_or(Mode::VerifyFull),
    };
    let root_cert = chosen.root_cert.map(str::to_string).or(pgsslrootcert);
    Ok(TlsPlan { mode, root_cert })
}

fn parse(name: &str, shown: &str, helper: &str) -> Result<Mode, Error> {
    Mode::parse(name).ok_or_else(|| {
        invalid(format!(
            "{helper}: {} is not a TLS mode; use one of disable, allow, prefer, require, verify-ca, verify-full",
            shown.escape_debug()
        ))
    })
}

/// The role to log in as when the caller named none: the token's, else the provider's. `None`
/// when the caller named one. Never the OS user.
pub(crate) fn role(
    given: Option<&str>,
    token: &Token,
    provider: &Provider,
    helper: &str,
) -> Result<Option<String>, Error> {
    if given.is_some_and(|u| !u.is_empty()) {
        return Ok(None);
    }
    token
        .username()
        .or(provider.username())
        .map(|u| Some(u.to_string()))
        .ok_or_else(|| driver_tls::missing_user(provider.provider_kind(), helper).into())
}
