//! `passmint_provider_with_aws_credentials`: a `dsql://` or `rds://` provider that signs with AWS
//! credentials from a C function instead of the default chain (a vault, an in-house broker, a
//! process of your own). passmint calls it on one of its own threads with a
//! `passmint_aws_completion`, completed exactly once, from any thread, with
//! `passmint_aws_completion_credentials` or `passmint_aws_completion_error`. Signing, the
//! credentials cache and the token's bound by their expiry are the core's.

use std::ffi::{c_char, c_void};

use passmint_core::{AwsCredentials, Completion, Provider};

use crate::boundary::{Failed, Shield, out_arg, str_arg};
use crate::callback::{Caller, answered, reported, take};
use crate::error::passmint_error;
use crate::provider::passmint_provider;
use crate::status::passmint_status;

/// One request for credentials, owned by the callback until it completes it (which frees it).
pub struct passmint_aws_completion {
    inner: Completion<AwsCredentials>,
}

/// An AWS credentials source: called with the `user_data` given to
/// `passmint_provider_with_aws_credentials` and a completion that it must complete exactly
/// once, from any thread. passmint calls it when its credentials cache needs credentials (once
/// for any number of callers, again ahead of their expiry); it may block. Callers wait at most
/// the deadline (10 s).
pub type passmint_aws_credentials_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, completion: *mut passmint_aws_completion)>;

/// A provider for `url` (`dsql://…` or `rds://…`; anything else is PASSMINT_INVALID_ARGUMENT)
/// that signs with credentials from `cb`. `user_data` must stay valid until the provider is
/// freed and its calls have completed. On success `*out` is a new provider for
/// `passmint_provider_free`.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_provider_with_aws_credentials(
    url: *const c_char,
    cb: passmint_aws_credentials_callback,
    user_data: *mut c_void,
    out: *mut *mut passmint_provider,
    err: *mut *mut passmint_error,
) -> passmint_status {
    Shield::status(err, || {
        let slot = out_arg(out, "out")?;
        let url = str_arg(url, "url")?;
        let source = Caller::new(cb, user_data)?;
        let inner = Provider::from_url_with_async_aws_credentials(url, move |done| {
            source.call(passmint_aws_completion { inner: done })
        })
        .map_err(|e| passmint_error::from_core(&e))?;
        *slot = Box::into_raw(Box::new(passmint_provider { inner }));
        Ok(())
    })
}

/// Completes a request with credentials: `session_token` NULL for long-term keys, `expires_at`
/// their expiry in unix seconds (0: none). passmint copies the strings. Frees the completion,
/// also when an argument is wrong (the request then fails with PASSMINT_PROVIDER_RESPONSE, and
/// this returns PASSMINT_INVALID_ARGUMENT).
#[unsafe(no_mangle)]
pub extern "C" fn passmint_aws_completion_credentials(
    completion: *mut passmint_aws_completion,
    access_key_id: *const c_char,
    secret_access_key: *const c_char,
    session_token: *const c_char,
    expires_at: i64,
) -> passmint_status {
    Shield::status(std::ptr::null_mut(), || {
        let done = take(completion)?.inner;
        let answer = (|| -> Result<AwsCredentials, Failed> {
            Ok(AwsCredentials {
                access_key_id: str_arg(access_key_id, "access_key_id")?.to_string(),
                secret_access_key: str_arg(secret_access_key, "secret_access_key")?.to_string(),
                session_token: if session_token.is_null() {
                    None
                } else {
                    Some(str_arg(session_token, "session_token")?.to_string())
                },
                expires_at: (expires_at != 0).then_some(expires_at),
            })
        })();
        answered(done, answer, "AWS credentials callback")
    })
}

/// Completes a request with an error, as `passmint_completion_error` does for a token
/// callback: `status` is the kind, `message` (NULL: none) reaches the callers, scrubbed.
/// Frees the completion.
#[unsafe(no_mangle)]
pub extern "C" fn passmint_aws_completion_error(
    completion: *mut passmint_aws_completion,
    status: i32,
    message: *const c_char,
) -> passmint_status {
    Shield::status(std::ptr::null_mut(), || {
        let done = take(completion)?.inner;
        done.complete(Err(reported(status, message, "AWS credentials callback")));
        Ok(())
    })
}
