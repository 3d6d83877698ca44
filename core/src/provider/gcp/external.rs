//! Workload identity federation (`external_account`): a subject token from a file or a URL,
//! exchanged at Google's STS (RFC 8693) as google-auth's identity pool credentials do.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::adc::{ExternalAccount, Format, SubjectSource};
use super::answer::{self, AccessToken};
use super::transport::Transport;
use crate::error::{Error, ErrorKind, Result};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A subject token is a JWT or a SAML assertion: kilobytes.
const MAX_SUBJECT: usize = 64 * 1024;

fn unavailable(origin: &str, why: String) -> Error {
    Error::new(ErrorKind::CredentialUnavailable, format!("{origin}: {why}"))
}

/// The subject token, read as google-auth reads it: the text as it is, or one JSON field.
pub(crate) fn subject_from(
    content: &[u8],
    format: &Format,
    origin: &str,
    whence: &str,
) -> Result<String> {
    let refused = |why: &str| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("{origin}: {whence} {why}"),
        )
    };
    if content.len() > MAX_SUBJECT {
        return Err(refused("is larger than any subject token"));
    }
    let token = match format {
        Format::Text => String::from_utf8(content.to_vec()).map_err(|_| refused("is not text"))?,
        Format::Json(field) => {
            let value: serde_json::Value = serde_json::from_slice(content)
                .map_err(|_| refused("is not JSON (the file's format says json)"))?;
            match value.get(field) {
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => {
                    return Err(refused(&format!(
                        "has no string field `{}`",
                        crate::url::shorten(field)
                    )));
                }
            }
        }
    };
    if token.trim().is_empty() {
        return Err(refused("holds no subject token"));
    }
    Ok(token)
}

async fn subject(transport: &Transport, account: &ExternalAccount, origin: &str) -> Result<String> {
    match &account.source {
        SubjectSource::File { path, format } => {
            let content = std::fs::read(path).map_err(|e| {
                unavailable(
                    origin,
                    format!("the subject token file {path} cannot be read ({e})"),
                )
            })?;
            subject_from(
                &content,
                format,
                origin,
                &format!("the subject token file {path}"),
            )
        }
        SubjectSource::Url {
            url,
            headers,
            format,
        } => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let what = "the subject token URL";
            // A local agent (a platform's metadata endpoint): never through a proxy.
            let body = transport.get_direct(url, &headers, what, &[]).await?;
            subject_from(&body, format, origin, what)
        }
        SubjectSource::Aws(aws) => {
            super::aws_subject::subject(transport, aws, &account.audience, SystemTime::now()).await
        }
    }
}

/// The STS token for `scopes`.
pub(super) async fn token(
    transport: &Transport,
    account: &ExternalAccount,
    origin: &str,
    scopes: &[String],
    now: i64,
) -> Result<AccessToken> {
    super::config::https_only(&account.token_url, "the file's token_url")?;
    let subject = subject(transport, account, origin).await?;
    let scope = scopes.join(" ");
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", account.audience.as_str()),
        ("scope", scope.as_str()),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", account.subject_token_type.as_str()),
    ];
    // google-auth: a workforce pool's user project, unless the client authenticates itself.
    let options = match (&account.workforce_pool_user_project, &account.client_id) {
        (Some(project), None) => Some(serde_json::json!({"userProject": project}).to_string()),
        _ => None,
    };
    if let Some(options) = &options {
        form.push(("options", options));
    }
    let basic = account.client_id.as_ref().map(|id| {
        let secret = account.client_secret.as_deref().unwrap_or("");
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    });
    let headers: Vec<(&str, &str)> = basic
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let mut secrets = vec![subject.as_str()];
    if let Some(s) = &account.client_secret {
        secrets.push(s);
    }
    let body = transport
        .post_form(
            &account.token_url,
            &form,
            &headers,
            "Google STS (token exchange)",
            &secrets,
        )
        .await?;
    answer::oauth(&body, now, "Google STS", false)
}
