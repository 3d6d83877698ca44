//! Service account impersonation: IAM Credentials' `generateAccessToken`, called with a
//! source credential's token, as google-auth's impersonated credentials call it.

use hyper::body::Bytes;

use super::answer::{self, AccessToken};
use super::transport::{Route, Transport};
use crate::error::Result;

pub(super) struct Request<'a> {
    /// The full `…:generateAccessToken` URL.
    pub url: String,
    pub source_token: &'a str,
    pub scopes: &'a [String],
    pub delegates: &'a [String],
    pub lifetime_secs: u64,
    pub quota_project: Option<&'a str>,
}

/// The URL that impersonates `email` at the IAM Credentials API `base`.
pub(super) fn url(base: &str, email: &str) -> String {
    format!("{base}/v1/projects/-/serviceAccounts/{email}:generateAccessToken")
}

pub(super) async fn token(transport: &Transport, r: Request<'_>) -> Result<AccessToken> {
    super::config::https_only(&r.url, "the impersonation URL")?;
    let delegates = if r.delegates.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!(r.delegates)
    };
    let body = serde_json::json!({
        "delegates": delegates,
        "scope": r.scopes,
        "lifetime": format!("{}s", r.lifetime_secs),
    });
    let bearer = format!("Bearer {}", r.source_token);
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    if let Some(project) = r.quota_project {
        headers.push(("x-goog-user-project", project));
    }
    let what = "IAM Credentials (generateAccessToken)";
    let answer = transport
        .send(
            Route::Google,
            hyper::Method::POST,
            &r.url,
            &headers,
            Bytes::from(body.to_string()),
            what,
        )
        .await?;
    let body = answer::success(answer, what, &[r.source_token])?;
    answer::iam(&body, what)
}
