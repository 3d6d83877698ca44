//! The metadata server (Compute Engine, GKE workload identity, Cloud Run, Cloud Functions), as
//! google-auth asks it: a probe that wants the `Metadata-Flavor: Google` answer header, the
//! default service account's details, then its token for the scopes.

use std::time::Duration;

use hyper::body::Bytes;

use super::answer::{self, AccessToken};
use super::transport::{Route, Transport};
use crate::error::Result;

const FLAVOR: (&str, &str) = ("metadata-flavor", "Google");
/// Off Google Cloud nothing answers at the metadata address; do not wait for it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const ACCOUNT_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default";

/// Is a Google metadata server answering at `ip`? Returns why not.
pub(super) async fn probe(transport: &Transport, ip: &str) -> std::result::Result<(), String> {
    let url = format!("http://{ip}/");
    let sent = transport.send(
        Route::Direct,
        hyper::Method::GET,
        &url,
        &[FLAVOR],
        Bytes::new(),
        "the metadata server",
    );
    match tokio::time::timeout(PROBE_TIMEOUT, sent).await {
        Ok(Ok(answer)) => {
            let flavor = answer
                .headers
                .get("metadata-flavor")
                .and_then(|v| v.to_str().ok());
            if flavor == Some("Google") {
                Ok(())
            } else {
                Err(format!(
                    "{url} answered, but without `Metadata-Flavor: Google`: not a Google metadata server"
                ))
            }
        }
        Ok(Err(e)) => Err(format!("{}: not on Google Cloud", e.message())),
        Err(_) => Err(format!(
            "no answer from {url} within {} s: not on Google Cloud",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// The default service account's e-mail and a token for `scopes`.
pub(super) async fn token(
    transport: &Transport,
    host: &str,
    scopes: &[String],
    now: i64,
) -> Result<(AccessToken, Option<String>)> {
    let what = "the metadata server";
    let info_url = format!("http://{host}{ACCOUNT_PATH}/?recursive=true");
    let info = transport
        .get_direct(&info_url, &[FLAVOR], what, &[])
        .await?;
    let email = answer::string_field(&info, "email");
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("scopes", &scopes.join(","))
        .finish();
    let token_url = format!("http://{host}{ACCOUNT_PATH}/token?{query}");
    let body = transport
        .get_direct(&token_url, &[FLAVOR], what, &[])
        .await?;
    Ok((answer::oauth(&body, now, what, true)?, email))
}
