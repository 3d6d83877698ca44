//! The sources passmint knows, one line each in [`SCHEMES`]. A source contributes a
//! [`Scheme`]: its URL scheme and parameters, how a provider is built from them, and which
//! postgres hosts are its own. Everything else about it lives in its folder.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

use super::{aws, awssm, azure, exec, file, gcp, vault};

/// The registry: adding a source is its folder under `provider/` and one line here.
pub(crate) const SCHEMES: [&Scheme; 8] = [
    &aws::DSQL,
    &aws::RDS,
    &azure::AZURE,
    &gcp::GCP,
    &vault::VAULT,
    &awssm::AWSSM,
    &file::FILE,
    &exec::EXEC,
];

/// What the cache drives: a configured source that fetches a token (its secret, expiry and,
/// when known, the database role) as a lease.
pub(crate) trait Source: Send + Sync + 'static {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>>;

    /// The credential in use, for `Provider::status()`: known once a fetch has said which.
    fn credential(&self) -> Option<String> {
        None
    }

    /// Whether what the cached token was read from has changed since (a file an agent
    /// rewrote). Asked on every call, so it must be cheap; true once per change, to the first
    /// caller that sees it, and the token is then fetched again.
    fn changed(&self) -> bool {
        false
    }
}

/// What building a provider needs besides its configuration.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub clock: Clock,
    pub deadline: Duration,
    /// The caller's AWS credentials, in place of the default chain (dsql and rds only).
    pub aws_credentials: Option<super::aws::CallerCredentials>,
}

/// A source built from its configuration, before the cache is put in front of it.
pub(crate) struct Built {
    pub kind: ProviderKind,
    /// Host, region and role: enough to tell providers apart in logs, nothing secret.
    pub description: String,
    /// The database role, when configured.
    pub username: Option<String>,
    /// The database host the tokens are for, when the source is for one (a DSQL cluster id
    /// expanded to its endpoint).
    pub host: Option<String>,
    pub source: Arc<dyn Source>,
}

/// A source's entry in the registry.
pub(crate) struct Scheme {
    /// Also the URL scheme (`kind.name()`).
    pub kind: ProviderKind,
    /// The typed builders' fields that make the URL's authority (`host`, `port`), in order.
    pub authority: &'static [&'static str],
    /// Whether its URLs carry a path (`vault://…/<mount>/creds/<role>`, `file:///<path>`):
    /// `build` then gets the authority and the path as one (`host:port/mount/creds/role`),
    /// and the typed builders take it as the field `path`.
    pub path: bool,
    /// Whether its secrets can change before the expiry passmint knew (secret stores, files,
    /// commands): a password the server refused is then worth one retry with a fresh one
    /// (`Provider::password_refused`). An IAM token refused is a wrong role or policy, which a
    /// retry would only hide.
    pub rotates: bool,
    /// Where to find the database role when neither the caller nor the token names one, for
    /// the driver helpers' refusal to connect as the OS user.
    pub role_hint: &'static str,
    /// The query parameters it accepts.
    pub params: &'static [&'static str],
    /// The URL's shape, for messages: `dsql://<cluster>?region=<region>`.
    pub example: &'static str,
    /// Where to get the CA its database servers need, when the system's roots do not do.
    pub server_ca_bundle: Option<&'static str>,
    /// A provider from the URL's authority and query (no network).
    pub build: fn(authority: &str, query: &Query, ctx: &Ctx) -> Result<Built>,
    /// Its rule for a postgres URL: `None` when the host is not its own.
    pub for_postgres: fn(target: &PgTarget, ctx: &Ctx) -> Option<Result<Built>>,
    /// The expiry a token states itself (unix seconds): what a token read back from the shared
    /// cache is held to, whatever the file says. `None`: not one of this source's tokens.
    pub stated_expiry: fn(token: &str) -> Option<i64>,
}

pub(crate) fn by_name(name: &str) -> Option<&'static Scheme> {
    SCHEMES.iter().copied().find(|s| s.kind.name() == name)
}

/// The scheme of a kind that has one (every kind but `Callback`).
pub(crate) fn by_kind(kind: ProviderKind) -> Option<&'static Scheme> {
    SCHEMES.iter().copied().find(|s| s.kind == kind)
}

/// [`Scheme::stated_expiry`] for a kind (`None` for `Callback`, which has no scheme).
pub(crate) fn stated_expiry(kind: ProviderKind, token: &str) -> Option<i64> {
    by_kind(kind).and_then(|s| (s.stated_expiry)(token))
}

/// [`Scheme::rotates`] for a kind (`false` for `Callback`, which has no scheme).
pub(crate) fn rotates(kind: ProviderKind) -> bool {
    by_kind(kind).is_some_and(|s| s.rotates)
}

/// [`Scheme::role_hint`] for a kind; a callback's names the callback's `username`.
pub(crate) fn role_hint(kind: ProviderKind) -> &'static str {
    by_kind(kind).map_or(
        "the database role your token is for (or return `username` from the callback)",
        |s| s.role_hint,
    )
}

/// Where a kind's database servers get their CA when the system's roots do not do.
pub(crate) fn server_ca_bundle(kind: ProviderKind) -> Option<&'static str> {
    by_kind(kind).and_then(|s| s.server_ca_bundle)
}

/// `dsql://<cluster>?region=<region>, rds://…, azure://`: for messages.
pub(crate) fn examples() -> String {
    SCHEMES
        .iter()
        .map(|s| s.example)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `dsql://, rds://, azure:// or gcp://`: for messages.
pub(crate) fn scheme_list() -> String {
    let names: Vec<String> = SCHEMES
        .iter()
        .map(|s| format!("{}://", s.kind.name()))
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// A provider from a provider URL.
pub(crate) fn from_url(input: &str, ctx: &Ctx) -> Result<Built> {
    let parts = crate::url::split(input, &examples())?;
    let Some(scheme) = by_name(&parts.scheme) else {
        return Err(Error::config(format!(
            "unknown provider `{}`: use {}",
            crate::url::shorten(&parts.scheme),
            scheme_list()
        )));
    };
    let query = Query::parse(parts.query, &parts.scheme, scheme.params)?;
    if scheme.path {
        let location = format!("{}/{}", parts.authority, parts.path);
        return (scheme.build)(&location, &query, ctx);
    }
    if !parts.path.is_empty() {
        return Err(crate::url::no_path(parts.path));
    }
    (scheme.build)(parts.authority, &query, ctx)
}

/// The provider a postgres URL's host calls for: the first source whose rule claims it.
pub(crate) fn for_postgres_url(input: &str, ctx: &Ctx) -> Result<Built> {
    let target = crate::url::parse_postgres_url(input)?;
    for scheme in SCHEMES {
        if let Some(built) = (scheme.for_postgres)(&target, ctx) {
            return built;
        }
    }
    Err(Error::config(format!(
        "cannot tell which cloud `{}` belongs to: pass a provider URL instead ({})",
        target.host,
        examples()
    )))
}

/// A provider from a typed builder's fields (`dsql(host, region=…)` in Python, `dsql({ host,
/// region })` in Node): the same parameters as the URL, without a URL in between. An unknown
/// field is the caller's argument mistake.
pub(crate) fn from_fields(name: &str, fields: Vec<(String, String)>, ctx: &Ctx) -> Result<Built> {
    let Some(scheme) = by_name(name) else {
        return Err(crate::url::invalid_argument(format!(
            "unknown provider kind `{}`: use {}",
            crate::url::shorten(name),
            SCHEMES
                .iter()
                .map(|s| s.kind.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let mut authority: Vec<Option<String>> = vec![None; scheme.authority.len()];
    let mut params = Vec::new();
    let mut path = None;
    for (field, value) in fields {
        if scheme.path && field == "path" {
            path = Some(value);
        } else if let Some(i) = scheme.authority.iter().position(|a| *a == field) {
            // A URL passed as the host by mistake may carry a password: refused unquoted.
            if field == "host"
                && (value.is_empty()
                    || value.contains(|c: char| c.is_whitespace() || "/?#@\\".contains(c)))
            {
                return Err(crate::url::invalid_argument(format!(
                    "{name}(): host must be a bare host name (no scheme, user, path, query or spaces)"
                )));
            }
            authority[i] = Some(value);
        } else if scheme.params.contains(&field.as_str()) {
            params.push((field, value));
        } else {
            let path: &[&str] = if scheme.path { &["path"] } else { &[] };
            let known: Vec<&str> = scheme
                .authority
                .iter()
                .chain(path)
                .chain(scheme.params)
                .copied()
                .collect();
            return Err(crate::url::invalid_argument(format!(
                "{name}(): unknown option `{}` (known: {})",
                crate::url::shorten(&field),
                known.join(", ")
            )));
        }
    }
    let query = Query::from_pairs(params, name, scheme.params)?;
    // host, then :port when given: the authority the URL would carry.
    let authority = match (
        authority.first().cloned().flatten(),
        authority.get(1).cloned().flatten(),
    ) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host,
        (None, Some(port)) => format!(":{port}"),
        (None, None) => String::new(),
    };
    if scheme.path {
        // As the URL would carry it: a `%` in a file name is not the start of an escape.
        let path = path.unwrap_or_default().replace('%', "%25");
        let location = format!("{authority}/{}", path.trim_start_matches('/'));
        return (scheme.build)(&location, &query, ctx);
    }
    (scheme.build)(&authority, &query, ctx)
}
