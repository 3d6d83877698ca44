//! The client certificate credential of the environment step (`AZURE_CLIENT_CERTIFICATE_PATH`),
//! signed here: azure_identity's needs OpenSSL, a second TLS and crypto stack beside rustls and
//! aws-lc. The assertion is the one azure-identity (MSAL Python) sends to Entra ID: RS256, the
//! certificate's SHA-1 thumbprint as `x5t` (padded base64url, as MSAL writes it), `aud` the
//! token endpoint, `iss` and `sub` the client id, ten minutes of life, and the chain as `x5c`
//! when `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` is set (subject name/issuer authentication).
//!
//! Read: a PEM file with the certificate (first) and its unencrypted RSA key (PKCS #8 or
//! PKCS #1). Refused with the conversion command: PKCS #12 (`.pfx`) files and encrypted keys,
//! which need a parser or a cipher passmint does not carry.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::cache::Clock;
use crate::error::{Error, ErrorKind};

pub(super) const PATH_VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
pub(super) const SEND_CHAIN_VAR: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
/// An assertion's life, as MSAL's.
const LIFETIME_SECS: i64 = 600;

/// A certificate and its key, read once per fetch.
pub(super) struct Certificate {
    key: RsaKeyPair,
    /// The certificate first, then the rest of the file's chain (DER).
    chain: Vec<CertificateDer<'static>>,
    send_chain: bool,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("certificates", &self.chain.len())
            .field("send_chain", &self.send_chain)
            .finish_non_exhaustive()
    }
}

/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` as azure-identity reads it: `1` or `true`, any case.
pub(super) fn send_chain(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"))
}

fn refused(path: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!("environment (client certificate): {PATH_VAR}={path} {why}"),
    )
}

impl Certificate {
    pub fn load(path: &str, send_chain: bool) -> Result<Certificate, Error> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                format!("environment (client certificate): {PATH_VAR}={path} cannot be read ({e})"),
            )
        })?;
        let text = String::from_utf8_lossy(&bytes);
        if !text.contains("-----BEGIN ") {
            return Err(refused(
                path,
                "is not a PEM file (a .pfx/PKCS #12 file?): passmint reads PEM; convert it with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`",
            ));
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(refused(
                path,
                "holds an encrypted key, which passmint does not decrypt: write the key unencrypted with `openssl pkey -in cert.pem -out key.pem` and keep the file private (mode 0600)",
            ));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| refused(path, &format!("holds a malformed certificate ({e})")))?;
        if chain.is_empty() {
            return Err(refused(path, "holds no -----BEGIN CERTIFICATE----- block"));
        }
        let key = match PrivateKeyDer::from_pem_slice(&bytes) {
            Ok(PrivateKeyDer::Pkcs8(der)) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok(),
            Ok(PrivateKeyDer::Pkcs1(der)) => RsaKeyPair::from_der(der.secret_pkcs1_der()).ok(),
            Ok(_) => None,
            Err(_) => {
                return Err(refused(
                    path,
                    "holds no private key (-----BEGIN PRIVATE KEY-----)",
                ));
            }
        }
        .ok_or_else(|| {
            refused(
                path,
                "holds a key that is not a usable RSA key: Entra ID client certificates are RSA, 2048 bits or more",
            )
        })?;
        Ok(Certificate {
            key,
            chain,
            send_chain,
        })
    }

    /// A signed client assertion for `client_id` at `audience` (the token endpoint).
    fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, Error> {
        // SHA-1 is what Entra ID matches certificates by (the `x5t` thumbprint), not a signature.
        let thumbprint =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.chain[0]);
        let mut header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": URL_SAFE.encode(thumbprint.as_ref()),
        });
        if self.send_chain {
            let x5c: Vec<String> = self.chain.iter().map(|c| STANDARD.encode(c)).collect();
            header["x5c"] = serde_json::json!(x5c);
        }
        let rng = SystemRandom::new();
        let mut id = [0u8; 16];
        rng.fill(&mut id)
            .map_err(|_| Error::new(ErrorKind::Internal, "no randomness for a client assertion"))?;
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "jti": uuid(id),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::new(ErrorKind::Internal, "signing the client assertion failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A version 4 UUID from 16 random bytes.
fn uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The assertion azure_identity's `ClientAssertionCredential` posts for the certificate.
pub(super) struct Assertion {
    pub certificate: Arc<Certificate>,
    pub client_id: String,
    pub audience: String,
    pub clock: Clock,
}

impl fmt::Debug for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl ClientAssertion for Assertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = self.clock.now_ms().div_euclid(1000);
        self.certificate
            .assertion(&self.client_id, &self.audience, now)
            .map_err(|e| {
                azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    e.message().to_string(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_chain_reads_as_azure_identity_reads_it() {
        for on in ["1", "true", "TRUE", " True "] {
            assert!(send_chain(Some(on)), "{on}");
        }
        for off in [None, Some(""), Some("0"), Some("yes"), Some("false")] {
            assert!(!send_chain(off), "{off:?}");
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid([0xff; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }
}
