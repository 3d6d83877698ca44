//! Proxies for identity requests, read as curl, Python's requests and the AWS and Azure SDKs
//! read them: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, in either case.
//! Metadata and managed-identity endpoints are never proxied, whatever the variables say:
//! they are answered by the host or a local agent and a proxy cannot reach them (as
//! azure-identity and botocore's container provider send them directly). Entra ID, STS, SSO
//! and every other identity service go through the proxy the environment names.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy rules of this process's environment, read when a client is built.
pub(crate) fn from_env() -> Arc<Matcher> {
    Arc::new(Matcher::from_env())
}

/// Is `host` a link-local address (169.254.0.0/16, fe80::/10), or AWS's IPv6 metadata
/// addresses (fd00:ec2::/32)? Metadata services live there, and no proxy reaches them.
pub(crate) fn is_metadata_address(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            (s[0] & 0xffc0) == 0xfe80 || (s[0] == 0xfd00 && s[1] == 0x0ec2)
        }
        Err(_) => false,
    }
}

/// A TCP connector that opens an HTTP CONNECT tunnel through the proxy the rules name for a
/// destination, or connects directly. TLS to the destination is layered on top, so the proxy
/// sees only the host and port. `None` rules: always direct (managed-identity endpoints).
#[derive(Clone)]
pub(crate) struct Connector {
    tcp: HttpConnector,
    rules: Option<Arc<Matcher>>,
}

impl Connector {
    pub(crate) fn new(tcp: HttpConnector, rules: Option<Arc<Matcher>>) -> Connector {
        Connector { tcp, rules }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // HttpConnector is always ready; each call clones it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let through = self
            .rules
            .as_ref()
            .filter(|_| !dst.host().is_some_and(is_metadata_address))
            .and_then(|rules| rules.intercept(&dst));
        let mut tcp = self.tcp.clone();
        match through {
            None => Box::pin(async move { tcp.call(dst).await.map_err(BoxError::from) }),
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { tunnel.call(dst).await.map_err(BoxError::from) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_addresses_are_link_local_and_aws_ipv6() {
        for host in [
            "169.254.169.254",
            "169.254.170.2",
            "[fd00:ec2::254]",
            "fe80::1",
        ] {
            assert!(is_metadata_address(host), "{host}");
        }
        for host in [
            "127.0.0.1",
            "login.microsoftonline.com",
            "10.0.0.1",
            "[::1]",
        ] {
            assert!(!is_metadata_address(host), "{host}");
        }
    }
}
