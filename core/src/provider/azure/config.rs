//! `azure://`'s parameters and rules (docs/DESIGN.md §4): which
//! credential, which identity, which cloud and scope; and which postgres hosts are Azure's.

use crate::error::{Error, Result};
use crate::url::{PgTarget, Query, shorten};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AzureCredential {
    Auto,
    Environment,
    Workload,
    Managed,
    Cli,
    Azd,
}

/// The credential kinds, in the order the `auto` chain tries them (docs/DESIGN.md §4).
pub(crate) const CHAIN: &[AzureCredential] = &[
    AzureCredential::Environment,
    AzureCredential::Workload,
    AzureCredential::Managed,
    AzureCredential::Cli,
    AzureCredential::Azd,
];

/// `AZURE_TOKEN_CREDENTIALS`, as azure-identity reads it (trimmed, any case): `dev` and `prod`
/// narrow the chain to the developer's or the deployment's credentials, a credential's class
/// name to that one alone.
const TOKEN_CREDENTIALS_VAR: &str = "AZURE_TOKEN_CREDENTIALS";
const NARROWED: &[(&str, &[AzureCredential])] = &[
    ("dev", &[AzureCredential::Cli, AzureCredential::Azd]),
    (
        "prod",
        &[
            AzureCredential::Environment,
            AzureCredential::Workload,
            AzureCredential::Managed,
        ],
    ),
    ("environmentcredential", &[AzureCredential::Environment]),
    ("workloadidentitycredential", &[AzureCredential::Workload]),
    ("managedidentitycredential", &[AzureCredential::Managed]),
    ("azureclicredential", &[AzureCredential::Cli]),
    ("azuredeveloperclicredential", &[AzureCredential::Azd]),
];
/// azure-identity's other names: valid there, and developer tools passmint does not run.
const NOT_OFFERED: &[&str] = &[
    "visualstudiocodecredential",
    "azurepowershellcredential",
    "interactivebrowsercredential",
];

/// The chain `auto` tries here: all of it, or what `AZURE_TOKEN_CREDENTIALS` leaves.
fn chain_from_env() -> Result<&'static [AzureCredential]> {
    let value = std::env::var(TOKEN_CREDENTIALS_VAR)
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if value.is_empty() {
        return Ok(CHAIN);
    }
    if let Some((_, chain)) = NARROWED.iter().find(|(name, _)| *name == value) {
        return Ok(chain);
    }
    let valid: Vec<&str> = NARROWED.iter().map(|(name, _)| *name).collect();
    let why = if NOT_OFFERED.contains(&value.as_str()) {
        "names a credential passmint does not run".to_string()
    } else {
        format!("is not one of {}", valid.join(", "))
    };
    Err(Error::config(format!(
        "{TOKEN_CREDENTIALS_VAR}={} {why}: set it to one of those (any case), unset it, or pick one credential with azure://?credential=…",
        shorten(&value)
    )))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AzureCloud {
    Public,
    UsGov,
    China,
}

impl AzureCloud {
    const ALL: [AzureCloud; 3] = [AzureCloud::Public, AzureCloud::UsGov, AzureCloud::China];

    pub fn default_scope(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://ossrdbms-aad.database.windows.net/.default",
            AzureCloud::UsGov => "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
            AzureCloud::China => "https://ossrdbms-aad.database.chinacloudapi.cn/.default",
        }
    }

    /// The cloud's Azure Database for PostgreSQL host suffix.
    fn postgres_suffix(self) -> &'static str {
        match self {
            AzureCloud::Public => ".postgres.database.azure.com",
            AzureCloud::UsGov => ".postgres.database.usgovcloudapi.net",
            AzureCloud::China => ".postgres.database.chinacloudapi.cn",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AzureConfig {
    pub credential: AzureCredential,
    /// What `auto` tries, in order (`AZURE_TOKEN_CREDENTIALS` may narrow it); `credential=`
    /// in the URL wins over it.
    pub chain: &'static [AzureCredential],
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub resource_id: Option<String>,
    pub tenant_id: Option<String>,
    pub cloud: AzureCloud,
    pub scope: String,
    pub user: Option<String>,
}

pub(super) const PARAMS: &[&str] = &[
    "credential",
    "client_id",
    "object_id",
    "resource_id",
    "tenant_id",
    "cloud",
    "scope",
    "allow_custom_scope",
    "user",
];

pub(super) fn parse(authority: &str, q: &Query) -> Result<AzureConfig> {
    if !authority.is_empty() {
        return Err(Error::config(format!(
            "azure:// takes no host (found `{}`): the server is chosen by your connection string; write azure://?<options>",
            shorten(authority)
        )));
    }
    let credential = match q.get("credential")? {
        None | Some("auto") => AzureCredential::Auto,
        Some("environment") => AzureCredential::Environment,
        Some("workload") => AzureCredential::Workload,
        Some("managed") => AzureCredential::Managed,
        Some("cli") => AzureCredential::Cli,
        Some("azd") => AzureCredential::Azd,
        Some(other) => {
            return Err(Error::config(format!(
                "unknown credential `{}`: use auto, environment, workload, managed, cli or azd",
                shorten(other)
            )));
        }
    };
    let cloud = cloud_by_name(q.get("cloud")?.unwrap_or("public"))?;
    let client_id = q
        .get("client_id")?
        .map(|v| guid(v, "client_id"))
        .transpose()?;
    let object_id = q
        .get("object_id")?
        .map(|v| guid(v, "object_id"))
        .transpose()?;
    let resource_id = q.owned("resource_id")?;
    if let Some(r) = &resource_id
        && !r.to_ascii_lowercase().starts_with("/subscriptions/")
    {
        return Err(Error::config(
            "resource_id must be the identity's ARM id: /subscriptions/<sub>/resourcegroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>",
        ));
    }
    let ids = [&client_id, &object_id, &resource_id]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if ids > 1 {
        return Err(Error::config(
            "give only one of client_id, object_id, resource_id: each selects a user-assigned identity",
        ));
    }
    if (object_id.is_some() || resource_id.is_some())
        && !matches!(credential, AzureCredential::Auto | AzureCredential::Managed)
    {
        return Err(Error::config(
            "object_id and resource_id select a managed identity: use them with credential=managed (or auto)",
        ));
    }
    let tenant_id = q.owned("tenant_id")?;
    if let Some(t) = &tenant_id
        && !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(Error::config(
            "tenant_id must be a tenant GUID or domain (letters, digits, `-`, `.`)",
        ));
    }
    let scope = match q.get("scope")? {
        None => cloud.default_scope().to_string(),
        Some(s) => scope(s, q.flag("allow_custom_scope")?)?,
    };
    let chain = match credential {
        AzureCredential::Auto => chain_from_env()?,
        _ => CHAIN,
    };
    Ok(AzureConfig {
        credential,
        chain,
        client_id,
        object_id,
        resource_id,
        tenant_id,
        cloud,
        scope,
        user: q.owned("user")?,
    })
}

/// `public`, `usgov` or `china`.
pub(crate) fn cloud_by_name(name: &str) -> Result<AzureCloud> {
    match name {
        "public" => Ok(AzureCloud::Public),
        "usgov" => Ok(AzureCloud::UsGov),
        "china" => Ok(AzureCloud::China),
        other => Err(Error::config(format!(
            "unknown cloud `{}`: use public, usgov or china",
            shorten(other)
        ))),
    }
}

/// A requested scope: one of the clouds' Azure Database for PostgreSQL scopes (with or without
/// `/.default`), or, with `allow_custom_scope`, any resource scope. A token is the database's
/// password: one minted for ARM, Key Vault or Graph must not be handed to a server by a typo,
/// since that server (or whoever answers in its place) could then use it there.
fn scope(scope: &str, custom: bool) -> Result<String> {
    let resource = scope.trim_end_matches("/.default").trim_end_matches('/');
    if let Some(cloud) = AzureCloud::ALL
        .iter()
        .find(|c| c.default_scope().trim_end_matches("/.default") == resource)
    {
        return Ok(cloud.default_scope().to_string());
    }
    if !(scope.starts_with("https://") || scope.starts_with("api://")) {
        return Err(Error::config(format!(
            "scope `{}` is not a resource scope: use https://<resource>/.default",
            shorten(scope)
        )));
    }
    if !custom {
        return Err(Error::config(format!(
            "scope `{}` is not an Azure Database for PostgreSQL scope, and its token would be sent to the server as a password: use https://ossrdbms-aad.database.windows.net/.default (usgov: .usgovcloudapi.net, china: .chinacloudapi.cn), or add allow_custom_scope=true if this server really takes that audience (a proxy, a custom app registration)",
            shorten(scope)
        )));
    }
    Ok(scope.to_string())
}

fn guid(v: &str, name: &str) -> Result<String> {
    let groups: Vec<&str> = v.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip(shape)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::config(format!(
            "{name} `{}` is not a GUID: copy the identity's {name} (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) from the portal or `az identity show`",
            shorten(v)
        )))
    }
}

/// A postgres URL's `*.postgres.database.azure.com` host (or a sovereign cloud's): the
/// credential chain, that cloud's scope, the URL's user.
pub(super) fn for_postgres(pg: &PgTarget) -> Option<Result<AzureConfig>> {
    let cloud = AzureCloud::ALL
        .into_iter()
        .find(|c| pg.host.ends_with(c.postgres_suffix()))?;
    let chain = match chain_from_env() {
        Ok(chain) => chain,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(AzureConfig {
        credential: AzureCredential::Auto,
        chain,
        client_id: None,
        object_id: None,
        resource_id: None,
        tenant_id: None,
        cloud,
        scope: cloud.default_scope().to_string(),
        user: pg.user.clone(),
    }))
}
