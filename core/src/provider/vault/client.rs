//! Requests to Vault as hvac sends them: `X-Vault-Request: true`, `X-Vault-Token` once there is
//! one, `X-Vault-Namespace` when a namespace is set, JSON bodies; and its answers judged as hvac
//! judges them: `{"errors": [...]}` with the status saying which failure (403 permission
//! denied, 404 nothing there, 503 sealed or standby).

use hyper::body::Bytes;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::fork::ProcessLocal;
use crate::http::{HyperClient, SendError, build_client, process_client, send_with};

pub(super) struct Client {
    addr: String,
    namespace: Option<String>,
    http: ProcessLocal<HyperClient>,
}

/// What Vault answered: a 2xx body (empty for 204) as JSON.
pub(super) type Answer = Value;

impl Client {
    pub fn new(addr: String, namespace: Option<String>) -> Client {
        Client {
            addr,
            namespace,
            http: ProcessLocal::new(),
        }
    }

    /// The CA the Vault CLI would trust: `VAULT_CACERT`'s file, else every PEM file in
    /// `VAULT_CAPATH`; neither set, the system's roots and `PASSMINT_CA_BUNDLE`.
    fn client(&self) -> Result<&HyperClient> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let rules = || Some(crate::proxy::from_env());
        let Some((pems, shown)) = vault_ca()? else {
            return process_client(&self.http, rules);
        };
        let tls = crate::tls::rustls_config_trusting(&pems, &shown)?;
        Ok(self.http.publish(build_client((*tls).clone(), rules())))
    }

    /// One request to `/v1/<path>`; `what` names it in messages ("reading database/creds/app").
    pub async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        what: &str,
    ) -> Result<Answer> {
        let url = format!("{}/v1/{path}", self.addr);
        let mut headers: Vec<(&str, &str)> = vec![("X-Vault-Request", "true")];
        if let Some(token) = token {
            headers.push(("X-Vault-Token", token));
        }
        if let Some(ns) = &self.namespace {
            headers.push(("X-Vault-Namespace", ns));
        }
        let payload = match &body {
            Some(v) => {
                headers.push(("Content-Type", "application/json"));
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let answer = send_with(self.client()?, method, &url, &headers, payload)
            .await
            .map_err(|e| match e {
                SendError::TooLarge => Error::new(
                    ErrorKind::ProviderResponse,
                    format!(
                        "Vault answered {what} with a body over {} KiB",
                        crate::http::MAX_BODY / 1024
                    ),
                ),
                e => Error::new(
                    ErrorKind::Network,
                    format!(
                        "Vault at {} could not be reached while {what}: {}",
                        self.addr,
                        e.message()
                    ),
                ),
            })?;
        // A login's credentials are as secret as the token.
        let mut secrets: Vec<&str> = token.into_iter().collect();
        if let Some(body) = &body {
            secrets.extend(
                ["jwt", "secret_id"]
                    .iter()
                    .filter_map(|k| body.get(*k)?.as_str()),
            );
        }
        read(answer.status, &answer.body, what, &secrets)
    }
}

fn vault_ca() -> Result<Option<(Vec<Vec<u8>>, String)>> {
    let unreadable = |var: &str, path: &str, e: std::io::Error| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("{var}={path} cannot be read ({e})"),
        )
    };
    if let Some(path) = crate::provider::env("VAULT_CACERT") {
        let pem = std::fs::read(&path).map_err(|e| unreadable("VAULT_CACERT", &path, e))?;
        return Ok(Some((vec![pem], format!("VAULT_CACERT={path}"))));
    }
    if let Some(dir) = crate::provider::env("VAULT_CAPATH") {
        let entries = std::fs::read_dir(&dir).map_err(|e| unreadable("VAULT_CAPATH", &dir, e))?;
        let pems = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect();
        return Ok(Some((pems, format!("VAULT_CAPATH={dir}"))));
    }
    if crate::provider::env("VAULT_SKIP_VERIFY")
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "t" | "TRUE" | "True"))
    {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            "VAULT_SKIP_VERIFY is set: passmint does not send a Vault token over TLS it cannot verify; set VAULT_CACERT to the server's CA instead",
        ));
    }
    Ok(None)
}

/// Vault's answer as JSON, or the error it states. `secrets` are never quoted.
pub(crate) fn read(status: u16, body: &[u8], what: &str, secrets: &[&str]) -> Result<Answer> {
    if status == 204 || (200..300).contains(&status) && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return match json {
            Some(v @ Value::Object(_)) => Ok(v),
            _ => Err(Error::new(
                ErrorKind::ProviderResponse,
                format!("Vault answered {what} with something that is not a JSON object"),
            )),
        };
    }
    let said = json
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.trim().is_empty());
    let said = said.map(|s| crate::redact::scrub(&s, secrets, 300));
    let (kind, meaning) = match status {
        400 => (ErrorKind::ProviderResponse, "refused the request"),
        401 | 403 => (
            ErrorKind::AuthenticationFailed,
            "said permission denied: the token (or login) lacks a policy for this path, or has expired",
        ),
        404 => (
            ErrorKind::CredentialUnavailable,
            "has nothing at this path: check the mount, the role and the namespace",
        ),
        429 => (ErrorKind::Network, "is rate-limiting this client"),
        503 => (ErrorKind::Network, "is sealed or unavailable"),
        500..=599 => (ErrorKind::Network, "failed"),
        _ => (ErrorKind::ProviderResponse, "answered unexpectedly"),
    };
    let said = said.map(|s| format!(": {s}")).unwrap_or_default();
    Err(Error::new(
        kind,
        format!("Vault {meaning} ({what}, HTTP {status}){said}"),
    ))
}

/// A string field at `path` (`["auth", "client_token"]`) of an answer.
pub(super) fn string<'a>(answer: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(answer, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A number of seconds at `path`, as Vault writes them (an integer).
pub(super) fn seconds(answer: &Value, path: &[&str]) -> Option<i64> {
    path.iter()
        .try_fold(answer, |v, k| v.get(*k))
        .and_then(crate::when::unix_seconds)
}
