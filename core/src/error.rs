//! One error type for every provider and binding (DESIGN §6).
//!
//! Messages say what was tried, what failed and what to do next. They are built by
//! passmint, never by echoing a response body, so they cannot carry a token or secret.

use std::fmt;
use std::sync::Arc;

/// The kind of failure; the C status name is `PASSMINT_` + [`ErrorKind::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A caller passed something unusable (NULL, invalid UTF-8, an empty string).
    InvalidArgument,
    /// A provider URL or option is wrong; the message names the fix.
    InvalidConfig,
    /// No credential of the requested kind exists in this environment.
    CredentialUnavailable,
    /// The identity endpoint answered and said no.
    AuthenticationFailed,
    /// The deadline passed before a token could be had.
    Timeout,
    /// The identity endpoint could not be reached.
    Network,
    /// The identity endpoint answered with something malformed or unexpected.
    ProviderResponse,
    /// A panic was caught at a language boundary.
    Panic,
    /// A bug in passmint.
    Internal,
}

impl ErrorKind {
    /// The upper-case name shared by every binding (`"INVALID_CONFIG"`, ...).
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::InvalidConfig => "INVALID_CONFIG",
            ErrorKind::CredentialUnavailable => "CREDENTIAL_UNAVAILABLE",
            ErrorKind::AuthenticationFailed => "AUTHENTICATION_FAILED",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Network => "NETWORK",
            ErrorKind::ProviderResponse => "PROVIDER_RESPONSE",
            ErrorKind::Panic => "PANIC",
            ErrorKind::Internal => "INTERNAL",
        }
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
