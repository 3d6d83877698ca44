//! `Provider::status()`: the health of one provider for operators (docs/DESIGN.md §9), the
//! same in every language. Nothing secret: times, counts, the last error (whose message is
//! built secret-free, error.rs) and the name of the credential in use.

use crate::error::{Error, ErrorKind};

/// A provider's health. The bindings translate it field by field; C and the CLI print
/// [`Status::to_json`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// A token is cached and would be handed out now without a fetch.
    pub cached: bool,
    /// The cached token's expiry (unix seconds).
    pub expires_at: Option<i64>,
    /// When passmint next refreshes (unix seconds): the cached token's refresh time, or after
    /// failures the end of the backoff, whichever is later. `None`: the next call fetches.
    pub next_refresh_at: Option<i64>,
    /// Failed fetches since the last good one. Above zero while `cached` is true: refreshes
    /// are failing and the cached token is still served; alert before `expires_at`.
    pub consecutive_failures: u32,
    /// The last failure's kind and message, while failures continue.
    pub last_error: Option<Error>,
    /// The credential in use, e.g. `managed identity (App Service)`, `Azure CLI`,
    /// `AWS credentials (EcsContainer)`; `None` before the first fetch says which.
    pub credential: Option<String>,
}

impl Status {
    pub fn last_error_kind(&self) -> Option<ErrorKind> {
        self.last_error.as_ref().map(Error::kind)
    }

    pub fn last_error_message(&self) -> Option<&str> {
        self.last_error.as_ref().map(Error::message)
    }

    /// `{"cached":…,"expires_at":…,"next_refresh_at":…,"consecutive_failures":…,
    /// "last_error_kind":…,"last_error_message":…,"credential":…}`, absent values `null`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "cached": self.cached,
            "expires_at": self.expires_at,
            "next_refresh_at": self.next_refresh_at,
            "consecutive_failures": self.consecutive_failures,
            "last_error_kind": self.last_error_kind().map(ErrorKind::code),
            "last_error_message": self.last_error_message(),
            "credential": self.credential,
        })
        .to_string()
    }
}
