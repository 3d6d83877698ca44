use pyo3::prelude::*;
use pyo3::types::PyString;

/// A minted token. `repr()` and `str()` show everything but the secret.
///
/// Holds the core's token (a shared reference, zeroized when its last holder lets go), not
/// a copy of its secret: the only copies are the Python strings `secret` hands out.
#[pyclass(module = "passmint", name = "Token", frozen)]
pub(crate) struct Token {
    token: passmint_core::Token,
}

impl Token {
    pub(crate) fn new(t: &passmint_core::Token) -> Token {
        Token { token: t.clone() }
    }
}

#[pymethods]
impl Token {
    /// The password to send to the server.
    #[getter]
    fn secret<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.token.secret())
    }

    /// When the server stops accepting it (unix seconds).
    #[getter]
    fn expires_at(&self) -> i64 {
        self.token.expires_at()
    }

    /// The database role the token is for, when known.
    #[getter]
    fn username(&self) -> Option<&str> {
        self.token.username()
    }

    /// "azure", "dsql" or "rds".
    #[getter]
    fn provider(&self) -> &'static str {
        self.token.provider()
    }

    fn __repr__(&self) -> String {
        format!(
            "passmint.Token(provider={:?}, username={}, expires_at={}, secret=<redacted>)",
            self.token.provider(),
            self.token
                .username()
                .map_or("None".to_string(), |u| format!("{u:?}")),
            self.token.expires_at()
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passmint_core::offline::{Signer, StaticCredentials};

    /// Review finding 6: the Python Token kept a plain `String` copy of the secret, never
    /// wiped. It now shares the core's token, whose secret is zeroized on its last drop
    /// (core/tests/zeroize.rs).
    #[test]
    fn a_python_token_shares_the_core_token_and_copies_no_secret() {
        let creds = StaticCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let core = Signer::new("dsql://abc.dsql.us-east-1.on.aws", &creds)
            .unwrap()
            .into_provider()
            .token_blocking()
            .unwrap();
        let py = Token::new(&core);
        assert!(py.token.same_as(&core));
        assert!(std::ptr::eq(py.token.secret(), core.secret()));
    }
}
