//! The native half of the npm package `passmint`: the core's `Provider` translated to N-API.
//!
//! It is private to the package. `lib/` is the public API, one file per job mirroring the
//! Python package: it turns the failures this module reports into `PassmintError`, wraps tokens
//! so `util.inspect` hides the secret, and holds the driver helpers. Cache, single-flight,
//! deadlines, parameter checks and the TLS policy all stay in the core.

pub mod callback;
pub mod driver_tls;
mod errors;
mod provider;
mod secret;

/// The package version: the Rust crates and the npm package share it.
#[napi_derive::napi]
pub fn native_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The OSS RDBMS scope of an Azure cloud (`public`, `usgov`, `china`).
#[napi_derive::napi]
pub fn azure_scope(cloud: String) -> errors::Result<&'static str> {
    errors::guarded(|| passmint_core::azure_scope(&cloud).map_err(errors::thrown))
}

/// The core's error kinds (`INVALID_CONFIG`, ...): tests hold `lib/errors.ts`'s list to it.
#[napi_derive::napi]
pub fn error_kinds() -> Vec<&'static str> {
    passmint_core::ErrorKind::ALL
        .iter()
        .map(|k| k.code())
        .collect()
}

/// The core's provider kinds (`azure`, `dsql`, `rds`).
#[napi_derive::napi]
pub fn provider_kinds() -> Vec<&'static str> {
    passmint_core::ProviderKind::ALL
        .iter()
        .map(|k| k.name())
        .collect()
}
