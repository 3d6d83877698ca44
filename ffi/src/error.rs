use std::ffi::{CString, c_char};

use crate::boundary::{Shield, free, opt_ref};
use crate::status::passmint_status;

/// An error: a status and a one-line message that says what failed and what to do.
/// Never contains a token or a secret. Free with `passmint_error_free`.
#[derive(Debug)]
pub struct passmint_error {
    status: passmint_status,
    message: CString,
}

impl passmint_error {
    pub(crate) fn new(status: passmint_status, message: &str) -> Box<passmint_error> {
        // Messages are built by passmint and hold no NUL; strip any rather than fail.
        let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
        Box::new(passmint_error { status, message })
    }

    pub(crate) fn from_core(e: &passmint_core::Error) -> Box<passmint_error> {
        Self::new(e.kind().into(), e.message())
    }

    pub(crate) fn text(&self) -> String {
        self.message.to_string_lossy().into_owned()
    }
}

/// The error's status; `PASSMINT_INVALID_ARGUMENT` when `e` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_error_status(e: *const passmint_error) -> passmint_status {
    Shield::value(passmint_status::PASSMINT_PANIC, || match opt_ref(e) {
        Some(e) => e.status,
        None => passmint_status::PASSMINT_INVALID_ARGUMENT,
    })
}

/// The error's message (UTF-8), valid until `passmint_error_free(e)`; NULL when `e` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_error_message(e: *const passmint_error) -> *const c_char {
    Shield::value(std::ptr::null(), || {
        opt_ref(e).map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// Frees an error. NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_error_free(e: *mut passmint_error) {
    Shield::value((), || free(e))
}
