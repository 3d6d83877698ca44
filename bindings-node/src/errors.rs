//! Core errors as N-API values: thrown (sync calls) or resolved as a `Failure` (async calls,
//! whose deferred can only reject with a generic status). Either way the JS side sees `code`,
//! the C status name (docs/DESIGN.md §6), and the core's message, which never holds a secret.

use napi_derive::napi;

/// The C status name of a core error: `PASSMINT_` + the kind's code.
pub(crate) fn status_name(e: &passmint_core::Error) -> String {
    format!("PASSMINT_{}", e.kind().code())
}

/// The `status` of a thrown N-API error, which becomes the JS error's `.code`.
pub struct Code(String);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

pub type Result<T> = napi::Result<T, Code>;

pub(crate) fn thrown(e: passmint_core::Error) -> napi::Error<Code> {
    napi::Error::new(Code(status_name(&e)), e.message())
}

/// What an async call resolves with when it failed; `lib/index.ts` turns it into a
/// `PassmintError`, so the stack trace is captured where the caller awaited.
#[napi(object)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    /// For a request passmint dropped without answering (a panic, or a runtime that could not
    /// run it): the promise still settles, and the event loop is not held open.
    pub(crate) fn dropped() -> Self {
        Failure {
            code: "PASSMINT_INTERNAL".into(),
            message:
                "passmint dropped this token request before it finished (its runtime failed to \
                      start or panicked); the next call starts a new one"
                    .into(),
        }
    }
}

impl From<passmint_core::Error> for Failure {
    fn from(e: passmint_core::Error) -> Self {
        Failure {
            code: status_name(&e),
            message: e.message().to_string(),
        }
    }
}

/// Runs `f`, turning a panic into a `PASSMINT_PANIC` error: unwinding out of an N-API callback
/// would abort the process.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(napi::Error::new(
            Code("PASSMINT_PANIC".into()),
            format!("passmint panicked ({what}); please report it"),
        ))
    })
}
