//! `GetSecretValue` as botocore sends it: `POST /` to the regional endpoint (or
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, then `AWS_ENDPOINT_URL`, unless
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), `X-Amz-Target: secretsmanager.GetSecretValue`,
//! `Content-Type: application/x-amz-json-1.1`, a body of `SecretId` and `VersionStage`, SigV4
//! for `secretsmanager`. The answer's `SecretString` holds the secret; an error is
//! `{"__type", "message"}`, judged by its type as botocore judges it, not by its status.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use hyper::body::Bytes;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{HyperClient, SendError, send_with};
use crate::provider::secret::{self, Secret};

const TARGET: &str = "secretsmanager.GetSecretValue";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub(super) struct Request<'a> {
    pub secret_id: &'a str,
    pub version_stage: &'a str,
    pub region: &'a str,
}

/// Where the request goes: an override a user or a test set, else the region's endpoint.
pub(super) fn endpoint(region: &str) -> Result<url::Url> {
    let ignore = crate::provider::env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let configured = (!ignore)
        .then(|| {
            ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"]
                .into_iter()
                .find_map(|var| crate::provider::env(var).map(|v| (var, v)))
        })
        .flatten();
    let Some((var, value)) = configured else {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        return url::Url::parse(&format!("https://secretsmanager.{region}.{suffix}/"))
            .map_err(|_| Error::config(format!("no Secrets Manager endpoint for `{region}`")));
    };
    let url = url::Url::parse(value.trim()).map_err(|_| {
        Error::config(format!(
            "{var} is not a URL (https://secretsmanager.example)"
        ))
    })?;
    let loopback = crate::url::is_loopback(&url);
    match url.scheme() {
        "https" => Ok(url),
        // The answer is the database password: plaintext only to this machine (an emulator).
        "http" if loopback => Ok(url),
        _ => Err(Error::config(format!(
            "{var}: Secrets Manager answers with the password, so its endpoint must be https:// (http:// only on loopback)"
        ))),
    }
}

/// The secret, read from the answer; errors named by the service's own type.
pub(super) async fn get_secret_value(
    client: &HyperClient,
    req: &Request<'_>,
    creds: &Credentials,
    now_ms: i64,
) -> Result<Secret> {
    let url = endpoint(req.region)?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let body = serde_json::json!({
        "SecretId": req.secret_id,
        "VersionStage": req.version_stage,
    })
    .to_string();
    let time = UNIX_EPOCH + Duration::from_millis(now_ms.max(0) as u64);
    let unsigned = [
        ("content-type", CONTENT_TYPE),
        ("host", host.as_str()),
        ("x-amz-target", TARGET),
    ];
    let signed = crate::provider::aws::sigv4::sign_headers(
        "POST",
        url.as_str(),
        &unsigned,
        body.as_bytes(),
        "secretsmanager",
        req.region,
        creds,
        time,
    )?;
    let mut headers: Vec<(&str, &str)> = unsigned.to_vec();
    headers.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let answer = send_with(
        client,
        hyper::Method::POST,
        url.as_str(),
        &headers,
        Bytes::from(body),
    )
    .await
    .map_err(|e| match e {
        SendError::TooLarge => Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "Secrets Manager answered with a body over {} KiB",
                crate::http::MAX_BODY / 1024
            ),
        ),
        e => Error::new(
            ErrorKind::Network,
            format!(
                "Secrets Manager at {} could not be reached: {}",
                url.host_str().unwrap_or_default(),
                e.message()
            ),
        ),
    })?;
    read_answer(answer.status, &answer.body, req, now_ms.div_euclid(1000))
}

/// The secret in a `GetSecretValue` answer, or the error it states. Never quotes the secret.
pub(crate) fn read_answer(status: u16, body: &[u8], req: &Request<'_>, now: i64) -> Result<Secret> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let Some(Value::Object(fields)) = json else {
        return Err(Error::new(
            ErrorKind::ProviderResponse,
            format!("Secrets Manager answered HTTP {status} without a JSON object"),
        ));
    };
    if !(200..300).contains(&status) || fields.contains_key("__type") {
        return Err(service_error(status, &fields, req));
    }
    match fields.get("SecretString") {
        Some(Value::String(text)) => {
            let parsed = if text.trim_start().starts_with('{') {
                secret::json(text.as_bytes(), now)
            } else {
                secret::raw(text.as_bytes())
            };
            parsed.map_err(|why| {
                Error::new(
                    ErrorKind::ProviderResponse,
                    format!(
                        "secret `{}` ({}) holds no password: {why}",
                        crate::url::shorten(req.secret_id),
                        req.version_stage
                    ),
                )
            })
        }
        _ if fields.contains_key("SecretBinary") => Err(Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "secret `{}` is binary (SecretBinary): passmint reads a SecretString such as {{\"username\", \"password\"}}",
                crate::url::shorten(req.secret_id)
            ),
        )),
        _ => Err(Error::new(
            ErrorKind::ProviderResponse,
            "Secrets Manager answered without a SecretString",
        )),
    }
}

fn service_error(status: u16, fields: &serde_json::Map<String, Value>, req: &Request<'_>) -> Error {
    // `__type` may carry a namespace: `com.amazonaws.secretsmanager#ResourceNotFoundException`.
    let code = fields
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t))
        .unwrap_or("");
    let said = fields
        .get("message")
        .or_else(|| fields.get("Message"))
        .and_then(Value::as_str)
        .map(|m| crate::redact::scrub(m, &[], 300))
        .unwrap_or_default();
    let id = crate::url::shorten(req.secret_id);
    let (kind, fix) = match code {
        "ResourceNotFoundException" => (
            ErrorKind::CredentialUnavailable,
            format!(
                "no secret `{id}` with stage {} in {}: check the name, the region and version_stage",
                req.version_stage, req.region
            ),
        ),
        "InvalidRequestException" => (
            ErrorKind::CredentialUnavailable,
            format!("secret `{id}` cannot be read now (deleted, or scheduled for deletion?)"),
        ),
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredTokenException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException" => (
            ErrorKind::AuthenticationFailed,
            format!(
                "reading secret `{id}` was refused: the credentials need secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)"
            ),
        ),
        "DecryptionFailure" => (
            ErrorKind::AuthenticationFailed,
            format!(
                "secret `{id}` could not be decrypted: the credentials need kms:Decrypt on its key"
            ),
        ),
        _ => (
            ErrorKind::ProviderResponse,
            format!("reading secret `{id}` failed (HTTP {status})"),
        ),
    };
    let code = if code.is_empty() {
        "no error type"
    } else {
        code
    };
    Error::new(kind, format!("{fix}: {code}: {said}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request<'static> {
        Request {
            secret_id: "prod/app/db",
            version_stage: "AWSCURRENT",
            region: "eu-west-2",
        }
    }

    #[test]
    fn an_rds_shaped_secret_gives_its_user_and_password() {
        let secret = r#"{"username":"app","password":"s3cr3t-pw","engine":"postgres","host":"db","port":5432,"dbname":"app"}"#;
        let body = serde_json::json!({"ARN": "arn", "Name": "prod/app/db", "SecretString": secret})
            .to_string();
        let got = read_answer(200, body.as_bytes(), &req(), 0).unwrap();
        assert_eq!(
            (got.username.as_deref(), got.password.as_str()),
            (Some("app"), "s3cr3t-pw")
        );
        let plain = serde_json::json!({"SecretString": "just-a-password"}).to_string();
        assert_eq!(
            read_answer(200, plain.as_bytes(), &req(), 0)
                .unwrap()
                .password,
            "just-a-password"
        );
    }

    #[test]
    fn errors_are_typed_by_the_service_type_and_never_quote_the_secret() {
        let cases = [
            (
                400,
                r#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
                ErrorKind::CredentialUnavailable,
            ),
            (
                404,
                r#"{"__type":"ResourceNotFoundException","message":"nope"}"#,
                ErrorKind::CredentialUnavailable,
            ),
            (
                400,
                r#"{"__type":"AccessDeniedException","Message":"User is not authorized"}"#,
                ErrorKind::AuthenticationFailed,
            ),
            (
                400,
                r#"{"__type":"DecryptionFailure","message":"kms"}"#,
                ErrorKind::AuthenticationFailed,
            ),
            (
                500,
                r#"{"__type":"InternalServiceError","message":"x"}"#,
                ErrorKind::ProviderResponse,
            ),
            (
                200,
                r#"{"SecretString":"{\"username\":\"app\",\"passwd\":\"s3cr3t-pw\"}"}"#,
                ErrorKind::ProviderResponse,
            ),
            (
                200,
                r#"{"SecretBinary":"czNjcjN0LXB3"}"#,
                ErrorKind::ProviderResponse,
            ),
            (502, "<html>bad gateway</html>", ErrorKind::ProviderResponse),
        ];
        for (status, body, kind) in cases {
            let e = read_answer(status, body.as_bytes(), &req(), 0).unwrap_err();
            assert_eq!(e.kind(), kind, "{body}: {e}");
            assert!(!e.message().contains("s3cr3t"), "{e}");
        }
    }
}
