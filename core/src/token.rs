//! The minted password and what is known about it.

use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

use crate::kind::ProviderKind;

/// A short-lived database password.
///
/// Cloning is an `Arc` increment, so a cache hit hands one out without copying the secret.
/// The secret is zeroized when the last clone is dropped and never shown by `Debug`.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

struct Inner {
    secret: Zeroizing<String>,
    expires_at: i64,
    username: Option<String>,
    kind: ProviderKind,
}

impl Token {
    pub(crate) fn new(
        secret: String,
        expires_at: i64,
        username: Option<String>,
        kind: ProviderKind,
    ) -> Self {
        Token {
            inner: Arc::new(Inner {
                secret: Zeroizing::new(secret),
                expires_at,
                username,
                kind,
            }),
        }
    }

    /// The password to send to the server.
    pub fn secret(&self) -> &str {
        &self.inner.secret
    }

    /// When the server stops accepting it, in unix seconds.
    pub fn expires_at(&self) -> i64 {
        self.inner.expires_at
    }

    /// The database role the token is for, when the provider can know it.
    pub fn username(&self) -> Option<&str> {
        self.inner.username.as_deref()
    }

    /// The provider kind's name: `"dsql"`, `"rds"` or `"azure"`.
    pub fn provider(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// The provider kind.
    pub fn kind(&self) -> ProviderKind {
        self.inner.kind
    }

    /// Whether both are clones of one minted token (a cache hit returns the same token).
    pub fn same_as(&self, other: &Token) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("provider", &self.inner.kind.name())
            .field("username", &self.inner.username)
            .field("expires_at", &self.inner.expires_at)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} token", self.inner.kind)?;
        if let Some(user) = &self.inner.username {
            write!(f, " for {user}")?;
        }
        write!(
            f,
            " expiring at {} (secret redacted)",
            self.inner.expires_at
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let t = Token::new(
            "s3cr3t-value".into(),
            42,
            Some("app".into()),
            ProviderKind::Rds,
        );
        assert!(!format!("{t:?}").contains("s3cr3t"));
        assert!(!format!("{t}").contains("s3cr3t"));
        assert!(format!("{t:?}").contains("app"));
        assert_eq!(t.secret(), "s3cr3t-value");
    }
}
