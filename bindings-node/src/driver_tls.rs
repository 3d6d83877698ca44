//! `decideTls`: the core's driver TLS policy (core/src/driver_tls.rs) for `lib/tls.ts`, which
//! reads node-postgres's settings; the decision and its message are the core's.

use napi_derive::napi;
use passmint_core::driver_tls::{Driver, Setting, TlsChoice, TlsDecision, decide};
use passmint_core::{Error, ErrorKind, ProviderKind};

use crate::errors::{Result, guarded, thrown};

/// What the caller chose, as `lib/tls.ts` read it.
#[napi(object)]
pub struct NativeTlsChoice {
    pub driver: String,
    /// `unset`, `mode`, `off`, `verified` or `unverified`.
    pub setting: String,
    pub value: Option<String>,
    pub source: Option<String>,
    pub shown: Option<String>,
    pub pgsslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub pgsslrootcert: Option<String>,
    pub provider: String,
    pub helper: String,
    pub allow_plaintext: bool,
    pub allow_unverified_tls: bool,
}

/// `true`: add verified TLS; `false`: the caller's choice stands. Throws the refusal.
#[napi]
pub fn decide_tls(choice: NativeTlsChoice) -> Result<bool> {
    guarded(|| {
        let bad = |what: &str| thrown(Error::new(ErrorKind::InvalidArgument, what.to_string()));
        let driver = Driver::from_name(&choice.driver).ok_or_else(|| bad("unknown driver"))?;
        let provider = ProviderKind::from_name(&choice.provider)
            .ok_or_else(|| bad("unknown provider kind"))?;
        let setting =
            Setting::from_parts(&choice.setting, choice.value, choice.source, choice.shown)
                .ok_or_else(|| bad("unknown TLS setting kind"))?;
        let decided = decide(&TlsChoice {
            driver,
            setting,
            pgsslmode: choice.pgsslmode,
            sslrootcert: choice.sslrootcert,
            pgsslrootcert: choice.pgsslrootcert,
            provider,
            helper: choice.helper,
            allow_plaintext: choice.allow_plaintext,
            allow_unverified_tls: choice.allow_unverified_tls,
        });
        match decided {
            Ok(TlsDecision::AddVerified) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(thrown(e)),
        }
    })
}

/// Throws the core's "no database role" error (`PASSMINT_INVALID_CONFIG`) for `provider`'s kind.
#[napi]
pub fn missing_user(provider: String, helper: String) -> Result<()> {
    let error = match ProviderKind::from_name(&provider) {
        Some(kind) => passmint_core::driver_tls::missing_user(kind, &helper),
        None => Error::new(ErrorKind::InvalidArgument, "unknown provider kind"),
    };
    Err(thrown(error))
}
