//! Aurora DSQL IAM tokens: `https://<host>/?Action=DbConnect[Admin]`, service `dsql`.

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::sigv4::{Presign, presign};
use crate::error::Result;
use crate::url::DsqlConfig;

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
