//! Extra trust roots for identity endpoints (docs/DESIGN.md §3): corporate TLS proxies, private
//! endpoints and the tests' own CA. Both HTTP clients (aws-config's, and passmint's own for
//! Entra ID) trust the system roots and, like OpenSSL, `SSL_CERT_FILE`/`SSL_CERT_DIR`;
//! `PASSMINT_CA_BUNDLE` adds a PEM bundle on top. One rustls + aws-lc stack for both.

use std::sync::Arc;

use aws_smithy_http_client::tls::{TlsContext, TrustStore};
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

/// TLS settings for the AWS credential chain's client: system roots (and `SSL_CERT_FILE`)
/// plus `PASSMINT_CA_BUNDLE` when set.
pub(crate) fn aws_tls_context() -> Result<TlsContext> {
    let mut store = TrustStore::default();
    let mut shown = None;
    if let Some((pem, path)) = ca_bundle()? {
        store = store.with_pem_certificate(pem);
        shown = Some(path);
    }
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| {
            let what = shown.map_or("the system's CA certificates".to_string(), |p| {
                format!("{CA_BUNDLE_VAR}={p}")
            });
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{what} is not a usable CA bundle: {e}"),
            )
        })
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
    client_config(roots)
}

/// rustls settings trusting only the PEM certificates in `pems` (a service's own CA, as
/// `VAULT_CACERT` names it); `shown` names where they came from in messages.
pub(crate) fn rustls_config_trusting(
    pems: &[Vec<u8>],
    shown: &str,
) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in pems {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .filter_map(std::result::Result::ok)
            .collect();
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("{shown} holds no usable PEM CA certificate"),
        ));
    }
    client_config(roots)
}

fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
