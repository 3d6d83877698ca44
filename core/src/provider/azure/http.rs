//! passmint's own HTTP client, injected into every azure_identity credential.
//!
//! The SDK's default client is reqwest (a second HTTP stack) and its IMDS address is a
//! hard-coded constant. Injecting this client gives one rustls stack, trust in
//! `PASSMINT_CA_BUNDLE`, `AZURE_POD_IDENTITY_AUTHORITY_HOST` for IMDS (honoured by the
//! Python and JS SDKs, not by Rust's), bounded response bodies, the IMDS probe, and proxies
//! from the environment for Entra ID, never for managed-identity endpoints (`proxy.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use azure_core::error::{Error as AzError, ErrorKind as AzKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::request::Body;
use azure_core::http::{AsyncRawResponse, HttpClient, Method, Request};
use http_body_util::Full;
use hyper::body::Bytes;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::fork::ProcessLocal;
use crate::proxy;

/// Where the SDK sends IMDS requests; rewritten when `AZURE_POD_IDENTITY_AUTHORITY_HOST` is set.
const IMDS_ORIGIN: &str = "http://169.254.169.254";
pub(super) const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
pub(super) const IMDS_OVERRIDE_VAR: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// docs/DESIGN.md §2 rule 5: off Azure nothing answers at the IMDS address; do not wait for it.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

use crate::http::root_cause;
pub(super) use crate::http::{Answer, HyperClient, SendError, build_client, send_with};

pub(crate) struct Transport {
    /// Built in each process that uses it: a client's connection pool belongs to the runtime
    /// that made it, and a parent thread may hold its lock at fork time. `client` goes
    /// direct (managed-identity endpoints); `via_proxy` follows the environment's proxy rules
    /// (Entra ID, through the SDK).
    client: ProcessLocal<HyperClient>,
    via_proxy: ProcessLocal<HyperClient>,
    /// The IMDS origin requests go to (scheme, host, port, optional path prefix).
    imds_base: String,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("imds_base", &self.imds_base)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new() -> Result<Transport> {
        let imds_base = match std::env::var(IMDS_OVERRIDE_VAR) {
            Ok(v) if !v.trim().is_empty() => {
                let v = v.trim();
                let parsed = Url::parse(v)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
                if parsed.is_none() {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        format!(
                            "{IMDS_OVERRIDE_VAR}={} is not a base URL such as http://127.0.0.1:8080",
                            crate::url::shorten(v)
                        ),
                    ));
                }
                v.trim_end_matches('/').to_string()
            }
            _ => IMDS_ORIGIN.to_string(),
        };
        // The TLS settings (the system's roots, read and parsed: milliseconds) are made at the
        // first request, not here: a token the shared cache answers needs none.
        Ok(Transport {
            client: ProcessLocal::new(),
            via_proxy: ProcessLocal::new(),
            imds_base,
        })
    }

    fn client(&self) -> std::result::Result<&HyperClient, SendError> {
        Self::made(&self.client, || None)
    }

    fn client_via_proxy(&self) -> std::result::Result<&HyperClient, SendError> {
        Self::made(&self.via_proxy, || Some(proxy::from_env()))
    }

    fn made(
        slot: &ProcessLocal<HyperClient>,
        rules: impl FnOnce() -> Option<Arc<hyper_util::client::proxy::matcher::Matcher>>,
    ) -> std::result::Result<&HyperClient, SendError> {
        crate::http::process_client(slot, rules)
            .map_err(|e| SendError::Request(e.message().to_string()))
    }

    /// The IMDS token URL actually used, for messages.
    pub fn imds_token_url(&self) -> String {
        format!("{}{IMDS_TOKEN_PATH}", self.imds_base)
    }

    fn rewrite(&self, url: &Url) -> String {
        let s = url.as_str();
        match s.strip_prefix(IMDS_ORIGIN) {
            Some(rest) if rest.starts_with('/') => format!("{}{rest}", self.imds_base),
            _ => s.to_string(),
        }
    }

    /// Is anything answering HTTP at the IMDS address? Any status counts (IMDS answers 400
    /// without its `Metadata` header); silence for [`PROBE_TIMEOUT`] or a refused
    /// connection means this is not an Azure VM. Returns why not.
    pub async fn probe_imds(&self) -> std::result::Result<(), String> {
        let url = self.imds_token_url();
        let request = hyper::Request::get(url.as_str())
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url} is not a usable URL ({e})"))?;
        let client = self.client().map_err(|e| e.message())?;
        match tokio::time::timeout(PROBE_TIMEOUT, client.request(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "nothing answered at {url} ({}): not an Azure VM or AKS node",
                root_cause(&e)
            )),
            Err(_) => Err(format!(
                "no answer from {url} within {} s: not an Azure VM or AKS node",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }
}

impl Transport {
    /// One request through passmint's client (IMDS addresses rewritten by the override).
    pub async fn send(
        &self,
        method: hyper::Method,
        url: &Url,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> std::result::Result<Answer, SendError> {
        send_with(self.client()?, method, &self.rewrite(url), headers, body).await
    }
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.clone(),
            _ => {
                return Err(AzError::with_message(
                    AzKind::Other,
                    "streaming request bodies are not supported by passmint's transport",
                ));
            }
        };
        let Some(method) = method(request.method()) else {
            return Err(AzError::with_message(
                AzKind::Other,
                format!(
                    "HTTP method {:?} is not supported by passmint's transport",
                    request.method()
                ),
            ));
        };
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let url = self.rewrite(request.url());
        let client = self
            .client_via_proxy()
            .map_err(|e| AzError::with_message(AzKind::Other, e.message()))?;
        let answer = send_with(client, method, &url, &headers, body)
            .await
            .map_err(|e| {
                let kind = match e {
                    SendError::Request(_) => AzKind::Other,
                    SendError::Connect(_) => AzKind::Connection,
                    SendError::Io(_) => AzKind::Io,
                    // An answer no token endpoint gives: malformed, not a network fault.
                    SendError::TooLarge => AzKind::DataConversion,
                };
                AzError::with_message(kind, e.message())
            })?;
        let Answer {
            status,
            headers,
            body,
        } = answer;
        let headers: Headers = headers
            .iter()
            .filter_map(|(k, v)| {
                let v = v.to_str().ok()?;
                Some((
                    HeaderName::from(k.as_str().to_owned()),
                    HeaderValue::from(v.to_owned()),
                ))
            })
            .collect::<std::collections::HashMap<_, _>>()
            .into();
        if !(200..300).contains(&status) {
            // Answered here, uniformly: the SDK's Entra path turns an empty or non-JSON error
            // body into a parse error and loses the status. The retry policy (IMDS) still
            // sees the status through this error kind.
            let (code, detail) = error_details(&body);
            return Err(AzError::with_message(
                AzKind::HttpResponse {
                    status: status.into(),
                    error_code: code,
                    raw_response: None,
                },
                detail,
            ));
        }
        check_token_answer(&body)?;
        Ok(AsyncRawResponse::from_bytes(status.into(), headers, body))
    }
}

/// No token lives 300 years: an answer whose expiry is further away than this is malformed.
pub(super) const MAX_TOKEN_SECONDS: i64 = 10_000_000_000;

/// azure_identity 1.0 adds an Entra answer's `expires_in` to the clock unchecked and panics
/// past the year 9999 (found by core/tests/fuzz_sdk.rs). No token lives 300 years: such an
/// answer is malformed, and is refused before the SDK reads it.
pub(super) fn check_token_answer(body: &[u8]) -> azure_core::Result<()> {
    /// Read as leniently as the SDK reads the whole answer: other fields are skipped unread.
    #[derive(serde::Deserialize)]
    struct Expiry {
        expires_in: Option<serde_json::Value>,
    }
    if !body.windows(10).any(|w| w == b"expires_in") {
        return Ok(());
    }
    let Ok(Expiry {
        expires_in: Some(serde_json::Value::Number(n)),
    }) = serde_json::from_slice(body)
    else {
        return Ok(());
    };
    if !n.is_f64()
        && n.as_i64()
            .is_none_or(|s| s.unsigned_abs() > MAX_TOKEN_SECONDS.unsigned_abs())
    {
        return Err(AzError::with_message(
            AzKind::DataConversion,
            format!("the identity endpoint answered expires_in {n}, which no token has"),
        ));
    }
    Ok(())
}

/// The code and text of an identity endpoint's error body: Entra's `error_codes` and
/// `error_description`, managed identity's `error`/`error_description` or
/// `{"error": {"code", "message"}}`. Never the body itself.
pub(super) fn error_details(body: &[u8]) -> (Option<String>, String) {
    use serde_json::Value;
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        let what = if body.is_empty() {
            "an empty body".to_string()
        } else {
            format!("a non-JSON body of {} bytes", body.len())
        };
        return (None, what);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let code = map
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_i64)
        .map(|c| c.to_string());
    let (error, description) = match map.get("error") {
        Some(Value::Object(inner)) => (text(inner.get("code")), text(inner.get("message"))),
        other => (
            text(other),
            text(map.get("error_description")).or_else(|| text(map.get("message"))),
        ),
    };
    let detail = match (error, description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => "a JSON body without error details".to_string(),
    };
    // One line: a multi-line description would break the one-line error message.
    let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
    (code, detail)
}

fn method(m: Method) -> Option<hyper::Method> {
    Some(match m {
        Method::Delete => hyper::Method::DELETE,
        Method::Get => hyper::Method::GET,
        Method::Head => hyper::Method::HEAD,
        Method::Patch => hyper::Method::PATCH,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        _ => return None,
    })
}
