//! Which managed-identity host this is, and the request each one takes, as azure-identity
//! (Python) and MSAL detect and send them (docs/DESIGN.md §4).

use url::Url;

use super::super::credentials::env;
use crate::error::{Error, ErrorKind};

/// The managed-identity hosts, in azure-identity's order of detection.
pub(super) enum Host {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric {
        endpoint: Url,
        secret: String,
        thumbprint: String,
    },
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`: App Service, Functions, Container Apps,
    /// Automation (API 2019-08-01).
    AppService { endpoint: Url, secret: String },
    /// `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the Arc agent installed: Azure Arc servers.
    Arc { endpoint: Url },
    /// `MSI_ENDPOINT` + `MSI_SECRET`: App Service's 2017-09-01 API, also Azure Machine Learning.
    Msi2017 { endpoint: Url, secret: String },
    /// `MSI_ENDPOINT` alone: Azure Cloud Shell.
    CloudShell { endpoint: Url },
    /// Anything else: the instance metadata service of a VM, VM scale set or AKS node.
    Imds,
}

/// The Arc agent's local endpoint, used when the agent is installed and the variables are not set.
const ARC_DEFAULT_ENDPOINT: &str = "http://localhost:40342/metadata/identity/oauth2/token";
const ARC_AGENT: &str = "/opt/azcmagent/bin/himds";

fn endpoint(var: &str, value: &str) -> Result<Url, Error> {
    Url::parse(value.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "managed identity: {var}={} is not an http(s) URL",
                    crate::url::shorten(value)
                ),
            )
        })
}

impl Host {
    pub fn detect() -> Result<Host, Error> {
        if let Some(identity) = env("IDENTITY_ENDPOINT") {
            if let Some(secret) = env("IDENTITY_HEADER") {
                let endpoint = endpoint("IDENTITY_ENDPOINT", &identity)?;
                return Ok(match env("IDENTITY_SERVER_THUMBPRINT") {
                    Some(thumbprint) => Host::ServiceFabric {
                        endpoint,
                        secret,
                        thumbprint,
                    },
                    None => Host::AppService { endpoint, secret },
                });
            }
            if env("IMDS_ENDPOINT").is_some() {
                return Ok(Host::Arc {
                    endpoint: endpoint("IDENTITY_ENDPOINT", &identity)?,
                });
            }
        }
        if let Some(msi) = env("MSI_ENDPOINT") {
            let endpoint = endpoint("MSI_ENDPOINT", &msi)?;
            return Ok(match env("MSI_SECRET") {
                Some(secret) => Host::Msi2017 { endpoint, secret },
                None => Host::CloudShell { endpoint },
            });
        }
        if std::path::Path::new(ARC_AGENT).exists() {
            return Ok(Host::Arc {
                endpoint: Url::parse(ARC_DEFAULT_ENDPOINT).expect("a valid constant"),
            });
        }
        Ok(Host::Imds)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Host::ServiceFabric { .. } => "Service Fabric",
            Host::AppService { .. } => "App Service",
            Host::Arc { .. } => "Azure Arc",
            Host::Msi2017 { .. } => "App Service 2017 / Azure ML",
            Host::CloudShell { .. } => "Cloud Shell",
            Host::Imds => "IMDS",
        }
    }

    /// The query parameter that selects a user-assigned identity of `kind`, in this host's
    /// spelling; `None`: the host cannot select one (the identity is configured elsewhere).
    pub fn selector_param(&self, kind: Selector) -> Option<&'static str> {
        use Selector::*;
        Some(match (self, kind) {
            (Host::ServiceFabric { .. } | Host::CloudShell { .. }, _) => return None,
            (Host::Msi2017 { .. }, Client) => "clientid",
            (_, Client) => "client_id",
            (_, Object) => "object_id",
            (Host::AppService { .. }, Resource) => "mi_res_id",
            (_, Resource) => "msi_res_id",
        })
    }
}

/// The kinds of user-assigned identity selector (docs/DESIGN.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Selector {
    Client,
    Object,
    Resource,
}

impl Selector {
    pub fn url_name(self) -> &'static str {
        match self {
            Selector::Client => "client_id",
            Selector::Object => "object_id",
            Selector::Resource => "resource_id",
        }
    }
}
