//! The one list of provider kinds. Bindings name a kind by [`ProviderKind::name`]; the C
//! library's static strings are checked against this list at compile time, and `tests/all`'s
//! consistency test holds the TypeScript union to it.

use std::fmt;

/// Which source a provider mints from. Each has its folder under `core/src/provider/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderKind {
    /// Microsoft Entra ID, for Azure Database for PostgreSQL (`azure://`).
    Azure,
    /// Aurora DSQL IAM (`dsql://`).
    Dsql,
    /// RDS and Aurora IAM (`rds://`).
    Rds,
    /// Google Cloud SQL and AlloyDB IAM, from Application Default Credentials (`gcp://`).
    Gcp,
    /// HashiCorp Vault or OpenBao credentials (`vault://`).
    Vault,
    /// A database secret in AWS Secrets Manager (`awssm://`).
    Awssm,
    /// A password file an agent keeps current (`file://`).
    File,
    /// A token command (`exec:`).
    Exec,
    /// The caller's own token callback (`Provider::from_fn`, `from_callable`, `fromFunction`,
    /// `passmint_provider_from_callback`): no URL scheme.
    Callback,
}

impl ProviderKind {
    /// Every kind, in declaration order.
    pub const ALL: [ProviderKind; 9] = [
        ProviderKind::Azure,
        ProviderKind::Dsql,
        ProviderKind::Rds,
        ProviderKind::Gcp,
        ProviderKind::Vault,
        ProviderKind::Awssm,
        ProviderKind::File,
        ProviderKind::Exec,
        ProviderKind::Callback,
    ];

    /// The name every binding uses (`"azure"`, `"dsql"`, `"rds"`, `"gcp"`, `"vault"`, `"awssm"`, `"file"`, `"exec"`,
    /// `"callback"`): also the URL
    /// scheme, for the kinds that have one.
    pub const fn name(self) -> &'static str {
        match self {
            ProviderKind::Azure => "azure",
            ProviderKind::Dsql => "dsql",
            ProviderKind::Rds => "rds",
            ProviderKind::Gcp => "gcp",
            ProviderKind::Vault => "vault",
            ProviderKind::Awssm => "awssm",
            ProviderKind::File => "file",
            ProviderKind::Exec => "exec",
            ProviderKind::Callback => "callback",
        }
    }

    /// The kind a binding named by [`ProviderKind::name`].
    pub fn from_name(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// This kind's place in [`ProviderKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
