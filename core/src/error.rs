//! One error type for every provider and binding (docs/DESIGN.md §6).
//!
//! Messages say what was tried, what failed and what to do next. They are built by
//! passmint, never by echoing a response body, so they cannot carry a token or secret.

use std::fmt;
use std::sync::Arc;

/// The one table of error kinds (docs/DESIGN.md §6): variant, code, what it means.
/// Every list of kinds elsewhere comes from it: the C status enum is checked against it at
/// compile time (`ffi/src/status.rs`), and `tests/all`'s consistency test holds the Python,
/// TypeScript and Go lists to it.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)*) => {
        /// The kind of failure; the C status name is `PASSMINT_` + [`ErrorKind::code`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorKind {
            /// Every kind, in the order of the C status values (1, 2, ...).
            pub const ALL: [ErrorKind; [$($code),*].len()] = [$(ErrorKind::$variant),*];

            /// The upper-case name shared by every binding (`"INVALID_CONFIG"`, ...).
            pub const fn code(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $code,)*
                }
            }
        }
    };
}

error_kinds! {
    /// A caller passed something unusable (NULL, invalid UTF-8, an empty string).
    InvalidArgument => "INVALID_ARGUMENT",
    /// A provider URL or option is wrong; the message names the fix.
    InvalidConfig => "INVALID_CONFIG",
    /// No credential of the requested kind exists in this environment.
    CredentialUnavailable => "CREDENTIAL_UNAVAILABLE",
    /// The identity endpoint answered and said no.
    AuthenticationFailed => "AUTHENTICATION_FAILED",
    /// The deadline passed before a token could be had.
    Timeout => "TIMEOUT",
    /// The identity endpoint could not be reached.
    Network => "NETWORK",
    /// The identity endpoint answered with something malformed or unexpected.
    ProviderResponse => "PROVIDER_RESPONSE",
    /// A panic was caught at a language boundary.
    Panic => "PANIC",
    /// A bug in passmint.
    Internal => "INTERNAL",
}

impl ErrorKind {
    /// This kind's place in [`ErrorKind::ALL`] (its C status value is one more): the
    /// variants are declared in that order.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A passmint error: a kind and a message meant for the person who has to fix it.
///
/// Cheap to clone, because one failed refresh is reported to every caller waiting on it.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: Arc<str>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: Arc::from(message.into()),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &&*self.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources in one line, each by `Display`, never `Debug`: SDK debug output
/// includes raw HTTP responses, which is noise for a person and could echo an endpoint's body.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}
