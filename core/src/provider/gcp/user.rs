//! An `authorized_user` file's token (`gcloud auth application-default login`): the refresh
//! token grant google-auth's user credentials send.

use super::adc::AuthorizedUser;
use super::answer::{self, AccessToken};
use super::transport::Transport;
use crate::error::Result;

/// `scopes`: what to ask for; `None` asks for what the refresh token was granted (the
/// source of an impersonation, which needs more than a login scope).
pub(super) async fn token(
    transport: &Transport,
    user: &AuthorizedUser,
    token_url: &str,
    scopes: Option<&[String]>,
    now: i64,
) -> Result<AccessToken> {
    // As google-auth: Google's endpoint (PASSMINT_GCP_TOKEN_URL), whatever the file says.
    let url = token_url;
    let joined = scopes.map(|s| s.join(" "));
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", user.client_id.as_str()),
        ("client_secret", user.client_secret.as_str()),
        ("refresh_token", user.refresh_token.as_str()),
    ];
    if let Some(scope) = &joined {
        form.push(("scope", scope));
    }
    let body = transport
        .post_form(
            url,
            &form,
            &[],
            "Google's token endpoint (authorized user)",
            &[&user.client_secret, &user.refresh_token],
        )
        .await?;
    answer::oauth(&body, now, "Google's token endpoint", false)
}
