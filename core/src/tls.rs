//! Extra trust roots for identity endpoints (docs/DESIGN.md §3): corporate TLS proxies, private
//! endpoints and the tests' own CA. Both HTTP clients (aws-config's, and passmint's own for
//! Entra ID) trust the system roots and, like OpenSSL, `SSL_CERT_FILE`/`SSL_CERT_DIR`;
//! `PASSMINT_CA_BUNDLE` adds a PEM bundle on top. One rustls + aws-lc stack for both.

use std::sync::Arc;

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{Error, ErrorKind, Result};

pub(crate) const CA_BUNDLE_VAR: &str = "PASSMINT_CA_BUNDLE";

/// The extra PEM bundle and its path (for messages), or `None` when unset.
fn ca_bundle() -> Result<Option<(Vec<u8>, String)>> {
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
    Ok(Some((pem, shown)))
}

/// An HTTP client for the AWS credential chain that also trusts `PASSMINT_CA_BUNDLE`, or
/// `None` when it is unset (the SDK's default client is then used as is).
pub(crate) fn aws_http_client() -> Result<Option<SharedHttpClient>> {
    let Some((pem, shown)) = ca_bundle()? else {
        return Ok(None);
    };
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

/// rustls settings for passmint's own HTTPS client: system roots plus `PASSMINT_CA_BUNDLE`.
/// Built once (reading the system store costs milliseconds), without a lock: this runs on
/// callers' threads, where a `OnceLock` a parent thread was filling at fork time would
/// block a child for ever.
pub(crate) fn rustls_config() -> Result<Arc<rustls::ClientConfig>> {
    static CONFIG: crate::fork::Racy<Result<Arc<rustls::ClientConfig>>> = crate::fork::Racy::new();
    CONFIG.get_or_init(build_rustls_config).clone()
}

fn build_rustls_config() -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable entries in the system store are skipped, as OpenSSL does.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some((pem, shown)) = ca_bundle()? {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("{CA_BUNDLE_VAR}={shown} is not a usable CA bundle: {e}"),
                )
            })?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("{CA_BUNDLE_VAR}={shown} holds no usable CA certificate"),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
