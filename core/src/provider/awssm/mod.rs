//! `awssm://<secret-id-or-arn>?region=…&profile=…&refresh=300&version_stage=AWSCURRENT&user=…`:
//! a database password kept in AWS Secrets Manager, in the shape RDS and its rotation functions
//! write (`{"username", "password", "host", "port", "dbname", "engine"}`).
//!
//! One `GetSecretValue` call, signed with the default AWS credential chain (or the caller's
//! credentials), as boto3's `get_secret_value` sends it (`api.rs`). A secret carries no expiry,
//! so it is read again every `refresh` seconds, and at once after a refused password
//! (`Provider::password_refused`): a rotation is seen by new connections within the interval.

mod api;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use std::sync::Arc;

use aws_credential_types::Credentials;

use super::registry::{Built, Ctx, Scheme, Source};
use super::secret;
use crate::cache::{BoxFuture, Cache, Clock, Lease};
use crate::error::{Error, Result};
use crate::fork::ProcessLocal;
use crate::http::HyperClient;
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

const PARAMS: &[&str] = &["region", "profile", "refresh", "version_stage", "user"];

pub(crate) const AWSSM: Scheme = Scheme {
    kind: ProviderKind::Awssm,
    authority: &["secret_id"],
    path: true,
    role_hint: "the role the secret is for (its `username` field, or `user=` in the URL)",
    rotates: true,
    params: PARAMS,
    example: "awssm://<secret-id>?region=<region>",
    server_ca_bundle: None,
    build,
    for_postgres: |_: &PgTarget, _: &Ctx| None,
    stated_expiry: |_| None,
};

struct SecretsManager {
    secret_id: String,
    region: String,
    version_stage: String,
    user: Option<String>,
    refresh_s: i64,
    credentials: Cache<Credentials>,
    client: ProcessLocal<HyperClient>,
}

fn build(location: &str, query: &Query, ctx: &Ctx) -> Result<Built> {
    // A name may hold `/` (`prod/app/db`), so the URL's path is part of it.
    let secret_id = crate::url::decode(location.trim_end_matches('/'), "secret id")?;
    if secret_id.is_empty() {
        return Err(Error::config(
            "awssm:// needs the secret's name or ARN: awssm://prod/app/db?region=eu-west-1",
        ));
    }
    if secret_id.len() > 2048 || secret_id.contains(|c: char| c.is_control()) {
        return Err(Error::config(
            "awssm://: the secret id is not a Secrets Manager name or ARN",
        ));
    }
    let profile = query.owned("profile")?;
    let region = super::aws::resolve_region(
        "awssm",
        &secret_id,
        query.owned("region")?,
        arn_region(&secret_id)?,
        profile.as_deref(),
    )?;
    let version_stage = match query.owned("version_stage")? {
        None => "AWSCURRENT".to_string(),
        Some(s) if (1..=256).contains(&s.len()) && !s.contains(char::is_whitespace) => s,
        Some(_) => {
            return Err(Error::config(
                "awssm://: version_stage is a staging label such as AWSCURRENT or AWSPENDING",
            ));
        }
    };
    let user = query.owned("user")?.filter(|u| !u.is_empty());
    let source = SecretsManager {
        credentials: super::aws::credentials_for(&region, profile.as_deref(), ctx),
        secret_id,
        region,
        version_stage,
        user: user.clone(),
        refresh_s: secret::refresh(query, "awssm://")?,
        client: ProcessLocal::new(),
    };
    Ok(Built {
        kind: ProviderKind::Awssm,
        description: format!(
            "awssm://{} (region {}, {})",
            source.secret_id, source.region, source.version_stage
        ),
        username: user,
        host: None,
        source: Arc::new(source),
    })
}

/// The region an ARN names (`arn:aws:secretsmanager:<region>:<account>:secret:<name>`).
fn arn_region(id: &str) -> Result<Option<String>> {
    if !id.starts_with("arn:") {
        return Ok(None);
    }
    let parts: Vec<&str> = id.splitn(7, ':').collect();
    match parts.as_slice() {
        [_, _, "secretsmanager", region, _, "secret", _] => {
            super::aws::validate_region(region).map(Some)
        }
        _ => Err(Error::config(
            "awssm://: an ARN must be arn:<partition>:secretsmanager:<region>:<account>:secret:<name>",
        )),
    }
}

impl Source for SecretsManager {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            let creds = self.credentials.get().await?;
            let client =
                crate::http::process_client(&self.client, || Some(crate::proxy::from_env()))?;
            let read = api::get_secret_value(
                client,
                &api::Request {
                    secret_id: &self.secret_id,
                    version_stage: &self.version_stage,
                    region: &self.region,
                },
                &creds,
                clock.now_ms(),
            )
            .await?;
            Ok(secret::lease(
                read,
                self.user.as_deref(),
                ProviderKind::Awssm,
                self.refresh_s,
                &clock,
            ))
        })
    }

    fn credential(&self) -> Option<String> {
        Some(super::aws::describe_credentials(
            &self.credentials.health().value?,
        ))
    }
}
