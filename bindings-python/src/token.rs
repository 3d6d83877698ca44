use pyo3::prelude::*;

/// A minted token. `repr()` and `str()` show everything but the secret.
#[pyclass(module = "passmint", name = "Token", frozen)]
pub(crate) struct Token {
    /// The password to send to the server.
    #[pyo3(get)]
    secret: String,
    /// When the server stops accepting it (unix seconds).
    #[pyo3(get)]
    expires_at: i64,
    /// The database role the token is for, when known.
    #[pyo3(get)]
    username: Option<String>,
    /// "azure", "dsql" or "rds".
    #[pyo3(get)]
    provider: &'static str,
}

impl Token {
    pub(crate) fn new(t: &passmint_core::Token) -> Token {
        Token {
            secret: t.secret().to_string(),
            expires_at: t.expires_at(),
            username: t.username().map(str::to_string),
            provider: t.provider(),
        }
    }
}

#[pymethods]
impl Token {
    fn __repr__(&self) -> String {
        format!(
            "passmint.Token(provider={:?}, username={}, expires_at={}, secret=<redacted>)",
            self.provider,
            self.username
                .as_deref()
                .map_or("None".to_string(), |u| format!("{u:?}")),
            self.expires_at
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }
}
