//! SigV4 query-string presigning for DSQL and RDS tokens (aws-tokens.md §1).
//!
//! Signing is local and pure: credentials and time are arguments, so tokens can be compared
//! with boto3's for a frozen clock and benchmarked without a network.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::{Error, ErrorKind, Result};

/// Appends `s` percent-encoded per RFC 3986: unreserved characters stay, every other byte
/// is `%XX` — what boto3 and the JS signers produce (a space is `%20`, never `+`).
/// Byte-at-a-time into one buffer: session tokens run to a kilobyte and are encoded on
/// every mint.
pub(crate) fn push_rfc3986(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// What to sign: `https://{authority}/?{query}` with `service` in `region`.
pub(crate) struct Presign<'a> {
    /// `host` (DSQL) or `host:port` (RDS).
    pub authority: &'a str,
    /// Already RFC 3986-encoded, e.g. `Action=connect&DBUser=app%40x`.
    pub query: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub expires_in: u64,
}

/// The token: the presigned URL without `https://`. Parameters follow boto3's order, so a
/// token is byte-identical to boto3's for the same inputs.
pub(crate) fn presign(p: &Presign<'_>, creds: &Credentials, time: SystemTime) -> Result<String> {
    let identity: Identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(p.expires_in));
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(p.region)
        .name(p.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(signing_error)?
        .into();
    let url = format!("https://{}/?{}", p.authority, p.query);
    let request = SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(signing_error)?;
    let (instructions, _) = sign(request, &params).map_err(signing_error)?.into_parts();
    let mut signed: Vec<(&str, &str)> = instructions
        .params()
        .iter()
        .map(|(k, v)| (*k, v.as_ref()))
        .collect();
    signed.sort_by_key(|(k, _)| boto3_rank(k));

    let mut token = String::with_capacity(p.authority.len() + p.query.len() + 512);
    token.push_str(p.authority);
    token.push_str("/?");
    token.push_str(p.query);
    for (k, v) in signed {
        token.push('&');
        token.push_str(k);
        token.push('=');
        push_rfc3986(&mut token, v);
    }
    Ok(token)
}

/// The headers that sign `method url` (with `headers`, which must include `host`, and `body`)
/// for `service` in `region`: `x-amz-date`, `authorization` and, with a session token,
/// `x-amz-security-token`, all three signed with the given ones. What Google's AWS workload
/// identity federation sends as its subject token (an empty body), and Secrets Manager's
/// requests.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    region: &str,
    creds: &Credentials,
    time: SystemTime,
) -> Result<Vec<(String, String)>> {
    let identity: Identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::Headers;
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(signing_error)?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(signing_error)?;
    let (instructions, _) = sign(request, &params).map_err(signing_error)?.into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// The expiry a token states: its `X-Amz-Date` plus `X-Amz-Expires` (unix seconds).
pub(crate) fn stated_expiry(token: &str) -> Option<i64> {
    let (_, query) = token.split_once("/?")?;
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let date = param("X-Amz-Date")?;
    let expires: i64 = param("X-Amz-Expires")?.parse().ok()?;
    // 20240102T030405Z, as RFC 3339, for the one date parser.
    let b = date.as_bytes();
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !date[..8]
            .bytes()
            .chain(date[9..15].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    );
    Some(crate::when::parse_datetime(&rfc3339)? + expires)
}

fn boto3_rank(name: &str) -> u8 {
    match name {
        "X-Amz-Algorithm" => 0,
        "X-Amz-Credential" => 1,
        "X-Amz-Date" => 2,
        "X-Amz-Expires" => 3,
        "X-Amz-SignedHeaders" => 4,
        "X-Amz-Security-Token" => 5,
        "X-Amz-Signature" => 7,
        _ => 6,
    }
}

fn signing_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Internal, format!("SigV4 signing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::push_rfc3986;

    #[test]
    fn encodes_like_boto3() {
        let mut out = String::new();
        push_rfc3986(&mut out, "app@user+1 x/ü=%~._-");
        assert_eq!(out, "app%40user%2B1%20x%2F%C3%BC%3D%25~._-");
    }
}
