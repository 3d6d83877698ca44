//! One error type for every integration: a passmint error (the token, a refused setting) keeps
//! its kind, a driver's error stays the driver's.

/// What a connect through passmint-postgres can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token, or a setting passmint refuses (its [`passmint::ErrorKind`] says which).
    #[error(transparent)]
    Passmint(#[from] passmint::Error),
    /// tokio-postgres failed to connect or to log in. Shown with the server's message: the
    /// driver's own `Display` says only "db error".
    #[cfg(feature = "tokio-postgres")]
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] ::tokio_postgres::Error),
    /// sqlx failed to connect or to log in.
    #[cfg(feature = "sqlx")]
    #[error(transparent)]
    Sqlx(#[from] ::sqlx::Error),
}

impl Error {
    /// The passmint error, if this is one.
    pub fn passmint(&self) -> Option<&passmint::Error> {
        match self {
            Error::Passmint(e) => Some(e),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// tokio-postgres's error with what caused it: the server's message (`password authentication
/// failed for user "app"`, never the password) or the TLS or I/O failure.
#[cfg(feature = "tokio-postgres")]
fn postgres_message(e: &::tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::Passmint(passmint::Error::new(
        passmint::ErrorKind::InvalidConfig,
        message,
    ))
}
