//! Extra trust roots for identity endpoints (DESIGN §3): corporate TLS proxies, private
//! endpoints and the tests' own CA. The default client already trusts the system roots and,
//! like OpenSSL, `SSL_CERT_FILE`/`SSL_CERT_DIR`; `PASSMINT_CA_BUNDLE` adds a PEM bundle on top.

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::error::{Error, ErrorKind, Result};

pub(crate) const CA_BUNDLE_VAR: &str = "PASSMINT_CA_BUNDLE";

/// An HTTP client for the AWS credential chain that also trusts `PASSMINT_CA_BUNDLE`, or
/// `None` when it is unset (the SDK's default client is then used as is).
pub(crate) fn aws_http_client() -> Result<Option<SharedHttpClient>> {
    let Some(path) = std::env::var_os(CA_BUNDLE_VAR).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let shown = path.to_string_lossy().into_owned();
    let pem = std::fs::read(&path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{CA_BUNDLE_VAR}={shown} cannot be read ({e}): point it at a PEM file or unset it"
            ),
        )
    })?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{CA_BUNDLE_VAR}={shown} holds no PEM certificate: it must contain -----BEGIN CERTIFICATE----- blocks"
            ),
        ));
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{CA_BUNDLE_VAR}={shown} is not a usable CA bundle: {e}"),
            )
        })?;
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    Ok(Some(client))
}
