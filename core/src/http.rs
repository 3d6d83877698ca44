//! The HTTP client of the sources that speak HTTP themselves (Azure's managed identity and,
//! through azure_identity, Entra ID; Google's token, STS, IAM and metadata endpoints): one
//! rustls stack, bounded answers, a connect timeout, and the proxy rules of `proxy.rs`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::{Result, error_chain};
use crate::fork::ProcessLocal;
use crate::proxy;

/// Identity answers are a few kilobytes; a 10 MB body is an error, not a token.
pub(crate) const MAX_BODY: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) type HyperClient = Client<HttpsConnector<proxy::Connector>, Full<Bytes>>;

/// This process's client in `slot`, made at its first use: a client's pool belongs to the
/// runtime that made it, and the TLS settings (the system's roots, read and parsed) are made
/// only when a request needs them. `rules`: the proxies to go through (`None`: direct). A CA
/// bundle that cannot be read is the caller's configuration (`INVALID_CONFIG`).
pub(crate) fn process_client(
    slot: &ProcessLocal<HyperClient>,
    rules: impl FnOnce() -> Option<Arc<hyper_util::client::proxy::matcher::Matcher>>,
) -> Result<&HyperClient> {
    if let Some(client) = slot.get() {
        return Ok(client);
    }
    let tls = crate::tls::rustls_config()?;
    Ok(slot.publish(build_client((*tls).clone(), rules())))
}

/// A client over `tls` with passmint's connection settings, through the proxies `rules` name
/// (direct when `None`).
pub(crate) fn build_client(
    tls: rustls::ClientConfig,
    rules: Option<Arc<hyper_util::client::proxy::matcher::Matcher>>,
) -> HyperClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(proxy::Connector::new(http, rules));
    // No idle connections: tokens are fetched about once an hour.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(https)
}

/// An identity endpoint's whole answer, its body bounded by [`MAX_BODY`].
pub(crate) struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// Why no answer came: what the caller maps to its own error type.
pub(crate) enum SendError {
    /// The request itself is unusable (a bad URL or header).
    Request(String),
    /// Nothing could be connected to.
    Connect(String),
    /// The connection broke while sending or reading.
    Io(String),
    /// The body passed [`MAX_BODY`]: no identity endpoint sends that.
    TooLarge,
}

impl SendError {
    pub fn message(&self) -> String {
        match self {
            SendError::Request(m) | SendError::Connect(m) | SendError::Io(m) => m.clone(),
            SendError::TooLarge => format!(
                "the identity endpoint sent a body over {} KiB",
                MAX_BODY / 1024
            ),
        }
    }
}

/// One request through `client`, the answer read whole up to [`MAX_BODY`].
pub(crate) async fn send_with(
    client: &HyperClient,
    method: hyper::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> std::result::Result<Answer, SendError> {
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let outgoing = builder
        .body(Full::new(body))
        .map_err(|e| SendError::Request(format!("unusable request: {e}")))?;
    let response = client.request(outgoing).await.map_err(|e| {
        if e.is_connect() {
            SendError::Connect(error_chain(&e))
        } else {
            SendError::Io(error_chain(&e))
        }
    })?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                SendError::TooLarge
            } else {
                SendError::Io(format!(
                    "reading the answer failed: {}",
                    error_chain(e.as_ref())
                ))
            }
        })?
        .to_bytes();
    Ok(Answer {
        status,
        headers: parts.headers,
        body,
    })
}

/// The innermost cause ("Connection refused (os error 111)"): what a user can act on.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
