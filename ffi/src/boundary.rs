//! What every entry point does at the language boundary: catch panics (unwinding into C
//! is undefined behaviour), check pointers, and hand errors out through `err`.

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::passmint_error;
use crate::status::passmint_status;

pub(crate) type Failed = Box<passmint_error>;

pub(crate) struct Shield;

impl Shield {
    /// Runs an infallible entry point; a panic yields `on_panic`.
    pub fn value<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
    }

    /// Runs a fallible entry point: its error (or a caught panic) is written to `*err` when
    /// `err` is not NULL, and its status returned. On success `*err` is set to NULL.
    pub fn status(
        err: *mut *mut passmint_error,
        f: impl FnOnce() -> Result<(), Failed>,
    ) -> passmint_status {
        let outcome = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(passmint_error::new(
                passmint_status::PASSMINT_PANIC,
                &format!("passmint panicked (a bug; please report it): {what}"),
            ))
        });
        let (status, error) = match outcome {
            Ok(()) => (passmint_status::PASSMINT_OK, std::ptr::null_mut()),
            Err(e) => (crate::error::passmint_error_status(&*e), Box::into_raw(e)),
        };
        if err.is_null() {
            if !error.is_null() {
                // SAFETY: `error` was just made by Box::into_raw and is owned here.
                drop(unsafe { Box::from_raw(error) });
            }
        } else {
            // SAFETY: a non-NULL `err` points to writable storage for one pointer (contract).
            unsafe { *err = error };
        }
        status
    }
}

pub(crate) fn invalid(message: &str) -> Failed {
    passmint_error::new(passmint_status::PASSMINT_INVALID_ARGUMENT, message)
}

/// A required, NUL-terminated UTF-8 string argument.
pub(crate) fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failed> {
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    // SAFETY: a non-NULL `p` points to a NUL-terminated string that outlives this call.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| invalid(&format!("{what} is not valid UTF-8")))
}

/// A required out-parameter, cleared to NULL so that it is NULL whenever the call fails.
pub(crate) fn out_arg<'a, T>(out: *mut *mut T, what: &str) -> Result<&'a mut *mut T, Failed> {
    // SAFETY: a non-NULL `out` points to writable storage for one pointer (contract).
    let slot = unsafe { out.as_mut() }.ok_or_else(|| invalid(&format!("{what} is NULL")))?;
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// A handle argument, `None` when NULL.
pub(crate) fn opt_ref<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: a non-NULL handle came from passmint and has not been freed (contract).
    unsafe { p.as_ref() }
}

/// A required handle argument.
pub(crate) fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failed> {
    opt_ref(p).ok_or_else(|| invalid(&format!("{what} is NULL")))
}

/// Frees a handle made by `Box::into_raw` in this crate; NULL is ignored.
pub(crate) fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw in this crate and is freed once (contract).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Frees a string made by `CString::into_raw` in this crate; NULL is ignored.
pub(crate) fn free_string(p: *mut std::ffi::c_char) {
    if !p.is_null() {
        // SAFETY: `p` came from CString::into_raw in this crate and is freed once (contract).
        drop(unsafe { std::ffi::CString::from_raw(p) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{passmint_error_free, passmint_error_message};

    fn message(e: *mut passmint_error) -> String {
        let text = unsafe { CStr::from_ptr(passmint_error_message(e)) }
            .to_string_lossy()
            .into_owned();
        passmint_error_free(e);
        text
    }

    #[test]
    fn a_panic_becomes_a_status_and_an_error() {
        let mut err = std::ptr::null_mut();
        let status = Shield::status(&mut err, || panic!("boom"));
        assert_eq!(status, passmint_status::PASSMINT_PANIC);
        assert!(message(err).contains("boom"));
        // Without an error slot the error is freed, not leaked.
        let status = Shield::status(std::ptr::null_mut(), || panic!("boom"));
        assert_eq!(status, passmint_status::PASSMINT_PANIC);
        assert_eq!(Shield::value(7, || panic!("boom")), 7);
    }

    #[test]
    fn strings_must_be_present_and_utf8() {
        assert!(str_arg(std::ptr::null(), "url").is_err());
        let bad = c"caf\xe9";
        let e = str_arg(bad.as_ptr(), "url").unwrap_err();
        assert!(message(Box::into_raw(e)).contains("url is not valid UTF-8"));
        assert_eq!(str_arg(c"ok".as_ptr(), "url").unwrap(), "ok");
    }

    #[test]
    fn out_parameters_are_cleared_before_anything_can_fail() {
        let mut slot: *mut u8 = std::ptr::dangling_mut();
        out_arg(&mut slot, "out").unwrap();
        assert!(slot.is_null());
        assert!(out_arg::<u8>(std::ptr::null_mut(), "out").is_err());
    }
}
