//! Requests to Google: the token, STS and IAM endpoints through the environment's proxy, the
//! metadata server and subject-token URLs (link-local agents) directly, as `proxy.rs` rules.

use std::fmt;

use hyper::body::Bytes;

use super::answer;
use crate::error::{Error, ErrorKind, Result};
use crate::fork::ProcessLocal;
use crate::http::{Answer, HyperClient, SendError, process_client, send_with};

pub(super) struct Transport {
    /// Made in each process that uses it (a client's pool belongs to the runtime that made it).
    direct: ProcessLocal<HyperClient>,
    via_proxy: ProcessLocal<HyperClient>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transport")
    }
}

/// Which client a request takes.
#[derive(Clone, Copy)]
pub(super) enum Route {
    /// Google's APIs: the environment's proxy applies.
    Google,
    /// The metadata server and local agents: never through a proxy.
    Direct,
}

impl Transport {
    pub fn new() -> Transport {
        Transport {
            direct: ProcessLocal::new(),
            via_proxy: ProcessLocal::new(),
        }
    }

    fn client(&self, route: Route) -> Result<&HyperClient> {
        match route {
            Route::Google => process_client(&self.via_proxy, || Some(crate::proxy::from_env())),
            Route::Direct => process_client(&self.direct, || None),
        }
    }

    /// One request; `what` names the endpoint in messages (`the token endpoint`). A failure to
    /// connect or read is `NETWORK`; an answer, whatever its status, is the caller's to judge.
    pub async fn send(
        &self,
        route: Route,
        method: hyper::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        what: &str,
    ) -> Result<Answer> {
        let client = self.client(route)?;
        send_with(client, method, url, headers, body)
            .await
            .map_err(|e| sent_error(e, what, url))
    }

    /// A GET to a local agent (the metadata server, a subject-token URL), never proxied, whose
    /// answer must be 2xx: its body. `secrets` are never quoted.
    pub async fn get_direct(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        what: &str,
        secrets: &[&str],
    ) -> Result<Bytes> {
        let answer = self
            .send(
                Route::Direct,
                hyper::Method::GET,
                url,
                headers,
                Bytes::new(),
                what,
            )
            .await?;
        answer::success(answer, what, secrets)
    }

    /// A form POST whose answer must be a 2xx JSON object (token endpoint, STS).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
        what: &str,
        secrets: &[&str],
    ) -> Result<Bytes> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        let answer = self
            .send(
                Route::Google,
                hyper::Method::POST,
                url,
                &all,
                Bytes::from(body),
                what,
            )
            .await?;
        answer::success(answer, what, secrets)
    }
}

fn sent_error(e: SendError, what: &str, url: &str) -> Error {
    let url = crate::redact::scrub(url, &[], 200);
    match e {
        SendError::Request(m) => Error::new(
            ErrorKind::InvalidConfig,
            format!("{what} at {url} cannot be asked: {m}"),
        ),
        SendError::Connect(m) | SendError::Io(m) => Error::new(
            ErrorKind::Network,
            format!("cannot reach {what} at {url} ({m})"),
        ),
        SendError::TooLarge => Error::new(
            ErrorKind::ProviderResponse,
            format!("{what} at {url}: {}", SendError::TooLarge.message()),
        ),
    }
}
