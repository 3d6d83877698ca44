//! Managed identity on every host azure-identity supports (docs/DESIGN.md §4), on passmint's
//! own HTTP client: the Rust SDK knows only App Service and IMDS, and reads their answers
//! more strictly than the Python and JS SDKs do.

mod answer;
mod arc;
mod fabric;
mod hosts;

use std::sync::atomic::Ordering;

use azure_core::credentials::AccessToken;
use azure_core::time::OffsetDateTime;
use hyper::Method;
use hyper::body::Bytes;
use url::Url;

use self::hosts::{Host, Selector};
use super::config::AzureConfig;
use super::credentials::{Settings, env};
use super::errors::{Failure, http_failure, scrub};
use super::http::{Answer, SendError, error_details};
use crate::cache::Clock;
use crate::error::{Error, ErrorKind};

const IMDS_API: &str = "2018-02-01";
const APP_SERVICE_API: &str = "2019-08-01";
const MSI_2017_API: &str = "2017-09-01";
const ARC_API: &str = "2020-06-01";
const FABRIC_API: &str = "2019-07-01-preview";

/// `managed identity (<host>)` for this host, as `Provider::status()` names it.
pub(super) fn describe() -> String {
    match Host::detect() {
        Ok(host) => format!("managed identity ({})", host.name()),
        Err(_) => "managed identity".to_string(),
    }
}

/// One token from the managed identity of this host.
pub(super) async fn token(s: &Settings, clock: &Clock) -> Result<AccessToken, Failure> {
    let host = Host::detect().map_err(Failure::Failed)?;
    let step = describe();
    let selector = selector(&s.config, &host).map_err(Failure::Failed)?;
    if matches!(host, Host::Imds) && !s.imds_seen.load(Ordering::Acquire) {
        s.transport
            .probe_imds()
            .await
            .map_err(Failure::Unavailable)?;
        s.imds_seen.store(true, Ordering::Release);
    }
    let resource = s
        .config
        .scope
        .strip_suffix("/.default")
        .unwrap_or(&s.config.scope);
    let mut query = vec![("resource", resource)];
    if let Some((kind, value)) = &selector
        && let Some(name) = host.selector_param(*kind)
    {
        query.push((name, value.as_str()));
    }
    let requested_at = clock.now_ms().div_euclid(1000);
    let (answer, secrets) = match &host {
        Host::Imds => {
            let url = with_query(&s.transport.imds_token_url(), IMDS_API, &query)?;
            let answer = s
                .transport
                .send(Method::GET, &url, &[("Metadata", "true")], Bytes::new())
                .await;
            (answer, vec![])
        }
        Host::AppService { endpoint, secret } => {
            let url = with_query(endpoint.as_str(), APP_SERVICE_API, &query)?;
            let headers = [("X-IDENTITY-HEADER", secret.as_str()), ("Metadata", "true")];
            let answer = s
                .transport
                .send(Method::GET, &url, &headers, Bytes::new())
                .await;
            (answer, vec![secret.clone()])
        }
        Host::Msi2017 { endpoint, secret } => {
            let url = with_query(endpoint.as_str(), MSI_2017_API, &query)?;
            let headers = [("secret", secret.as_str())];
            let answer = s
                .transport
                .send(Method::GET, &url, &headers, Bytes::new())
                .await;
            (answer, vec![secret.clone()])
        }
        Host::CloudShell { endpoint } => {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish();
            let headers = [
                ("Metadata", "true"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ];
            let answer = s
                .transport
                .send(Method::POST, endpoint, &headers, Bytes::from(form))
                .await;
            (answer, vec![])
        }
        Host::Arc { endpoint } => {
            let url = with_query(endpoint.as_str(), ARC_API, &query)?;
            arc_exchange(s, &step, &url).await?
        }
        Host::ServiceFabric {
            endpoint,
            secret,
            thumbprint,
        } => {
            if endpoint.scheme() != "https" {
                return Err(config(format!(
                    "{step}: IDENTITY_ENDPOINT must be an https:// URL"
                )));
            }
            let pin = fabric::thumbprint(thumbprint).map_err(|m| config(format!("{step}: {m}")))?;
            let url = with_query(endpoint.as_str(), FABRIC_API, &query)?;
            let client = super::http::build_client(fabric::pinned_tls(pin), None);
            let answer = super::http::send_with(
                &client,
                Method::GET,
                url.as_str(),
                &[("Secret", secret.as_str())],
                Bytes::new(),
            )
            .await;
            (answer, vec![secret.clone()])
        }
    };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let answer = answer.map_err(|e| unreachable_endpoint(&step, &e, &secrets))?;
    let parsed = read(&step, &answer, requested_at, &secrets)?;
    if let (Host::Arc { .. }, Some((kind, requested))) = (&host, &selector) {
        confirm_arc_identity(&step, *kind, requested, &parsed.fields)?;
    }
    let expires_on = OffsetDateTime::from_unix_timestamp(parsed.expires_on).map_err(|_| {
        Failure::Failed(Error::new(
            ErrorKind::ProviderResponse,
            format!("{step}: the answer's expiry is out of range"),
        ))
    })?;
    Ok(AccessToken::new(parsed.secret, expires_on))
}

/// The identity to ask for: the URL's, else `AZURE_CLIENT_ID` as DefaultAzureCredential reads
/// it. A host that cannot select one refuses the URL's and ignores the environment's.
fn selector(c: &AzureConfig, host: &Host) -> Result<Option<(Selector, String)>, Error> {
    let explicit = [
        (Selector::Client, &c.client_id),
        (Selector::Object, &c.object_id),
        (Selector::Resource, &c.resource_id),
    ]
    .into_iter()
    .find_map(|(kind, v)| v.clone().map(|v| (kind, v)));
    match explicit {
        Some((kind, value)) => match host.selector_param(kind) {
            Some(_) => Ok(Some((kind, value))),
            None => Err(Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "managed identity ({}): this host has one identity, chosen where it is deployed; remove {}= from the URL",
                    host.name(),
                    kind.url_name()
                ),
            )),
        },
        None => Ok(env("AZURE_CLIENT_ID")
            .filter(|_| host.selector_param(Selector::Client).is_some())
            .map(|v| (Selector::Client, v.trim().to_string()))),
    }
}

/// Arc's two requests: the challenge, then the same request with the key it names.
async fn arc_exchange(
    s: &Settings,
    step: &str,
    url: &Url,
) -> Result<(Result<Answer, SendError>, Vec<String>), Failure> {
    let first = s
        .transport
        .send(Method::GET, url, &[("Metadata", "true")], Bytes::new())
        .await;
    let first = match first {
        Ok(a) if a.status == 401 => a,
        Ok(a) if (200..300).contains(&a.status) => {
            return Err(Failure::Failed(Error::new(
                ErrorKind::ProviderResponse,
                format!("{step}: the agent answered without its authentication challenge"),
            )));
        }
        other => return Ok((other, vec![])),
    };
    let header = first
        .headers
        .get(hyper::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok());
    let key = arc::challenge_key(header).map_err(|m| {
        Failure::Failed(Error::new(
            ErrorKind::CredentialUnavailable,
            format!("{step}: {m}"),
        ))
    })?;
    let authorization = format!("Basic {key}");
    let headers = [
        ("Metadata", "true"),
        ("Authorization", authorization.as_str()),
    ];
    let second = s
        .transport
        .send(Method::GET, url, &headers, Bytes::new())
        .await;
    Ok((second, vec![key, authorization]))
}

/// A user-assigned identity asked of Arc must come back named: an old agent ignores the
/// selector and answers for the machine's own identity (as azure-identity checks).
fn confirm_arc_identity(
    step: &str,
    kind: Selector,
    requested: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Failure> {
    let echoed = match kind {
        Selector::Client => fields.get("client_id"),
        Selector::Object => fields.get("object_id"),
        Selector::Resource => fields.get("msi_res_id").or_else(|| fields.get("mi_res_id")),
    }
    .and_then(|v| v.as_str());
    if echoed.is_some_and(|e| e.eq_ignore_ascii_case(requested)) {
        return Ok(());
    }
    Err(Failure::Failed(Error::new(
        ErrorKind::AuthenticationFailed,
        format!(
            "{step}: the agent did not confirm the requested user-assigned identity ({}); it likely supports only the machine's own identity",
            kind.url_name()
        ),
    )))
}

/// A 2xx answer's token, or the refusal or malformed answer as the matching error.
fn read(
    step: &str,
    answer: &Answer,
    requested_at: i64,
    secrets: &[&str],
) -> Result<answer::Parsed, Failure> {
    if !(200..300).contains(&answer.status) {
        let (code, detail) = error_details(&answer.body);
        return Err(http_failure(
            step,
            answer.status,
            code.as_deref(),
            &scrub(&detail, secrets),
        ));
    }
    answer::parse(&answer.body, requested_at).map_err(|why| {
        Failure::Failed(Error::new(
            ErrorKind::ProviderResponse,
            format!("{step}: the answer is not a usable token response ({why})"),
        ))
    })
}

fn unreachable_endpoint(step: &str, e: &SendError, secrets: &[&str]) -> Failure {
    let kind = match e {
        SendError::TooLarge => ErrorKind::ProviderResponse,
        SendError::Request(_) => ErrorKind::InvalidConfig,
        SendError::Connect(_) | SendError::Io(_) => ErrorKind::Network,
    };
    Failure::Failed(Error::new(
        kind,
        format!(
            "{step}: cannot reach the identity endpoint ({})",
            scrub(&e.message(), secrets)
        ),
    ))
}

fn with_query(base: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Url, Failure> {
    let mut url = Url::parse(base).map_err(|e| {
        config(format!(
            "managed identity endpoint {}: {e}",
            crate::url::shorten(base)
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("api-version", api_version)
        .extend_pairs(query);
    Ok(url)
}

fn config(message: String) -> Failure {
    Failure::Failed(Error::new(ErrorKind::InvalidConfig, message))
}

#[cfg(feature = "fuzzing")]
/// [`answer::parse`] for the fuzz harness: the token and expiry, or why not.
pub(crate) fn parse_answer(body: &[u8], requested_at: i64) -> Result<(String, i64), String> {
    answer::parse(body, requested_at).map(|p| (p.secret, p.expires_on))
}
