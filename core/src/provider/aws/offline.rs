//! Signing with credentials you already hold, at a time you choose: no network, no cache.
//! For tests, comparisons with other SDKs and benchmarks.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;

use super::credentials::CredentialSource;
use super::{DSQL, RDS, Target, built, dsql, rds};
use crate::error::{Error, ErrorKind, Result};
use crate::provider::Provider;
use crate::provider::registry::Ctx;
use crate::url::{Query, split};

/// AWS credentials held by the caller. `Debug` hides the secret key and session token.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A DSQL or RDS provider URL bound to fixed credentials.
pub struct Signer {
    target: Target,
    creds: Credentials,
}

impl Signer {
    pub fn new(provider_url: &str, creds: &StaticCredentials) -> Result<Signer> {
        let parts = split(provider_url, "dsql:// or rds://")?;
        let target = match parts.scheme.as_str() {
            "dsql" => Target::Dsql(dsql::parse(
                parts.authority,
                &Query::parse(parts.query, "dsql", DSQL.params)?,
            )?),
            "rds" => Target::Rds(rds::parse(
                parts.authority,
                &Query::parse(parts.query, "rds", RDS.params)?,
            )?),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "offline signing is for dsql:// and rds:// (SigV4) only",
                ));
            }
        };
        let creds = Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            creds.session_token.clone(),
            None,
            "passmint-static",
        );
        Ok(Signer { target, creds })
    }

    /// The token as it would be minted at `time`.
    pub fn sign_at(&self, time: SystemTime) -> Result<String> {
        let ms = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .map_err(|_| Error::new(ErrorKind::InvalidArgument, "time is before 1970"))?;
        self.target.sign(&self.creds, ms)
    }

    /// A provider with these fixed credentials: caches tokens like any other provider.
    pub fn into_provider(self) -> Provider {
        let ctx = Ctx::system();
        Provider::from_built(
            built(self.target, CredentialSource::Static(self.creds), &ctx),
            &ctx,
        )
    }
}
