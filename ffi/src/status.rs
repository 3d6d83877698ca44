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

/// The status of each error kind, in the order of `ErrorKind::ALL` (the core's one table of
/// kinds). Its length is that table's: a kind added in the core does not compile here until it
/// has its status, so no kind can silently become `PASSMINT_INTERNAL`.
const BY_KIND: [passmint_status; ErrorKind::ALL.len()] = {
    use passmint_status::*;
    [
        PASSMINT_INVALID_ARGUMENT,
        PASSMINT_INVALID_CONFIG,
        PASSMINT_CREDENTIAL_UNAVAILABLE,
        PASSMINT_AUTHENTICATION_FAILED,
        PASSMINT_TIMEOUT,
        PASSMINT_NETWORK,
        PASSMINT_PROVIDER_RESPONSE,
        PASSMINT_PANIC,
        PASSMINT_INTERNAL,
    ]
};

/// Each status's C name, indexed by its value.
const NAMES: [&[u8]; ErrorKind::ALL.len() + 1] = [
    b"PASSMINT_OK\0",
    b"PASSMINT_INVALID_ARGUMENT\0",
    b"PASSMINT_INVALID_CONFIG\0",
    b"PASSMINT_CREDENTIAL_UNAVAILABLE\0",
    b"PASSMINT_AUTHENTICATION_FAILED\0",
    b"PASSMINT_TIMEOUT\0",
    b"PASSMINT_NETWORK\0",
    b"PASSMINT_PROVIDER_RESPONSE\0",
    b"PASSMINT_PANIC\0",
    b"PASSMINT_INTERNAL\0",
];

impl From<ErrorKind> for passmint_status {
    fn from(kind: ErrorKind) -> Self {
        BY_KIND[kind.index()]
    }
}

/// The status's name, e.g. `"PASSMINT_TIMEOUT"`: a static string, never NULL (an
/// out-of-range value gives `"PASSMINT_UNKNOWN"`).
///
/// Takes an `int` rather than the enum so that any value a caller holds is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_status_name(status: i32) -> *const c_char {
    let name: &'static [u8] = usize::try_from(status)
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .unwrap_or(b"PASSMINT_UNKNOWN\0");
    name.as_ptr().cast()
}

/// passmint's version, e.g. `"0.1.0"`: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// Each kind's status is `PASSMINT_` + its code, its value its place in the table plus one.
    #[test]
    fn statuses_follow_the_core_table_of_kinds() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            let status = passmint_status::from(*kind);
            assert_eq!(status as i32, i as i32 + 1, "{kind:?}");
            // SAFETY: a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(passmint_status_name(status as i32)) };
            assert_eq!(name.to_str().unwrap(), format!("PASSMINT_{}", kind.code()));
        }
        let ok = unsafe { CStr::from_ptr(passmint_status_name(0)) };
        assert_eq!(ok.to_str().unwrap(), "PASSMINT_OK");
        let out = unsafe { CStr::from_ptr(passmint_status_name(99)) };
        assert_eq!(out.to_str().unwrap(), "PASSMINT_UNKNOWN");
    }
}
