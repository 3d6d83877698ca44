use std::ffi::{CString, c_char};

use passmint_core::Provider;

use crate::boundary::{Shield, free, free_string, handle, out_arg, str_arg};
use crate::error::passmint_error;
use crate::status::passmint_status;

/// A configured source of tokens with its own cache. Build one per database target and
/// share it between threads; free it with `passmint_provider_free`.
pub struct passmint_provider {
    pub(crate) inner: Provider,
}

fn build(
    arg: *const c_char,
    what: &str,
    out: *mut *mut passmint_provider,
    err: *mut *mut passmint_error,
    from: fn(&str) -> passmint_core::Result<Provider>,
) -> passmint_status {
    Shield::status(err, || {
        let slot = out_arg(out, "out")?;
        let text = str_arg(arg, what)?;
        let inner = from(text).map_err(|e| passmint_error::from_core(&e))?;
        *slot = Box::into_raw(Box::new(passmint_provider { inner }));
        Ok(())
    })
}

/// Builds a provider from a provider URL (`azure://…`, `dsql://…`, `rds://…`, `gcp://…`,
/// `file:///…`, `exec:?cmd=…`).
///
/// Reads no credentials yet: a bad URL fails here, missing credentials on the first
/// token. On success `*out` is a new provider; on failure it is NULL and `*err` (when
/// `err` is not NULL) explains.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_new(
    url: *const c_char,
    out: *mut *mut passmint_provider,
    err: *mut *mut passmint_error,
) -> passmint_status {
    build(url, "url", out, err, Provider::from_url)
}

/// Builds the provider a postgres URL's host calls for (`*.postgres.database.azure.com`,
/// `*.dsql.<region>.on.aws`, `*.rds.amazonaws.com`); user and port come from the URL.
/// Ownership as in `passmint_provider_new`.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_for_postgres_url(
    pg_url: *const c_char,
    out: *mut *mut passmint_provider,
    err: *mut *mut passmint_error,
) -> passmint_status {
    build(pg_url, "pg_url", out, err, Provider::for_postgres_url)
}

/// Frees a provider. NULL is ignored. Safe while a `passmint_token_get_async` call on it is
/// in flight (that call keeps what it needs); tokens already handed out stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_free(p: *mut passmint_provider) {
    Shield::value((), || free(p))
}

/// The provider's health as JSON, without fetching: `{"cached", "expires_at",
/// "next_refresh_at", "consecutive_failures", "last_error_kind", "last_error_message",
/// "credential"}` (times in unix seconds, absent values `null`; `last_error_kind` is the
/// status name without `PASSMINT_`). `consecutive_failures` above 0 while `cached` is true:
/// refreshes are failing and the cached token is still served. On success `*out_json` is a
/// new string to free with `passmint_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_status_json(
    p: *const passmint_provider,
    out_json: *mut *mut c_char,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        let slot = out_arg(out_json, "out_json")?;
        let provider = handle(p, "provider")?;
        let json = provider.inner.status().to_json();
        // JSON from serde_json never holds a NUL byte (it escapes U+0000).
        let text = CString::new(json).unwrap_or_default();
        *slot = text.into_raw();
        Ok(())
    })
}

/// Drops the provider's cached token, so the next `passmint_token_get` fetches a new one: for a
/// secret rotated before the expiry passmint knew of.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_invalidate(
    p: *const passmint_provider,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        handle(p, "provider")?.inner.invalidate();
        Ok(())
    })
}

/// Tells the provider a server refused `password` (`password authentication failed`). For
/// the sources whose secrets rotate before any expiry passmint knew (`vault://`, `awssm://`,
/// `file://`, `exec:`), the cached token is dropped if it is still that one and `*out_retry`
/// is set to 1: connect again once, with a new token. For IAM tokens it is 0 and nothing is
/// dropped: a refused IAM token is a wrong role or policy, which a retry would hide.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_password_refused(
    p: *const passmint_provider,
    password: *const c_char,
    out_retry: *mut i32,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        let provider = handle(p, "provider")?;
        let password = str_arg(password, "password")?;
        if out_retry.is_null() {
            return Err(crate::boundary::invalid("out_retry is NULL"));
        }
        let retry = provider.inner.password_refused(password);
        // SAFETY: checked non-NULL above; the caller owns an int there.
        unsafe { *out_retry = i32::from(retry) };
        Ok(())
    })
}

/// Frees a string passmint returned (`passmint_provider_status_json`). NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_string_free(s: *mut c_char) {
    Shield::value((), || free_string(s))
}
