//! rustls settings for a TLS plan, on the core's stack (rustls + aws-lc): the system's roots or
//! the caller's CA file, and libpq's meaning of each mode.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, invalid};
use crate::options::{Mode, TlsPlan};

/// What the server's certificate must prove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Chain to a trusted root and the name asked for (`verify-full`).
    Full,
    /// Chain to the caller's CA, any name (`verify-ca`).
    Chain,
    /// Nothing (`require`, `prefer`, `allow`, all opted into).
    Nothing,
}

impl Check {
    pub fn of(mode: Mode) -> Check {
        match mode {
            Mode::VerifyFull => Check::Full,
            Mode::VerifyCa => Check::Chain,
            _ => Check::Nothing,
        }
    }
}

fn crypto() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The roots a plan trusts: its CA file, else the system's.
fn roots(plan: &TlsPlan) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    match plan.root_cert.as_deref().filter(|p| *p != "system") {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("sslrootcert={path} cannot be read: {e}")))?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(format!(
                    "sslrootcert={path} holds no usable CA certificate"
                )));
            }
        }
        None => {
            // Unreadable entries in the system store are skipped, as OpenSSL does.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

/// rustls settings for `plan`. ALPN `postgresql` as libpq 17 sends it, which PostgreSQL 17's
/// direct TLS requires and older servers ignore.
pub(crate) fn client_config(plan: &TlsPlan) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS settings: {e}")))?;
    let mut config = match Check::of(plan.mode) {
        Check::Full => builder
            .with_root_certificates(roots(plan)?)
            .with_no_client_auth(),
        check => {
            let verifier: Arc<dyn ServerCertVerifier> = match check {
                Check::Chain => Arc::new(AnyName(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(plan)?), crypto())
                        .build()
                        .map_err(|e| invalid(format!("TLS settings: {e}")))?,
                )),
                _ => Arc::new(Unchecked(crypto().signature_verification_algorithms)),
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// `verify-ca`: the chain must lead to the caller's CA; the name is not checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` (opted into): encrypted, the certificate not checked, as libpq does. The
/// handshake's signatures are still checked, so the session's keys belong to that certificate.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
