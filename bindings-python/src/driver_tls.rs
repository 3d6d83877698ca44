//! `passmint._native.decide_tls`: the core's driver TLS policy (core/src/driver_tls.rs). The
//! helpers in `passmint._helpers` read the driver's settings; the decision and its message
//! are the core's.

use passmint_core::driver_tls::{Driver, Setting, TlsChoice, TlsDecision, decide};
use passmint_core::{Error, ErrorKind, ProviderKind};
use pyo3::prelude::*;

use crate::errors::to_py;

/// True: add verified TLS; False: the caller's choice stands. Raises `InvalidConfigError`
/// (plaintext or unverified without its opt-in) or `InvalidArgumentError` (an unknown name).
#[pyfunction]
#[pyo3(signature = (*, driver, setting, provider, helper, value=None, source=None, shown=None,
    pgsslmode=None, sslrootcert=None, pgsslrootcert=None, allow_plaintext=false, allow_unverified_tls=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide_tls(
    driver: &str,
    setting: &str,
    provider: &str,
    helper: &str,
    value: Option<String>,
    source: Option<String>,
    shown: Option<String>,
    pgsslmode: Option<String>,
    sslrootcert: Option<String>,
    pgsslrootcert: Option<String>,
    allow_plaintext: bool,
    allow_unverified_tls: bool,
) -> PyResult<bool> {
    let bad = |what: &str| to_py(Error::new(ErrorKind::InvalidArgument, what.to_string()));
    let driver = Driver::from_name(driver).ok_or_else(|| bad("unknown driver"))?;
    let provider = ProviderKind::from_name(provider).ok_or_else(|| bad("unknown provider kind"))?;
    let setting = Setting::from_parts(setting, value, source, shown)
        .ok_or_else(|| bad("unknown TLS setting kind"))?;
    let choice = TlsChoice {
        driver,
        setting,
        pgsslmode,
        sslrootcert,
        pgsslrootcert,
        provider,
        helper: helper.to_string(),
        allow_plaintext,
        allow_unverified_tls,
    };
    match decide(&choice) {
        Ok(TlsDecision::AddVerified) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(to_py(e)),
    }
}

/// Raises the core's "no database role" error (`InvalidConfigError`) for `provider`'s kind.
#[pyfunction]
pub(crate) fn missing_user(provider: &str, helper: &str) -> PyErr {
    match ProviderKind::from_name(provider) {
        Some(kind) => to_py(passmint_core::driver_tls::missing_user(kind, helper)),
        None => to_py(Error::new(
            ErrorKind::InvalidArgument,
            "unknown provider kind",
        )),
    }
}
