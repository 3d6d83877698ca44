//! The provider URL grammar (DESIGN §3) and host-based detection from a postgres URL.
//!
//! Parsing is strict on purpose: a typo in a parameter name silently ignored would mint a
//! token for the wrong role or region and surface later as a baffling server-side
//! "PAM authentication failed".

use crate::error::{Error, Result};
use percent_encoding::percent_decode_str;

/// Longest RDS/DSQL token lifetime AWS accepts (one week).
pub(crate) const MAX_EXPIRES_IN: u64 = 604_800;
pub(crate) const DEFAULT_EXPIRES_IN: u64 = 900;
/// RDS accepts nothing longer; every SDK hard-codes it.
pub(crate) const RDS_EXPIRES_IN: u64 = 900;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProviderConfig {
    Dsql(DsqlConfig),
    Rds(RdsConfig),
    Azure(AzureConfig),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DsqlConfig {
    pub host: String,
    pub region: String,
    pub user: String,
    pub expires_in: u64,
    pub profile: Option<String>,
}

impl DsqlConfig {
    /// DSQL has one built-in superuser role whose tokens use a different IAM action.
    pub fn action(&self) -> &'static str {
        if self.user == "admin" {
            "DbConnectAdmin"
        } else {
            "DbConnect"
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RdsConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub region: String,
    pub profile: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AzureCredential {
    Auto,
    Environment,
    Workload,
    Managed,
    Cli,
    Azd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AzureCloud {
    Public,
    UsGov,
    China,
}

impl AzureCloud {
    pub fn default_scope(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://ossrdbms-aad.database.windows.net/.default",
            AzureCloud::UsGov => "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
            AzureCloud::China => "https://ossrdbms-aad.database.chinacloudapi.cn/.default",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AzureConfig {
    pub credential: AzureCredential,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub resource_id: Option<String>,
    pub tenant_id: Option<String>,
    pub cloud: AzureCloud,
    pub scope: String,
    pub user: Option<String>,
}

const DSQL_PARAMS: &[&str] = &["region", "user", "expires_in", "profile"];
const RDS_PARAMS: &[&str] = &["region", "user", "profile"];
const AZURE_PARAMS: &[&str] = &[
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

/// Parses `dsql://…`, `rds://…` or `azure://…`.
pub(crate) fn parse_provider_url(input: &str) -> Result<ProviderConfig> {
    let input = input.trim();
    if input.is_empty() {
        return Err(Error::config(
            "empty provider URL: pass one of dsql://<cluster>?region=…, rds://<host>:<port>?user=…&region=…, azure://",
        ));
    }
    let Some((scheme, rest)) = input.split_once("://") else {
        return Err(Error::config(format!(
            "`{}` is not a provider URL: expected dsql://, rds:// or azure:// (for a postgres URL use for_postgres_url / --for)",
            shorten(input)
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    let allowed = match scheme.as_str() {
        "dsql" => DSQL_PARAMS,
        "rds" => RDS_PARAMS,
        "azure" => AZURE_PARAMS,
        "postgres" | "postgresql" => {
            return Err(Error::config(
                "this is a postgres URL, not a provider URL: pass it to for_postgres_url (C: passmint_provider_for_postgres_url, CLI: --for)",
            ));
        }
        other => {
            return Err(Error::config(format!(
                "unknown provider `{}`: use dsql://, rds:// or azure://",
                shorten(other)
            )));
        }
    };
    if rest.contains('#') {
        return Err(Error::config(
            "provider URLs take no #fragment: remove everything from `#`",
        ));
    }
    let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = match authority_path.split_once('/') {
        None => authority_path,
        Some((a, "")) => a,
        Some((_, path)) => {
            return Err(Error::config(format!(
                "provider URLs take no path (found `/{}`): put options in the query, e.g. ?user=app",
                shorten(path)
            )));
        }
    };
    if authority.contains('@') {
        return Err(Error::config(
            "provider URLs take no user@ part: pass the database role as ?user=<role>",
        ));
    }
    let query = Query::parse(query, &scheme, allowed)?;
    match scheme.as_str() {
        "dsql" => parse_dsql(authority, query),
        "rds" => parse_rds(authority, query),
        _ => parse_azure(authority, query),
    }
}

/// Decoded query parameters, checked against the names a scheme accepts.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(query: &str, scheme: &str, allowed: &[&str]) -> Result<Query> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(Error::config(format!(
                    "query parameter `{}` has no value: write it as name=value",
                    shorten(part)
                )));
            };
            let k = decode(k, "parameter name")?;
            let v = decode(v, &k)?;
            if !allowed.contains(&k.as_str()) {
                return Err(Error::config(format!(
                    "unknown parameter `{}` for {scheme}://: accepted are {}",
                    shorten(&k),
                    allowed.join(", ")
                )));
            }
            if pairs.iter().any(|(existing, _)| *existing == k) {
                return Err(Error::config(format!(
                    "parameter `{k}` is given twice: keep one"
                )));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    /// A parameter that, when present, must not be empty.
    fn get(&self, name: &str) -> Result<Option<&str>> {
        match self.pairs.iter().find(|(k, _)| k == name) {
            None => Ok(None),
            Some((_, v)) if v.is_empty() => Err(Error::config(format!(
                "parameter `{name}` is empty: give it a value or leave it out"
            ))),
            Some((_, v)) => Ok(Some(v)),
        }
    }
}

fn decode(s: &str, what: &str) -> Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            Error::config(format!(
                "`{}` is not valid UTF-8 once percent-decoded: fix the %XX escapes",
                shorten(what)
            ))
        })
}

fn parse_dsql(authority: &str, q: Query) -> Result<ProviderConfig> {
    if authority.is_empty() {
        return Err(Error::config(
            "dsql:// needs a cluster: dsql://<id>.dsql.<region>.on.aws or dsql://<cluster-id>?region=<region>",
        ));
    }
    if authority.contains(':') {
        return Err(Error::config(
            "dsql:// takes no port: DSQL tokens are signed for the host alone, drop `:<port>`",
        ));
    }
    let host = authority.to_ascii_lowercase();
    validate_host(&host)?;
    let explicit = q.get("region")?.map(validate_region).transpose()?;
    let (host, region) = if !host.contains('.') {
        let Some(region) = explicit else {
            return Err(Error::config(format!(
                "dsql://{host} is a bare cluster id, which needs a region: add ?region=<region> (e.g. us-east-1) or use the full endpoint {host}.dsql.<region>.on.aws"
            )));
        };
        (format!("{host}.dsql.{region}.on.aws"), region)
    } else {
        let parsed = dsql_region(&host);
        let region = match (explicit, parsed) {
            (Some(e), Some(p)) if e != p => {
                return Err(Error::config(format!(
                    "region `{e}` contradicts the endpoint's region `{p}`: drop ?region= or fix it"
                )));
            }
            (Some(e), _) => e,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(Error::config(format!(
                    "cannot tell the region of `{host}`: add ?region=<region> (e.g. us-east-1)"
                )));
            }
        };
        (host, region)
    };
    let user = user_param(&q)?.unwrap_or_else(|| "admin".to_string());
    let expires_in = match q.get("expires_in")? {
        None => DEFAULT_EXPIRES_IN,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_EXPIRES_IN).contains(&n) => n,
            _ => {
                return Err(Error::config(format!(
                    "expires_in `{}` is out of range: give whole seconds from 1 to {MAX_EXPIRES_IN} (default {DEFAULT_EXPIRES_IN})",
                    shorten(v)
                )));
            }
        },
    };
    Ok(ProviderConfig::Dsql(DsqlConfig {
        host,
        region,
        user,
        expires_in,
        profile: q.get("profile")?.map(str::to_owned),
    }))
}

fn parse_rds(authority: &str, q: Query) -> Result<ProviderConfig> {
    let (host, port) = match authority.rsplit_once(':') {
        None => (authority, 5432),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(n) if n > 0 => (h, n),
            _ => {
                return Err(Error::config(format!(
                    "port `{}` is not a TCP port: use 1-65535 (default 5432)",
                    shorten(p)
                )));
            }
        },
    };
    if host.is_empty() {
        return Err(Error::config(
            "rds:// needs the database host: rds://<host>:<port>?user=<role>&region=<region>",
        ));
    }
    let host = host.to_ascii_lowercase();
    validate_host(&host)?;
    let Some(user) = user_param(&q)? else {
        return Err(Error::config(
            "rds:// needs ?user=<role>: the database user is signed into the token",
        ));
    };
    let region = match (
        q.get("region")?.map(validate_region).transpose()?,
        rds_region(&host),
    ) {
        (Some(e), _) => e,
        (None, Some(p)) => p,
        (None, None) => {
            return Err(Error::config(format!(
                "cannot tell the AWS region of `{host}`: add ?region=<region> (e.g. eu-west-1); passmint never guesses us-east-1"
            )));
        }
    };
    Ok(ProviderConfig::Rds(RdsConfig {
        host,
        port,
        user,
        region,
        profile: q.get("profile")?.map(str::to_owned),
    }))
}

fn parse_azure(authority: &str, q: Query) -> Result<ProviderConfig> {
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
    let cloud = match q.get("cloud")? {
        None | Some("public") => AzureCloud::Public,
        Some("usgov") => AzureCloud::UsGov,
        Some("china") => AzureCloud::China,
        Some(other) => {
            return Err(Error::config(format!(
                "unknown cloud `{}`: use public, usgov or china",
                shorten(other)
            )));
        }
    };
    let client_id = q
        .get("client_id")?
        .map(|v| guid(v, "client_id"))
        .transpose()?;
    let object_id = q
        .get("object_id")?
        .map(|v| guid(v, "object_id"))
        .transpose()?;
    let resource_id = q.get("resource_id")?.map(str::to_owned);
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
    let tenant_id = q.get("tenant_id")?.map(str::to_owned);
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
        Some(s) => azure_scope(s, flag(&q, "allow_custom_scope")?)?,
    };
    Ok(ProviderConfig::Azure(AzureConfig {
        credential,
        client_id,
        object_id,
        resource_id,
        tenant_id,
        cloud,
        scope,
        user: user_param(&q)?,
    }))
}

/// A requested scope: one of the clouds' Azure Database for PostgreSQL scopes (with or without
/// `/.default`), or, with `allow_custom_scope`, any resource scope. A token is the database's
/// password: one minted for ARM, Key Vault or Graph must not be handed to a server by a typo,
/// since that server (or whoever answers in its place) could then use it there.
fn azure_scope(scope: &str, custom: bool) -> Result<String> {
    let clouds = [AzureCloud::Public, AzureCloud::UsGov, AzureCloud::China];
    let resource = scope.trim_end_matches("/.default").trim_end_matches('/');
    if let Some(cloud) = clouds
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

/// A yes/no parameter: `true`/`1` or `false`/`0`, absent meaning no.
fn flag(q: &Query, name: &str) -> Result<bool> {
    match q.get(name)? {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(Error::config(format!(
            "{name} `{}` is not a yes/no value: use true or false",
            shorten(other)
        ))),
    }
}

fn user_param(q: &Query) -> Result<Option<String>> {
    Ok(q.get("user")?.map(str::to_owned))
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

fn validate_host(host: &str) -> Result<()> {
    let ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "`{}` is not a valid host name (letters, digits, `-` and `.` only): use the endpoint shown in the cloud's console",
            shorten(host)
        )))
    }
}

fn validate_region(region: &str) -> Result<String> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region.contains('-')
        && region.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(region.to_string())
    } else {
        Err(Error::config(format!(
            "`{}` is not an AWS region: use a region code such as us-east-1",
            shorten(region)
        )))
    }
}

/// `<id>.dsql.<region>.on.aws` → region.
fn dsql_region(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [_id, "dsql", region, "on", "aws"] => validate_region(region).ok(),
        _ => None,
    }
}

/// `*.<region>.rds.amazonaws.com` (and `.com.cn`) → region.
fn rds_region(host: &str) -> Option<String> {
    let stem = host
        .strip_suffix(".rds.amazonaws.com")
        .or_else(|| host.strip_suffix(".rds.amazonaws.com.cn"))?;
    let region = stem.rsplit('.').next()?;
    if region == stem {
        return None;
    }
    validate_region(region).ok()
}

/// Picks the provider from a `postgres://` / `postgresql://` URL's host (DESIGN §3).
pub(crate) fn parse_postgres_url(input: &str) -> Result<ProviderConfig> {
    let input = input.trim();
    let lower = input.to_ascii_lowercase();
    if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
        // The input is not echoed: a postgres URL may carry a password.
        return Err(Error::config(
            "not a postgres URL: expected postgresql://user@host:port/dbname",
        ));
    }
    let url = url::Url::parse(input).map_err(|e| {
        Error::config(format!(
            "cannot parse the postgres URL ({e}): expected postgresql://user@host:port/dbname"
        ))
    })?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_end_matches('.').to_ascii_lowercase(),
        _ => {
            return Err(Error::config(
                "the postgres URL has no host: expected postgresql://user@host:port/dbname",
            ));
        }
    };
    // Held to the provider URLs' rule: the host is signed into AWS tokens, where `&`, `=`,
    // `%`, `/` or `?` would change what the signature covers.
    validate_host(&host)?;
    let user = match url.username() {
        "" => None,
        u => Some(decode(u, "user name")?),
    };
    let port = url.port().unwrap_or(5432);
    if port == 0 {
        return Err(Error::config("port 0 is not a TCP port: use 1-65535"));
    }

    let azure_cloud = [
        (".postgres.database.azure.com", AzureCloud::Public),
        (".postgres.database.usgovcloudapi.net", AzureCloud::UsGov),
        (".postgres.database.chinacloudapi.cn", AzureCloud::China),
    ]
    .into_iter()
    .find(|(suffix, _)| host.ends_with(suffix))
    .map(|(_, cloud)| cloud);
    if let Some(cloud) = azure_cloud {
        return Ok(ProviderConfig::Azure(AzureConfig {
            credential: AzureCredential::Auto,
            client_id: None,
            object_id: None,
            resource_id: None,
            tenant_id: None,
            cloud,
            scope: cloud.default_scope().to_string(),
            user,
        }));
    }
    if let Some(region) = dsql_region(&host) {
        return Ok(ProviderConfig::Dsql(DsqlConfig {
            host,
            region,
            user: user.unwrap_or_else(|| "admin".to_string()),
            expires_in: DEFAULT_EXPIRES_IN,
            profile: None,
        }));
    }
    if host.ends_with(".rds.amazonaws.com") || host.ends_with(".rds.amazonaws.com.cn") {
        let Some(user) = user else {
            return Err(Error::config(
                "the postgres URL has no user, and RDS signs the user into the token: write postgresql://<role>@host/db",
            ));
        };
        let Some(region) = rds_region(&host) else {
            return Err(Error::config(format!(
                "cannot tell the AWS region of `{host}`: pass rds://{host}:{port}?user=…&region=<region> instead"
            )));
        };
        return Ok(ProviderConfig::Rds(RdsConfig {
            host,
            port,
            user,
            region,
            profile: None,
        }));
    }
    Err(Error::config(format!(
        "cannot tell which cloud `{host}` belongs to: pass a provider URL instead (rds://{host}:{port}?user=<role>&region=<region>, dsql://<cluster>?region=<region>, or azure://)"
    )))
}

/// Keeps messages one readable line even when the input is a megabyte of junk.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}
