//! One attempt at one kind of Entra ID credential, built on azure_identity.
//!
//! Credentials are built afresh for every fetch: passmint's cache decides when to fetch,
//! and a fresh credential has no SDK cache of its own to second-guess it (the SDK's
//! refreshes only inside 5 minutes, blocking). Building one costs microseconds.

use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_core::http::{ClientOptions, HttpClient, RetryOptions, Transport as AzTransport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, AzureDeveloperCliCredential,
    AzureDeveloperCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    Executor, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use super::certificate;
use super::config::{AzureCloud, AzureConfig, AzureCredential};
use super::errors::{Failure, classify};
use super::http::Transport;
use crate::cache::Clock;
use crate::error::{Error, ErrorKind};

pub(super) fn name(kind: AzureCredential) -> &'static str {
    match kind {
        AzureCredential::Environment => "environment (service principal)",
        AzureCredential::Workload => "workload identity",
        AzureCredential::Managed => "managed identity",
        AzureCredential::Cli => "Azure CLI",
        AzureCredential::Azd => "Azure Developer CLI (azd)",
        AzureCredential::Auto => "credential chain",
    }
}

/// Everything an attempt needs, shared by all attempts of one provider.
pub(super) struct Settings {
    pub config: AzureConfig,
    pub transport: Arc<Transport>,
    /// IMDS answered once: later attempts skip the probe.
    pub imds_seen: AtomicBool,
}

pub(super) use crate::provider::env;

impl Settings {
    fn client_options(&self, authority: Option<String>) -> ClientOptions {
        client_options(self.transport.clone(), authority)
    }

    /// `AZURE_AUTHORITY_HOST`, else the cloud's Entra endpoint; https only, as in every SDK.
    fn authority(&self) -> Result<String, Failure> {
        let host = env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| {
            match self.config.cloud {
                AzureCloud::Public => "https://login.microsoftonline.com",
                AzureCloud::UsGov => "https://login.microsoftonline.us",
                AzureCloud::China => "https://login.chinacloudapi.cn",
            }
            .to_string()
        });
        if !host.starts_with("https://") {
            return Err(Failure::Failed(Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "AZURE_AUTHORITY_HOST={} must be an https:// URL: Entra ID is never spoken to in plaintext",
                    crate::url::shorten(&host)
                ),
            )));
        }
        Ok(host)
    }

    fn tenant(&self) -> Option<String> {
        self.config
            .tenant_id
            .clone()
            .or_else(|| env("AZURE_TENANT_ID"))
    }

    /// One attempt at `kind`. Managed identity on a VM first checks that IMDS answers at
    /// all (the SDK itself would retry a silent IMDS for over a minute).
    pub async fn attempt(
        &self,
        kind: AzureCredential,
        clock: &Clock,
    ) -> Result<AccessToken, Failure> {
        match kind {
            AzureCredential::Environment => self.environment(clock).await,
            AzureCredential::Workload => self.workload().await,
            AzureCredential::Managed => super::managed::token(self, clock).await,
            AzureCredential::Cli => self.cli().await,
            AzureCredential::Azd => self.azd().await,
            AzureCredential::Auto => unreachable!("the chain is not a step of itself"),
        }
    }

    /// One credential's token: a credential the SDK refused to build is a configuration
    /// error; `secrets` are values it holds that no message may quote.
    async fn run<C: TokenCredential + ?Sized>(
        &self,
        kind: AzureCredential,
        built: azure_core::Result<Arc<C>>,
        secrets: &[&str],
    ) -> Result<AccessToken, Failure> {
        let credential = built.map_err(|e| invalid(kind, &e, secrets))?;
        credential
            .get_token(&[self.config.scope.as_str()], None)
            .await
            .map_err(|e| classify(name(kind), &e, secrets))
    }

    /// A service principal from the environment, as azure-identity's EnvironmentCredential
    /// reads it: a client secret, else a client certificate.
    async fn environment(&self, clock: &Clock) -> Result<AccessToken, Failure> {
        let secret = env("AZURE_CLIENT_SECRET");
        let certificate = env(certificate::PATH_VAR);
        let (Some(tenant), Some(client_id), true) = (
            self.tenant(),
            env("AZURE_CLIENT_ID"),
            secret.is_some() || certificate.is_some(),
        ) else {
            let missing: Vec<&str> = [
                ("AZURE_TENANT_ID", self.tenant().is_none()),
                ("AZURE_CLIENT_ID", env("AZURE_CLIENT_ID").is_none()),
                (
                    "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)",
                    secret.is_none() && certificate.is_none(),
                ),
            ]
            .into_iter()
            .filter_map(|(n, missing)| missing.then_some(n))
            .collect();
            return Err(Failure::Unavailable(format!(
                "{} not set",
                missing.join(", ")
            )));
        };
        let authority = self.authority()?;
        let Some(secret) = secret else {
            let path = certificate.unwrap_or_default();
            return self
                .certificate(tenant, client_id, &path, authority, clock)
                .await;
        };
        let options = ClientSecretCredentialOptions {
            client_options: self.client_options(Some(authority)),
        };
        let built = ClientSecretCredential::new(
            &tenant,
            client_id,
            Secret::new(secret.clone()),
            Some(options),
        );
        self.run(AzureCredential::Environment, built, &[&secret])
            .await
    }

    /// The client certificate credential, with passmint's own assertion (`certificate.rs`).
    async fn certificate(
        &self,
        tenant: String,
        client_id: String,
        path: &str,
        authority: String,
        clock: &Clock,
    ) -> Result<AccessToken, Failure> {
        let send_chain = certificate::send_chain(env(certificate::SEND_CHAIN_VAR).as_deref());
        let loaded = certificate::Certificate::load(path, send_chain).map_err(Failure::Failed)?;
        let audience = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            authority.trim_end_matches('/')
        );
        let assertion = certificate::Assertion {
            certificate: Arc::new(loaded),
            client_id: client_id.clone(),
            audience,
            clock: clock.clone(),
        };
        let options = ClientAssertionCredentialOptions {
            client_options: self.client_options(Some(authority)),
        };
        let built = ClientAssertionCredential::new(tenant, client_id, assertion, Some(options));
        self.run(AzureCredential::Environment, built, &[]).await
    }

    async fn workload(&self) -> Result<AccessToken, Failure> {
        let Some(file) = env("AZURE_FEDERATED_TOKEN_FILE") else {
            return Err(Failure::Unavailable(
                "AZURE_FEDERATED_TOKEN_FILE not set (no AKS workload identity on this pod)".into(),
            ));
        };
        let Some(tenant) = self.tenant() else {
            return Err(Failure::Unavailable("AZURE_TENANT_ID not set".into()));
        };
        let Some(client_id) = self
            .config
            .client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
        else {
            return Err(Failure::Unavailable(
                "AZURE_CLIENT_ID not set (or pass client_id=)".into(),
            ));
        };
        // Read here only to keep the assertion out of any message; the SDK reads it itself.
        let assertion = std::fs::read_to_string(&file).map_err(|e| {
            Failure::Failed(Error::new(
                ErrorKind::CredentialUnavailable,
                format!(
                    "{}: AZURE_FEDERATED_TOKEN_FILE={file} cannot be read ({e})",
                    name(AzureCredential::Workload)
                ),
            ))
        })?;
        let assertion = assertion.trim().to_string();
        let options = WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: self.client_options(Some(self.authority()?)),
            },
            client_id: Some(client_id),
            tenant_id: Some(tenant),
            token_file_path: Some(PathBuf::from(&file)),
        };
        let built = WorkloadIdentityCredential::new(Some(options));
        self.run(AzureCredential::Workload, built, &[&assertion])
            .await
    }

    async fn cli(&self) -> Result<AccessToken, Failure> {
        self.developer_tool(
            AzureCredential::Cli,
            "az",
            super::cli_output::az,
            |tenant_id, executor| {
                let options = AzureCliCredentialOptions {
                    tenant_id,
                    executor: Some(executor),
                    ..Default::default()
                };
                AzureCliCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>)
            },
        )
        .await
    }

    async fn azd(&self) -> Result<AccessToken, Failure> {
        self.developer_tool(
            AzureCredential::Azd,
            "azd",
            super::cli_output::azd,
            |tenant_id, executor| {
                let options = AzureDeveloperCliCredentialOptions {
                    tenant_id,
                    executor: Some(executor),
                };
                AzureDeveloperCliCredential::new(Some(options))
                    .map(|c| c as Arc<dyn TokenCredential>)
            },
        )
        .await
    }

    /// A developer tool's credential (`az`, `azd`): looked for on PATH first, built with the
    /// provider's tenant and passmint's runner (a deadline, the whole process group killed).
    async fn developer_tool(
        &self,
        kind: AzureCredential,
        tool: &str,
        normalize: Normalize,
        build: impl FnOnce(
            Option<String>,
            Arc<dyn Executor>,
        ) -> azure_core::Result<Arc<dyn TokenCredential>>,
    ) -> Result<AccessToken, Failure> {
        on_path(tool)?;
        let built = build(
            self.config.tenant_id.clone(),
            Arc::new(Subprocess(normalize)),
        );
        self.run(kind, built, &[]).await
    }
}

/// The options every credential is built with: passmint's transport, no SDK retries.
pub(super) fn client_options(
    transport: Arc<dyn HttpClient>,
    authority: Option<String>,
) -> ClientOptions {
    let cloud = authority.map(|host| {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host;
        Arc::new(CloudConfiguration::Custom(custom))
    });
    ClientOptions {
        transport: Some(AzTransport::new(transport)),
        // passmint's cache retries with jittered backoff; SDK retries inside one fetch
        // would multiply requests and eat the deadline.
        retry: RetryOptions::none(),
        cloud,
        ..Default::default()
    }
}

/// A credential the SDK refused to build: its inputs are wrong, not the endpoint.
pub(super) fn invalid(kind: AzureCredential, e: &azure_core::Error, secrets: &[&str]) -> Failure {
    Failure::Failed(Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "{}: {}",
            name(kind),
            super::errors::scrub(&e.to_string(), secrets)
        ),
    ))
}

/// The SDK runs `/bin/sh -c "cd /bin && az …"`; without the tool that is a shell error
/// with exit 127. Looking first gives the chain a clear reason and saves a process.
fn on_path(tool: &str) -> Result<(), Failure> {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(tool);
            executable(&candidate)
        })
    });
    if found {
        Ok(())
    } else {
        Err(Failure::Unavailable(format!("{tool} is not on PATH")))
    }
}

#[cfg(unix)]
fn executable(candidate: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Windows has no execute bit: `az` is `az.cmd` (`azd` is `azd.exe`), found through PATHEXT
/// as `cmd` finds it.
#[cfg(not(unix))]
fn executable(candidate: &std::path::Path) -> bool {
    let exts = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
    candidate.is_file()
        || exts.split(';').filter(|e| !e.is_empty()).any(|ext| {
            candidate
                .with_extension(ext.trim_start_matches('.'))
                .is_file()
        })
}

/// Rewrites a CLI's successful output into the form the SDK reads (`cli_output.rs`).
pub(super) type Normalize = fn(&[u8]) -> Option<Vec<u8>>;

/// The SDK's executor for `az`/`azd`, run as a child that dies with the fetch (`child.rs`).
struct Subprocess(Normalize);

impl std::fmt::Debug for Subprocess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subprocess")
    }
}

#[async_trait::async_trait]
impl Executor for Subprocess {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> io::Result<Output> {
        let mut command = tokio::process::Command::new(program);
        command.args(args);
        let output = crate::child::output(command).await;
        output.map(|out| normalized(out, self.0))
    }
}

/// A successful run's stdout in the SDK's form; anything else as it came.
pub(super) fn normalized(mut out: Output, normalize: Normalize) -> Output {
    if out.status.success()
        && let Some(stdout) = normalize(&out.stdout)
    {
        out.stdout = stdout;
    }
    out
}
