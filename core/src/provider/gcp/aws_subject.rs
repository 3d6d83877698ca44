//! An `external_account` file's AWS subject token (`credential_source.environment_id: aws1`),
//! made as google-auth's `aws.Credentials` makes it: the region from `AWS_REGION`,
//! `AWS_DEFAULT_REGION` or the instance's availability zone; credentials from the environment's
//! keys or the instance's role (IMDSv2 when the file names a session token URL); a SigV4-signed
//! STS `GetCallerIdentity` request, serialized as URL-encoded JSON with Google's target resource
//! added, which Google's STS verifies with AWS.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::answer;
use super::transport::{Route, Transport};
use crate::error::{Error, ErrorKind, Result};
use crate::provider::env;

/// What the file's `credential_source` names.
pub(crate) struct AwsSource {
    pub region_url: Option<String>,
    /// The instance's security-credentials URL (its role, then the role's keys).
    pub url: Option<String>,
    pub verification_url: String,
    pub imdsv2_url: Option<String>,
}

/// google-auth's IMDSv2 session token lifetime.
const IMDS_TTL: &str = "300";
const WHAT: &str = "the AWS instance metadata (external_account aws1)";

fn unavailable(why: String) -> Error {
    Error::new(
        ErrorKind::CredentialUnavailable,
        format!("external_account (AWS): {why}"),
    )
}

/// The instance metadata, asked as google-auth asks it: an IMDSv2 session token (when the
/// file names its URL) for the region lookup, and another for the role and its keys.
struct Metadata<'a> {
    transport: &'a Transport,
    imdsv2_url: Option<&'a str>,
    token: Option<String>,
}

impl Metadata<'_> {
    /// A new session token, used by the `get`s until the next.
    async fn session(&mut self) -> Result<()> {
        let Some(token_url) = self.imdsv2_url else {
            return Ok(());
        };
        let answer = self
            .transport
            .send(
                Route::Direct,
                hyper::Method::PUT,
                token_url,
                &[("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TTL)],
                Bytes::new(),
                WHAT,
            )
            .await?;
        let body = answer::success(answer, WHAT, &[])?;
        self.token = Some(String::from_utf8_lossy(&body).trim().to_string());
        Ok(())
    }

    async fn get(&self, url: &str) -> Result<String> {
        let headers: Vec<(&str, &str)> = self
            .token
            .as_deref()
            .map(|t| ("x-aws-ec2-metadata-token", t))
            .into_iter()
            .collect();
        let secret = self.token.clone().unwrap_or_default();
        let body = self
            .transport
            .get_direct(url, &headers, WHAT, &[&secret])
            .await?;
        String::from_utf8(body.to_vec()).map_err(|_| {
            Error::new(
                ErrorKind::ProviderResponse,
                format!("{WHAT} answered with bytes that are not text"),
            )
        })
    }
}

async fn region(source: &AwsSource, metadata: &mut Metadata<'_>) -> Result<String> {
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        return Ok(region);
    }
    let Some(url) = &source.region_url else {
        return Err(unavailable(
            "no region: set AWS_REGION, or give the file's credential_source a region_url".into(),
        ));
    };
    // An availability zone (`us-east-2b`) less its last letter.
    metadata.session().await?;
    let zone = metadata.get(url).await?;
    let zone = zone.trim();
    match zone.char_indices().last() {
        Some((at, _)) if at > 0 => Ok(zone[..at].to_string()),
        _ => Err(Error::new(
            ErrorKind::ProviderResponse,
            format!("{WHAT}: the availability zone answer is empty"),
        )),
    }
}

async fn credentials(source: &AwsSource, metadata: &mut Metadata<'_>) -> Result<Credentials> {
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials::new(
            key,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    let Some(url) = &source.url else {
        return Err(unavailable(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the file's credential_source a url".into(),
        ));
    };
    metadata.session().await?;
    let role = metadata.get(url).await?;
    let role = role.trim();
    if role.is_empty() || role.contains(['/', '?', '#']) {
        return Err(Error::new(
            ErrorKind::ProviderResponse,
            format!("{WHAT}: the instance names no usable role (attach an IAM role to it)"),
        ));
    }
    let body = metadata
        .get(&format!("{}/{role}", url.trim_end_matches('/')))
        .await?;
    let refused = |why: &str| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("{WHAT}: the role's credentials {why}"),
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&body) else {
        return Err(refused("are not a JSON object"));
    };
    let field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_string);
    match (field("AccessKeyId"), field("SecretAccessKey")) {
        (Some(key), Some(secret)) if !key.is_empty() && !secret.is_empty() => Ok(Credentials::new(
            key,
            secret,
            field("Token"),
            None,
            "instance role",
        )),
        _ => Err(refused("lack AccessKeyId or SecretAccessKey")),
    }
}

/// The subject token for `audience` (Google's target resource).
pub(super) async fn subject(
    transport: &Transport,
    source: &AwsSource,
    audience: &str,
    now: SystemTime,
) -> Result<String> {
    let mut metadata = Metadata {
        transport,
        imdsv2_url: source.imdsv2_url.as_deref(),
        token: None,
    };
    let region = region(source, &mut metadata).await?;
    let creds = credentials(source, &mut metadata).await?;
    let url = source.verification_url.replace("{region}", &region);
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                "external_account (AWS): regional_cred_verification_url must be an https:// URL",
            )
        })?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    // google-auth: the service is the host's first label (`sts` of sts.<region>.amazonaws.com).
    let service = host.split('.').next().unwrap_or_default();
    let signed = crate::provider::aws::sigv4::sign_headers(
        "POST",
        &url,
        &[("host", &host)],
        &[],
        service,
        &region,
        &creds,
        now,
    )?;
    let header = |name: &str| {
        signed
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    // google-auth's order: Authorization, host, x-amz-date, x-amz-security-token, then the
    // target resource (added after signing).
    let mut headers = vec![
        json!({"key": "Authorization", "value": header("authorization")}),
        json!({"key": "host", "value": host}),
        json!({"key": "x-amz-date", "value": header("x-amz-date")}),
    ];
    if let Some(token) = creds.session_token() {
        headers.push(json!({"key": "x-amz-security-token", "value": token}));
    }
    headers.push(json!({"key": "x-goog-cloud-target-resource", "value": audience}));
    let request = json!({"headers": headers, "method": "POST", "url": url});
    Ok(quote(&request.to_string()))
}

/// Python's `urllib.parse.quote`: unreserved characters and `/` stay, the rest is `%XX`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for (i, part) in s.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        crate::provider::aws::sigv4::push_rfc3986(&mut out, part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_as_python_does() {
        assert_eq!(quote(r#"{"a":"b c/d"}"#), "%7B%22a%22%3A%22b%20c/d%22%7D");
        assert_eq!(quote("/x/"), "/x/");
    }
}
