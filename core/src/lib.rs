//! passmint: short-lived PostgreSQL passwords from cloud identity.
//!
//! ```no_run
//! # async fn demo() -> passmint::Result<()> {
//! let provider = passmint::Provider::from_url("dsql://abc123.dsql.us-east-1.on.aws?user=admin")?;
//! let token = provider.token().await?;
//! // hand token.secret() to the driver as the password
//! # Ok(()) }
//! ```

mod cache;
mod child;
mod deadline;
pub mod driver_tls;
mod error;
mod fork;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
mod kind;
mod provider;
mod proxy;
mod redact;
mod runtime;
mod sdk_log;
pub mod shared_cache;
mod status;
mod tls;
mod token;
mod url;
mod when;

pub use child::kill_running_helpers;
pub use error::{Error, ErrorKind, Result};
pub use kind::ProviderKind;
pub use provider::Provider;
pub use provider::aws::AwsCredentials;
pub use provider::aws::offline;
pub use provider::azure::scope_for_cloud as azure_scope;
pub use provider::callback::{Completion, Minted, TokenSource, callback_error};
pub use status::Status;
pub use token::Token;
