//! RDS / Aurora IAM tokens: `https://<host>:<port>/?Action=connect&DBUser=<user>`, service
//! `rds-db`, always 900 s.
//!
//! Signed with aws-sigv4 directly rather than aws-sdk-rds, whose generator interpolates the
//! user unescaped (a space panics, `+` is signed as a space) and defaults to us-east-1.

/// RDS and Aurora servers present certificates from Amazon's own CAs, not in any system
/// store: a driver verifies them against this bundle.
pub(crate) const CA_BUNDLE_URL: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::sigv4::{Presign, presign, push_rfc3986};
use crate::error::Result;
use crate::url::{RDS_EXPIRES_IN, RdsConfig};

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
            expires_in: RDS_EXPIRES_IN,
        },
        creds,
        time,
    )
}
