//! A service account key's token: the JWT bearer grant google-auth's `service_account`
//! credentials send (RFC 7523). RS256 with aws-lc, as the Entra certificate assertion is.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use super::adc::ServiceAccountKey;
use super::answer::{self, AccessToken};
use super::transport::Transport;
use crate::error::{Error, ErrorKind, Result};

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// google-auth's assertion audience, whatever `token_uri` the key names.
const AUDIENCE: &str = "https://oauth2.googleapis.com/token";
const ASSERTION_SECS: i64 = 3600;

/// The key's RSA key pair; a key that is not one is the file's fault, named without its bytes.
fn key_pair(key: &ServiceAccountKey, origin: &str) -> Result<RsaKeyPair> {
    let refused = |why: &str| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{origin}: the service account's private_key {why}: create and download a new JSON key for {}",
                key.client_email
            ),
        )
    };
    if key.private_key.contains("ENCRYPTED") {
        return Err(refused("is encrypted"));
    }
    match PrivateKeyDer::from_pem_slice(key.private_key.as_bytes()) {
        Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok(),
        Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()).ok(),
        Ok(_) => None,
        Err(_) => {
            return Err(refused(
                "is not a PEM private key (-----BEGIN PRIVATE KEY-----)",
            ));
        }
    }
    .ok_or_else(|| refused("is not an RSA key"))
}

/// The signed grant assertion for `scopes`, issued at `now`.
pub(crate) fn assertion(
    key: &ServiceAccountKey,
    origin: &str,
    scopes: &[String],
    now: i64,
) -> Result<String> {
    let pair = key_pair(key, origin)?;
    let mut header = serde_json::json!({"typ": "JWT", "alg": "RS256"});
    if let Some(kid) = &key.private_key_id {
        header["kid"] = serde_json::json!(kid);
    }
    let claims = serde_json::json!({
        "iat": now,
        "exp": now + ASSERTION_SECS,
        "iss": key.client_email,
        "aud": AUDIENCE,
        "scope": scopes.join(" "),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| {
        Error::new(
            ErrorKind::Internal,
            "signing the service account assertion failed",
        )
    })?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

pub(super) async fn token(
    transport: &Transport,
    key: &ServiceAccountKey,
    origin: &str,
    default_token_url: &str,
    scopes: &[String],
    now: i64,
) -> Result<AccessToken> {
    let url = key.token_uri.as_deref().unwrap_or(default_token_url);
    super::config::https_only(url, "the key's token_uri")?;
    let assertion = assertion(key, origin, scopes, now)?;
    let body = transport
        .post_form(
            url,
            &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
            &[],
            "Google's token endpoint (service account key)",
            &[&key.private_key, &assertion],
        )
        .await?;
    answer::oauth(&body, now, "Google's token endpoint", false)
}
