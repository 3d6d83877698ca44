use std::ffi::c_char;

use passmint_core::ErrorKind;

/// The outcome of a call. `PASSMINT_` + the error kind every passmint binding shares.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum passmint_status {
    PASSMINT_OK = 0,
    /// A NULL pointer, invalid UTF-8 or another unusable argument.
    PASSMINT_INVALID_ARGUMENT = 1,
    /// The provider URL or configuration is wrong; the message names the fix.
    PASSMINT_INVALID_CONFIG = 2,
    /// No credential of the requested kind exists in this environment.
    PASSMINT_CREDENTIAL_UNAVAILABLE = 3,
    /// The identity endpoint answered and refused.
    PASSMINT_AUTHENTICATION_FAILED = 4,
    /// The deadline (10 s) passed before a token could be had.
    PASSMINT_TIMEOUT = 5,
    /// The identity endpoint could not be reached.
    PASSMINT_NETWORK = 6,
    /// The identity endpoint's answer was malformed or unexpected.
    PASSMINT_PROVIDER_RESPONSE = 7,
    /// A panic inside passmint was caught at this boundary (a bug: please report it).
    PASSMINT_PANIC = 8,
    /// A bug in passmint.
    PASSMINT_INTERNAL = 9,
}

impl From<ErrorKind> for passmint_status {
    fn from(kind: ErrorKind) -> Self {
        use passmint_status::*;
        match kind {
            ErrorKind::InvalidArgument => PASSMINT_INVALID_ARGUMENT,
            ErrorKind::InvalidConfig => PASSMINT_INVALID_CONFIG,
            ErrorKind::CredentialUnavailable => PASSMINT_CREDENTIAL_UNAVAILABLE,
            ErrorKind::AuthenticationFailed => PASSMINT_AUTHENTICATION_FAILED,
            ErrorKind::Timeout => PASSMINT_TIMEOUT,
            ErrorKind::Network => PASSMINT_NETWORK,
            ErrorKind::ProviderResponse => PASSMINT_PROVIDER_RESPONSE,
            ErrorKind::Panic => PASSMINT_PANIC,
            _ => PASSMINT_INTERNAL,
        }
    }
}

/// The status's name, e.g. `"PASSMINT_TIMEOUT"`: a static string, never NULL (an
/// out-of-range value gives `"PASSMINT_UNKNOWN"`).
///
/// Takes an `int` rather than the enum so that any value a caller holds is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_status_name(status: i32) -> *const c_char {
    let name: &'static [u8] = match status {
        0 => b"PASSMINT_OK\0",
        1 => b"PASSMINT_INVALID_ARGUMENT\0",
        2 => b"PASSMINT_INVALID_CONFIG\0",
        3 => b"PASSMINT_CREDENTIAL_UNAVAILABLE\0",
        4 => b"PASSMINT_AUTHENTICATION_FAILED\0",
        5 => b"PASSMINT_TIMEOUT\0",
        6 => b"PASSMINT_NETWORK\0",
        7 => b"PASSMINT_PROVIDER_RESPONSE\0",
        8 => b"PASSMINT_PANIC\0",
        9 => b"PASSMINT_INTERNAL\0",
        _ => b"PASSMINT_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

/// passmint's version, e.g. `"0.1.0"`: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
