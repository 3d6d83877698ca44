//! A Python callable as the core's token source (`Provider.from_callable`; the package's
//! `passmint/_callback.py` prepares sync and async callables and normalises their answers). The core runs it on its blocking pool with the GIL; the cache,
//! deadline and backoff are the core's.

use pyo3::prelude::*;

use passmint_core::{AwsCredentials, ErrorKind, Minted, callback_error};

/// Calls `call()`, which returns `(token, expires_at, username or None)` or raises.
pub(crate) fn invoke(call: &Py<PyAny>) -> passmint_core::Result<Minted> {
    crate::with_interpreter(|py| {
        let answer = call.call0(py).map_err(|e| raised(py, &e))?;
        let (secret, expires_at, username): (String, i64, Option<String>) =
            answer.extract(py).map_err(|_| {
                callback_error(
                    ErrorKind::ProviderResponse,
                    "the token callback's answer is not (token, expires_at, username)",
                )
            })?;
        let minted = Minted::new(secret, expires_at);
        Ok(match username {
            Some(user) => minted.with_username(user),
            None => minted,
        })
    })
    .unwrap_or_else(|| Err(exiting()))
}

/// Calls `call()`, which returns `(access_key_id, secret, session_token, expires_at)`.
pub(crate) fn aws_credentials(call: &Py<PyAny>) -> passmint_core::Result<AwsCredentials> {
    crate::with_interpreter(|py| {
        let answer = call.call0(py).map_err(|e| raised(py, &e))?;
        let (access_key_id, secret_access_key, session_token, expires_at): (
            String,
            String,
            Option<String>,
            Option<i64>,
        ) = answer.extract(py).map_err(|_| {
            callback_error(
                ErrorKind::ProviderResponse,
                "the AWS credentials are not (access_key_id, secret_access_key, session_token, expires_at)",
            )
        })?;
        Ok(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expires_at,
        })
    })
    .unwrap_or_else(|| Err(exiting()))
}

/// The interpreter is exiting: no call into it (see `crate::with_interpreter`).
fn exiting() -> passmint_core::Error {
    callback_error(
        ErrorKind::Internal,
        "the Python callback was not called: the interpreter is exiting",
    )
}

/// A Python exception as a passmint error: a passmint exception keeps its kind and message,
/// any other is `PROVIDER_RESPONSE` with `the token callback raised Type: message`.
fn raised(py: Python<'_>, e: &PyErr) -> passmint_core::Error {
    let value = e.value(py);
    let own = value
        .getattr("code")
        .ok()
        .and_then(|c| c.extract::<String>().ok())
        .and_then(|code| ErrorKind::ALL.into_iter().find(|k| k.code() == code));
    if let Some(kind) = own {
        let message = value.str().map(|s| s.to_string()).unwrap_or_default();
        return callback_error(kind, &message);
    }
    let kind = ErrorKind::ProviderResponse;
    let type_name = value
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    callback_error(
        kind,
        &format!("the token callback raised {type_name}: {message}"),
    )
}
