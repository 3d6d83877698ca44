//! The HTTP client of the AWS credential chain. aws-config's default client trusts no extra
//! roots, uses no proxy, and its container and IMDS providers read `Expiration` as strict
//! RFC 3339 with a `Z`, refusing offsets that botocore reads (docs/CONFORMANCE.md). This one:
//! - trusts the system roots and `PASSMINT_CA_BUNDLE` (`tls.rs`);
//! - sends STS, SSO and every other service through the environment's proxy, and the
//!   metadata endpoints (IMDS, the container endpoint, link-local addresses) directly
//!   (`proxy.rs`);
//! - rewrites a metadata answer's `Expiration` into the form aws-config reads, the same
//!   instant (fractions of a second dropped, so never later).

use std::sync::Arc;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use crate::error::Result;

/// Credential answers are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// Settings that name a metadata endpoint (its host and port are never proxied).
const METADATA_ENDPOINT_VARS: [&str; 2] = [
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// The chain's client, for this process's environment.
pub(super) fn client() -> Result<SharedHttpClient> {
    let context = crate::tls::aws_tls_context()?;
    let direct = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context.clone())
        .build_https();
    let proxied = via_proxy(context);
    let metadata = METADATA_ENDPOINT_VARS
        .iter()
        .filter_map(|var| authority(&std::env::var(var).ok()?))
        .collect();
    Ok(SharedHttpClient::new(Routing {
        direct,
        proxied: Some(proxied),
        metadata: Metadata::Endpoints(Arc::new(metadata)),
    }))
}

/// `inner` with every answer treated as a metadata answer: what the fuzz harness feeds
/// aws-config, so it sees what a provider's chain sees.
#[cfg(feature = "fuzzing")]
pub(super) fn normalizing(inner: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(Routing {
        direct: inner,
        proxied: None,
        metadata: Metadata::Everything,
    })
}

/// A client whose connections follow `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
fn via_proxy(context: TlsContext) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = Connector::builder();
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder
            .proxy_config(ProxyConfig::from_env())
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone())
            .build()
    })
}

#[derive(Clone, Debug)]
enum Metadata {
    /// Link-local addresses and these `host:port`s.
    Endpoints(Arc<Vec<String>>),
    #[cfg(feature = "fuzzing")]
    Everything,
}

impl Metadata {
    fn contains(&self, uri: &str) -> bool {
        match self {
            #[cfg(feature = "fuzzing")]
            Metadata::Everything => true,
            Metadata::Endpoints(named) => authority(uri).is_some_and(|a| {
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                crate::proxy::is_metadata_address(host) || named.contains(&a)
            }),
        }
    }
}

/// `host:port` of a URL, the port filled in from the scheme.
fn authority(url: &str) -> Option<String> {
    let uri: hyper::Uri = url.trim().parse().ok()?;
    let port = uri.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(format!("{}:{port}", uri.host()?.to_ascii_lowercase()))
}

#[derive(Debug)]
struct Routing {
    direct: SharedHttpClient,
    proxied: Option<SharedHttpClient>,
    metadata: Metadata,
}

impl HttpClient for Routing {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Routed {
            direct: self.direct.http_connector(settings, components),
            proxied: self
                .proxied
                .as_ref()
                .map(|c| c.http_connector(settings, components)),
            metadata: self.metadata.clone(),
        })
    }
}

#[derive(Debug)]
struct Routed {
    direct: SharedHttpConnector,
    proxied: Option<SharedHttpConnector>,
    metadata: Metadata,
}

impl HttpConnector for Routed {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if !self.metadata.contains(request.uri()) {
            let connector = self.proxied.as_ref().unwrap_or(&self.direct);
            return connector.call(request);
        }
        let answer = self.direct.call(request);
        HttpConnectorFuture::new(async move {
            let mut response = answer.await?;
            if response.status().is_success() {
                let body = Limited::new(response.take_body(), MAX_BODY)
                    .collect()
                    .await
                    .map_err(ConnectorError::io)?
                    .to_bytes();
                let body = normalized(&body).unwrap_or_else(|| body.to_vec());
                // The SDK checks the length it was told against the body it reads.
                response
                    .headers_mut()
                    .insert("content-length", body.len().to_string());
                *response.body_mut() = SdkBody::from(body);
            }
            Ok(response)
        })
    }
}

/// A JSON object's `Expiration` rewritten as `YYYY-MM-DDTHH:MM:SSZ`; `None` when there is
/// nothing to rewrite (then the SDK reads the answer as it came, and reports what it finds).
pub(super) fn normalized(body: &[u8]) -> Option<Vec<u8>> {
    let mut json: Value = serde_json::from_slice(body).ok()?;
    let field = json.as_object_mut()?.get_mut("Expiration")?;
    let secs = crate::when::parse_datetime(field.as_str()?)?;
    *field = Value::String(crate::when::format_utc(secs));
    serde_json::to_vec(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_suffixes_become_the_same_instant_in_z_form() {
        for form in [
            "2030-01-02T03:04:05Z",
            "2030-01-02T03:04:05.999Z",
            "2030-01-01T22:04:05-05:00",
            "2030-01-01T22:04:05-0500",
            "2030-01-02T05:04:05+02",
            "2030-01-02 03:04:05 UTC",
        ] {
            let body = format!(r#"{{"Code":"Success","Expiration":"{form}","Token":"t"}}"#);
            let out: Value = serde_json::from_slice(&normalized(body.as_bytes()).unwrap()).unwrap();
            assert_eq!(out["Expiration"], "2030-01-02T03:04:05Z", "{form}");
            assert_eq!(out["Token"], "t");
        }
        for body in [&b"<xml/>"[..], b"{}", br#"{"Expiration":"soon"}"#, b"[1]"] {
            assert_eq!(normalized(body), None);
        }
    }

    #[test]
    fn metadata_endpoints_are_link_local_or_named() {
        let named = Metadata::Endpoints(Arc::new(vec!["127.0.0.1:8080".into()]));
        assert!(named.contains("http://169.254.169.254/latest/api/token"));
        assert!(named.contains("http://169.254.170.2/v2/credentials/x"));
        assert!(named.contains("http://[fd00:ec2::254]/latest"));
        assert!(named.contains("http://127.0.0.1:8080/creds"));
        assert!(!named.contains("http://127.0.0.1:8081/creds"));
        assert!(!named.contains("https://sts.us-east-1.amazonaws.com/"));
    }
}
