//! `passmint_provider_from_callback`: a C function as a token source. passmint calls it on one
//! of its own threads with a `passmint_completion`, which the function (or any thread it hands
//! it to, at any time) completes exactly once with `passmint_completion_token` or
//! `passmint_completion_error`. The cache, single flight, deadline and backoff are the core's.

use std::ffi::{c_char, c_void};

use passmint_core::{Completion, ErrorKind, Minted, Provider, callback_error};

use crate::boundary::{Failed, Shield, handle, invalid, out_arg, str_arg};
use crate::error::passmint_error;
use crate::provider::passmint_provider;
use crate::status::passmint_status;

/// One call's answer, owned by the callback until it completes it (which frees it).
pub struct passmint_completion {
    inner: Completion,
}

/// A token source: called with the `user_data` given to `passmint_provider_from_callback`
/// and a completion that it must complete exactly once, from any thread. It may block (it runs
/// on passmint's blocking pool, never on the caller's thread); callers wait at most the
/// deadline (10 s), and a completion that comes later is ignored.
pub type passmint_source_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, completion: *mut passmint_completion)>;

/// A C function and its `user_data`, called on passmint's blocking pool with a completion
/// (`T`: `passmint_completion`, `passmint_aws_completion`) that it then owns.
pub(crate) struct Caller<T> {
    cb: unsafe extern "C" fn(*mut c_void, *mut T),
    user_data: *mut c_void,
}

// SAFETY: the caller of the constructor vouches that `cb` may be called with `user_data` from
// passmint's threads; passmint only passes it back, never dereferences it.
unsafe impl<T> Send for Caller<T> {}
unsafe impl<T> Sync for Caller<T> {}

impl<T> Caller<T> {
    pub(crate) fn new(
        cb: Option<unsafe extern "C" fn(*mut c_void, *mut T)>,
        user_data: *mut c_void,
    ) -> Result<Caller<T>, Failed> {
        let cb = cb.ok_or_else(|| invalid("cb is NULL"))?;
        Ok(Caller { cb, user_data })
    }

    pub(crate) fn call(&self, completion: T) {
        let completion = Box::into_raw(Box::new(completion));
        // SAFETY: the caller's function, called with its user_data and a completion that it
        // now owns (the constructors' contract).
        unsafe { (self.cb)(self.user_data, completion) };
    }
}

/// Takes back a completion the callback finishes: NULL is refused; any other pointer came from
/// [`Caller::call`] and is completed once (the contract).
pub(crate) fn take<T>(c: *mut T) -> Result<T, Failed> {
    handle(c, "completion")?;
    // SAFETY: see above.
    Ok(*unsafe { Box::from_raw(c) })
}

/// Completes `done` with the callback's answer; an answer whose arguments were unusable fails
/// the waiting callers with PROVIDER_RESPONSE and the completion call itself with the reason.
pub(crate) fn answered<T>(
    done: Completion<T>,
    answer: Result<T, Failed>,
    what: &str,
) -> Result<(), Failed> {
    match answer {
        Ok(value) => {
            done.complete(Ok(value));
            Ok(())
        }
        Err(e) => {
            let why = format!("the {what}'s answer: {}", e.text());
            done.complete(Err(callback_error(ErrorKind::ProviderResponse, &why)));
            Err(e)
        }
    }
}

/// The error a callback reported: `status` is the kind (a `passmint_status` other than
/// PASSMINT_OK; any other value means PASSMINT_PROVIDER_RESPONSE), `message` (NULL: none) is
/// scrubbed of anything secret-shaped.
pub(crate) fn reported(status: i32, message: *const c_char, what: &str) -> passmint_core::Error {
    let kind = usize::try_from(status)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| ErrorKind::ALL.get(i).copied())
        .unwrap_or(ErrorKind::ProviderResponse);
    let text = if message.is_null() {
        format!("the {what} failed")
    } else {
        str_arg(message, "message")
            .map(str::to_string)
            .unwrap_or_else(|_| format!("the {what} failed (its message is not UTF-8)"))
    };
    callback_error(kind, &text)
}

/// A provider over `cb` (see `passmint_source_callback`). Its tokens' provider is
/// `"callback"`. `user_data` must stay valid until the provider is freed and its calls have
/// completed. On success `*out` is a new provider for `passmint_provider_free`.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_from_callback(
    cb: passmint_source_callback,
    user_data: *mut c_void,
    out: *mut *mut passmint_provider,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        let slot = out_arg(out, "out")?;
        let source = Caller::new(cb, user_data)?;
        let inner = Provider::from_async_callback("token callback (C)", move |done| {
            source.call(passmint_completion { inner: done })
        });
        *slot = Box::into_raw(Box::new(passmint_provider { inner }));
        Ok(())
    })
}

/// Completes a call with a token valid until `expires_at` (unix seconds) for `username`
/// (NULL: none). Frees the completion, also when an argument is wrong (the call then fails
/// with PASSMINT_PROVIDER_RESPONSE, and this returns PASSMINT_INVALID_ARGUMENT).
#[unsafe(no_mangle)]
pub extern "C" fn passmint_completion_token(
    completion: *mut passmint_completion,
    token: *const c_char,
    expires_at: i64,
    username: *const c_char,
) -> passmint_status {
    Shield::status(std::ptr::null_mut(), || {
        let done = take(completion)?.inner;
        let answer = str_arg(token, "token").and_then(|t| {
            let minted = Minted::new(t, expires_at);
            if username.is_null() {
                Ok(minted)
            } else {
                str_arg(username, "username").map(|u| minted.with_username(u))
            }
        });
        answered(done, answer, "token callback")
    })
}

/// Completes a call with an error: `status` is the kind (a `passmint_status` other than
/// PASSMINT_OK; any other value means PASSMINT_PROVIDER_RESPONSE) and `message` (NULL: none)
/// reaches the callers, scrubbed of anything token-shaped. Frees the completion.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_completion_error(
    completion: *mut passmint_completion,
    status: i32,
    message: *const c_char,
) -> passmint_status {
    Shield::status(std::ptr::null_mut(), || {
        let done = take(completion)?.inner;
        done.complete(Err(reported(status, message, "token callback")));
        Ok(())
    })
}
