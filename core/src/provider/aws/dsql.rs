//! Aurora DSQL IAM tokens (`dsql://`): `https://<host>/?Action=DbConnect[Admin]`, service
//! `dsql`, signed for the host alone.

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::sigv4::{self, Presign, presign};
use super::{Target, from_chain, region, validate_region};
use crate::error::{Error, Result};
use crate::kind::ProviderKind;
use crate::provider::registry::{Built, Ctx, Scheme};
use crate::url::{PgTarget, Query, shorten, validate_host};

/// Longest token lifetime AWS accepts (one week).
const MAX_EXPIRES_IN: u64 = 604_800;
const DEFAULT_EXPIRES_IN: u64 = 900;

pub(crate) const DSQL: Scheme = Scheme {
    kind: ProviderKind::Dsql,
    authority: &["host"],
    path: false,
    role_hint: "the database role the IAM policy allows",
    rotates: false,
    params: &["region", "user", "expires_in", "profile"],
    example: "dsql://<cluster>?region=<region>",
    server_ca_bundle: None,
    build,
    for_postgres,
    stated_expiry: sigv4::stated_expiry,
};

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

fn build(authority: &str, query: &Query, ctx: &Ctx) -> Result<Built> {
    Ok(from_chain(Target::Dsql(parse(authority, query)?), ctx))
}

pub(crate) fn parse(authority: &str, q: &Query) -> Result<DsqlConfig> {
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
    let profile = q.owned("profile")?;
    let region = region::resolve(
        "dsql",
        &host,
        explicit,
        region_of(&host),
        profile.as_deref(),
    )?;
    // A bare cluster id expands to its endpoint in the region.
    let host = if host.contains('.') {
        host
    } else {
        format!("{host}.dsql.{region}.on.aws")
    };
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
    Ok(DsqlConfig {
        host,
        region,
        user: q.owned("user")?.unwrap_or_else(|| "admin".to_string()),
        expires_in,
        profile,
    })
}

/// `<id>.dsql.<region>.on.aws` → region.
fn region_of(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [_id, "dsql", region, "on", "aws"] => validate_region(region).ok(),
        _ => None,
    }
}

/// A postgres URL's `*.dsql.<region>.on.aws` host; the user defaults to `admin`.
fn for_postgres(pg: &PgTarget, ctx: &Ctx) -> Option<Result<Built>> {
    let region = region_of(&pg.host)?;
    let config = DsqlConfig {
        host: pg.host.clone(),
        region,
        user: pg.user.clone().unwrap_or_else(|| "admin".to_string()),
        expires_in: DEFAULT_EXPIRES_IN,
        profile: None,
    };
    Some(Ok(from_chain(Target::Dsql(config), ctx)))
}

pub(crate) fn sign(cfg: &DsqlConfig, creds: &Credentials, time: SystemTime) -> Result<String> {
    let query = format!("Action={}", cfg.action());
    presign(
        &Presign {
            authority: &cfg.host,
            query: &query,
            service: "dsql",
            region: &cfg.region,
            expires_in: cfg.expires_in,
        },
        creds,
        time,
    )
}
