//! AWS credentials the caller already holds, fetched through the caller's function each time
//! the credentials cache needs them (a boto3 `Session`, an `@aws-sdk` credential provider, a C
//! callback): signing stays here, and the credentials' expiry bounds the token as with the
//! default chain's.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;

use crate::cache::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::provider::callback::{Completion, completed};

/// One set of AWS credentials from the caller. `expires_at` is unix seconds; `None` for
/// long-term keys.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The caller's function, as the credentials cache calls it.
pub(crate) type Fetch = Arc<dyn Fn() -> BoxFuture<Result<Credentials>> + Send + Sync>;

/// A blocking function of the caller's, run on passmint's blocking pool.
pub(crate) fn blocking<F>(f: F) -> Fetch
where
    F: Fn() -> Result<AwsCredentials> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Arc::new(move || {
        let f = f.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f())
                .await
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Panic,
                        "the AWS credentials callback panicked",
                    ))
                })
                .and_then(checked)
        })
    })
}

/// A function of the caller's that answers later through a [`Completion`] (an `@aws-sdk`
/// credential provider's Promise).
pub(crate) fn completing<F>(start: F) -> Fetch
where
    F: Fn(Completion<AwsCredentials>) + Send + Sync + 'static,
{
    let start: Arc<dyn Fn(Completion<AwsCredentials>) + Send + Sync> = Arc::new(start);
    Arc::new(move || {
        let start = start.clone();
        Box::pin(async move {
            completed(start, "AWS credentials callback")
                .await
                .and_then(checked)
        })
    })
}

fn checked(c: AwsCredentials) -> Result<Credentials> {
    let refuse = |why: &str| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("the AWS credentials callback returned {why}"),
        )
    };
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(refuse("an empty access key id or secret access key"));
    }
    let expiry = match c.expires_at {
        None => None,
        Some(secs) if secs > 9_999_999_999 => {
            return Err(refuse(
                "an expiry that is not unix seconds (milliseconds? divide by 1000)",
            ));
        }
        Some(secs) => Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))),
    };
    Ok(Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        c.session_token.filter(|t| !t.is_empty()),
        expiry,
        "Caller",
    ))
}
