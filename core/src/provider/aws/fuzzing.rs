//! What aws-config makes of the credential sources' answers, and what passmint makes of
//! that, for `passmint::fuzzing` (core/tests/fuzz_*.rs).
//!
//! Each [`AwsSource`] builds the provider a chain would use for that source (the SDK's, or for
//! `credential_process` passmint's own) with a canned answer instead of a network (or a
//! command that prints the answer);
//! its credentials then sign a DSQL token exactly as a provider would, and its errors go
//! through the same classification. Nothing is sent anywhere.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::Region;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::{StaticConfiguration, WebIdentityTokenCredentialsProvider};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;

use super::credentials::{credentials_error, lease};
use super::{DSQL, Target, dsql};
use crate::cache::admitted;
use crate::error::{Error, ErrorKind, Result};
use crate::token::Token;
use crate::url::{Query, split};

/// Whose answer [`aws_answer`] feeds to aws-config.
#[derive(Clone, Copy, Debug)]
pub enum AwsSource {
    /// The ECS/EKS container credentials endpoint's JSON (the same parser reads IMDS's).
    /// Reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` from the environment, as the SDK does;
    /// the canned client answers whatever it names.
    Container,
    /// A `credential_process` program's output.
    Process,
    /// STS `AssumeRoleWithWebIdentity`'s XML (EKS IRSA).
    WebIdentity,
}

/// The cluster the canned credentials sign for.
pub const DSQL_URL: &str = "dsql://fuzzfuzzfuzzfuzzfuzzfuzz.dsql.us-east-1.on.aws";

/// Everything `source` makes of `answer`: a DSQL token signed with the credentials, or the
/// error users would get. For `Process`, `answer` is stdout, or `stdout\n--stderr--\nstderr`
/// for a program that exits 1.
pub async fn aws_answer(source: AwsSource, answer: &[u8]) -> Result<Token> {
    let config = ProviderConfig::without_region()
        .with_region(Some(Region::new("us-east-1")))
        .with_http_client(canned(answer));
    let result = match source {
        AwsSource::Container => {
            // Without a sleep the provider does not retry: it re-reads the same canned answer
            // after a backoff of up to seconds when an answer does not parse, which tests
            // nothing more and would starve the fuzzer (the fault matrix counts those retries).
            // The answer passes through passmint's transport, as a metadata answer does.
            let config = ProviderConfig::empty()
                .with_region(Some(Region::new("us-east-1")))
                .with_http_client(super::transport::normalizing(canned(answer)));
            EcsCredentialsProvider::builder()
                .configure(&config)
                .build()
                .provide_credentials()
                .await
                .map_err(|e| credentials_error(&e, None))
        }
        AwsSource::Process => {
            // passmint runs a profile's credential_process itself (process.rs).
            let files = Scratch::new(answer)?;
            super::process::run(&files.command()).await
        }
        AwsSource::WebIdentity => {
            let files = Scratch::new(b"eyJhbGciOiJub25lIn0.e30.")?;
            WebIdentityTokenCredentialsProvider::builder()
                .static_configuration(StaticConfiguration {
                    web_identity_token_file: files.stdout.clone(),
                    role_arn: "arn:aws:iam::123456789012:role/passmint-fuzz".into(),
                    session_name: "passmint-fuzz".into(),
                })
                .configure(&config)
                .build()
                .provide_credentials()
                .await
                .map_err(|e| credentials_error(&e, None))
        }
    };
    let creds = result?;
    let parts = split(DSQL_URL, "dsql://")?;
    let config = dsql::parse(
        parts.authority,
        &Query::parse(parts.query, "dsql", DSQL.params)?,
    )?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // Through the same admission both of the provider's caches apply.
    let creds = admitted(lease(creds), now_ms, "AWS credentials")?;
    admitted(Target::Dsql(config).mint(&creds, now_ms)?, now_ms, "token")
}

fn canned(body: &[u8]) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let body: std::sync::Arc<[u8]> = body.into();
    http_client_fn(move |_, _| SharedHttpConnector::new(CannedHttp(body.clone())))
}

/// Answers every request with 200 and the same body.
#[derive(Debug)]
struct CannedHttp(std::sync::Arc<[u8]>);

impl HttpConnector for CannedHttp {
    fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
        let response = HttpResponse::new(
            200u16.try_into().expect("200 is a status"),
            SdkBody::from(self.0.to_vec()),
        );
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// The files a canned `credential_process` prints, removed when dropped.
struct Scratch {
    stdout: PathBuf,
    stderr: Option<PathBuf>,
}

impl Scratch {
    fn new(answer: &[u8]) -> Result<Scratch> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir().join(format!(
            "passmint-fuzz-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let write = |path: &PathBuf, bytes: &[u8]| {
            std::fs::write(path, bytes).map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("fuzz scratch {}: {e}", path.display()),
                )
            })
        };
        let stdout = base.with_extension("out");
        match crate::fuzzing::split_canned_output(answer) {
            (out, Some(err)) => {
                let stderr = base.with_extension("err");
                write(&stdout, out)?;
                write(&stderr, err)?;
                Ok(Scratch {
                    stdout,
                    stderr: Some(stderr),
                })
            }
            (out, None) => {
                write(&stdout, out)?;
                Ok(Scratch {
                    stdout,
                    stderr: None,
                })
            }
        }
    }

    fn command(&self) -> String {
        match &self.stderr {
            Some(err) => format!(
                "cat '{}'; cat '{}' >&2; exit 1",
                self.stdout.display(),
                err.display()
            ),
            None => format!("cat '{}'", self.stdout.display()),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.stdout);
        if let Some(err) = &self.stderr {
            let _ = std::fs::remove_file(err);
        }
    }
}
