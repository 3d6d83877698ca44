//! passmint's handling of what Azure sends, for `passmint::fuzzing` (core/tests/fuzz_*.rs).
//!
//! Besides passmint's own parsers, the SDK's: each [`AzureSource`] builds the very credential
//! a provider builds, with its transport or CLI runner replaced by a canned answer, and hands
//! the outcome to the same classification and lease code a real fetch uses. Nothing is sent
//! anywhere.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::headers::Headers;
use azure_core::http::{AsyncRawResponse, HttpClient, Request};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential,
    AzureDeveloperCliCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    Executor,
};
use hyper::body::Bytes;

use super::config::AzureCredential;
use super::credentials::{client_options, invalid, name};
use super::errors::classify;
use crate::error::Result;
use crate::token::Token;

/// The role name from a token's claims (any string: JWT-shaped or not).
pub fn jwt_username(token: &str) -> Option<String> {
    super::claims::username(token)
}

/// An identity endpoint's error body, reduced to a code and a scrubbed one-line detail.
pub fn endpoint_error(body: &[u8]) -> (Option<String>, String) {
    super::http::error_details(body)
}

/// A message scrubbed of `secrets` and of anything token-shaped.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    super::errors::scrub(text, secrets)
}

/// Whose answer [`azure_answer`] feeds to the SDK.
#[derive(Clone, Copy, Debug)]
pub enum AzureSource {
    /// Entra ID's token endpoint, as a client-secret credential reads it (200, JSON body).
    ClientSecret,
    /// A managed identity endpoint's answer (passmint's own parser, as App Service reads it).
    ManagedIdentity,
    /// `az account get-access-token` output.
    Cli,
    /// `azd auth token` output.
    Azd,
}

/// The client secret the canned client-secret credential holds: no message may contain it.
pub const CLIENT_SECRET: &str = "fuzz~client~secret~Q8v3xPz0";

const SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";

/// Everything `source` makes of `answer`: a token as the cache would hold it, or the error
/// users would get. For the CLIs, `answer` is stdout, or `stdout\n--stderr--\nstderr` for a
/// CLI that exits 1.
pub async fn azure_answer(source: AzureSource, answer: &[u8]) -> Result<Token> {
    let (kind, built) = match source {
        AzureSource::ClientSecret => {
            let options = ClientSecretCredentialOptions {
                client_options: client_options(
                    canned(answer),
                    Some("https://login.microsoftonline.com".into()),
                ),
            };
            let built = ClientSecretCredential::new(
                "00000000-0000-0000-0000-000000000001",
                "00000000-0000-0000-0000-000000000002".into(),
                Secret::new(CLIENT_SECRET),
                Some(options),
            );
            (AzureCredential::Environment, built.map(dyn_credential))
        }
        AzureSource::ManagedIdentity => {
            // passmint reads managed-identity answers itself (managed/answer.rs).
            let (secret, expires_on) =
                super::managed::parse_answer(answer, now_ms().div_euclid(1000)).map_err(|why| {
                    crate::error::Error::new(
                        crate::error::ErrorKind::ProviderResponse,
                        format!(
                            "managed identity: the answer is not a usable token response ({why})"
                        ),
                    )
                })?;
            let expires_on = azure_core::time::OffsetDateTime::from_unix_timestamp(expires_on)
                .map_err(|_| {
                    crate::error::Error::new(
                        crate::error::ErrorKind::ProviderResponse,
                        "managed identity: the answer's expiry is out of range",
                    )
                })?;
            let token = azure_core::credentials::AccessToken::new(secret, expires_on);
            return admit(token);
        }
        AzureSource::Cli => {
            let options = AzureCliCredentialOptions {
                executor: Some(Arc::new(CannedCli::new(answer, super::cli_output::az))),
                ..Default::default()
            };
            let built = AzureCliCredential::new(Some(options));
            (AzureCredential::Cli, built.map(dyn_credential))
        }
        AzureSource::Azd => {
            let options = AzureDeveloperCliCredentialOptions {
                executor: Some(Arc::new(CannedCli::new(answer, super::cli_output::azd))),
                ..Default::default()
            };
            let built = AzureDeveloperCliCredential::new(Some(options));
            (AzureCredential::Azd, built.map(dyn_credential))
        }
    };
    let credential =
        built.map_err(|e| super::failure_error(kind, "", invalid(kind, &e, &[CLIENT_SECRET])))?;
    let token = credential
        .get_token(&[SCOPE], None)
        .await
        .map_err(|e| classify(name(kind), &e, &[CLIENT_SECRET]))
        .map_err(|f| super::failure_error(kind, "", f))?;
    admit(token)
}

fn admit(token: azure_core::credentials::AccessToken) -> Result<Token> {
    let now_ms = now_ms();
    crate::cache::admitted(super::lease(token, None, now_ms)?, now_ms, "token")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn dyn_credential<C: TokenCredential + 'static>(c: Arc<C>) -> Arc<dyn TokenCredential> {
    c
}

fn canned(body: &[u8]) -> Arc<dyn HttpClient> {
    Arc::new(CannedHttp(Bytes::copy_from_slice(body)))
}

/// Answers every request with 200 and the same body.
#[derive(Debug)]
struct CannedHttp(Bytes);

#[async_trait::async_trait]
impl HttpClient for CannedHttp {
    async fn execute_request(&self, _: &Request) -> azure_core::Result<AsyncRawResponse> {
        // What passmint's own transport checks of every answer.
        super::http::check_token_answer(&self.0)?;
        Ok(AsyncRawResponse::from_bytes(
            200u16.into(),
            Headers::new(),
            self.0.clone(),
        ))
    }
}

/// A CLI that prints the canned output, whatever it is asked.
#[derive(Debug)]
struct CannedCli {
    normalize: super::credentials::Normalize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: ExitStatus,
}

impl CannedCli {
    fn new(answer: &[u8], normalize: super::credentials::Normalize) -> CannedCli {
        match crate::fuzzing::split_canned_output(answer) {
            (stdout, Some(stderr)) => CannedCli {
                normalize,
                stdout: stdout.to_vec(),
                stderr: stderr.to_vec(),
                status: ExitStatus::from_raw(1 << 8),
            },
            (stdout, None) => CannedCli {
                normalize,
                stdout: stdout.to_vec(),
                stderr: Vec::new(),
                status: ExitStatus::from_raw(0),
            },
        }
    }
}

#[async_trait::async_trait]
impl Executor for CannedCli {
    async fn run(&self, _program: &OsStr, _args: &[&OsStr]) -> io::Result<Output> {
        let out = Output {
            status: self.status,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
        };
        // What passmint's own runner does with a CLI's output.
        Ok(super::credentials::normalized(out, self.normalize))
    }
}
