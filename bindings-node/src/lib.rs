//! The native half of the npm package `passmint`: the core's `Provider` translated to N-API.
//!
//! It is private to the package. `lib/index.ts` is the public API: it turns the failures this
//! module reports into `PassmintError`, wraps tokens so `util.inspect` hides the secret, and
//! holds the driver helpers. Cache, single-flight and deadlines all stay in the core.

mod errors;
mod provider;
mod secret;

/// The package version: the Rust crates and the npm package share it.
#[napi_derive::napi]
pub fn native_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
