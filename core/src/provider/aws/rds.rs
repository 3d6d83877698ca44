//! RDS / Aurora IAM tokens (`rds://`): `https://<host>:<port>/?Action=connect&DBUser=<user>`,
//! service `rds-db`, always 900 s.
//!
//! Signed with aws-sigv4 directly rather than aws-sdk-rds, whose generator interpolates the
//! user unescaped (a space panics, `+` is signed as a space) and defaults to us-east-1.

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::sigv4::{self, Presign, presign, push_rfc3986};
use super::{Target, from_chain, region, validate_region};
use crate::error::{Error, Result};
use crate::kind::ProviderKind;
use crate::provider::registry::{Built, Ctx, Scheme};
use crate::url::{PgTarget, Query, shorten, validate_host};

/// RDS accepts nothing longer; every SDK hard-codes it.
pub(crate) const EXPIRES_IN: u64 = 900;

/// RDS and Aurora servers present certificates from Amazon's own CAs, not in any system
/// store: a driver verifies them against this bundle.
pub(crate) const CA_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

pub(crate) const RDS: Scheme = Scheme {
    kind: ProviderKind::Rds,
    authority: &["host", "port"],
    path: false,
    role_hint: "the database role the IAM policy allows",
    rotates: false,
    params: &["region", "user", "profile"],
    example: "rds://<host>:<port>?user=<role>&region=<region>",
    server_ca_bundle: Some(CA_BUNDLE_URL),
    build,
    for_postgres,
    stated_expiry: sigv4::stated_expiry,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RdsConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub region: String,
    pub profile: Option<String>,
}

fn build(authority: &str, query: &Query, ctx: &Ctx) -> Result<Built> {
    Ok(from_chain(Target::Rds(parse(authority, query)?), ctx))
}

pub(crate) fn parse(authority: &str, q: &Query) -> Result<RdsConfig> {
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
    let Some(user) = q.owned("user")? else {
        return Err(Error::config(
            "rds:// needs ?user=<role>: the database user is signed into the token",
        ));
    };
    let profile = q.owned("profile")?;
    let explicit = q.get("region")?.map(validate_region).transpose()?;
    let region = region::resolve("rds", &host, explicit, region_of(&host), profile.as_deref())?;
    Ok(RdsConfig {
        host,
        port,
        user,
        region,
        profile,
    })
}

/// `*.<region>.rds.amazonaws.com` (and `.com.cn`) → region.
fn region_of(host: &str) -> Option<String> {
    let stem = host
        .strip_suffix(".rds.amazonaws.com")
        .or_else(|| host.strip_suffix(".rds.amazonaws.com.cn"))?;
    let region = stem.rsplit('.').next()?;
    if region == stem {
        return None;
    }
    validate_region(region).ok()
}

/// A postgres URL's `*.rds.amazonaws.com` host: its user is required (RDS signs it in).
fn for_postgres(pg: &PgTarget, ctx: &Ctx) -> Option<Result<Built>> {
    let host = &pg.host;
    if !(host.ends_with(".rds.amazonaws.com") || host.ends_with(".rds.amazonaws.com.cn")) {
        return None;
    }
    let Some(user) = pg.user.clone() else {
        return Some(Err(Error::config(
            "the postgres URL has no user, and RDS signs the user into the token: write postgresql://<role>@host/db",
        )));
    };
    let region = match region::resolve("rds", host, None, region_of(host), None) {
        Ok(region) => region,
        Err(e) => return Some(Err(e)),
    };
    let config = RdsConfig {
        host: host.clone(),
        port: pg.port,
        user,
        region,
        profile: None,
    };
    Some(Ok(from_chain(Target::Rds(config), ctx)))
}

pub(crate) fn sign(cfg: &RdsConfig, creds: &Credentials, time: SystemTime) -> Result<String> {
    let authority = format!("{}:{}", cfg.host, cfg.port);
    let mut query = String::from("Action=connect&DBUser=");
    push_rfc3986(&mut query, &cfg.user);
    presign(
        &Presign {
            authority: &authority,
            query: &query,
            service: "rds-db",
            region: &cfg.region,
            expires_in: EXPIRES_IN,
        },
        creds,
        time,
    )
}
