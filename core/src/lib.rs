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
mod deadline;
mod error;
mod fork;
mod provider;
mod redact;
mod runtime;
mod sdk_log;
mod tls;
mod token;
mod url;

pub use error::{Error, ErrorKind, Result};
pub use provider::{Provider, offline};
pub use token::Token;

/// Entry points for the fuzz harness (`core/tests/fuzz_*.rs`): passmint's own parsers of
/// untrusted input, and the SDK parsers it relies on, driven with canned answers. Not part
/// of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::provider::aws_credentials::fuzzing::{AwsSource, DSQL_URL, aws_answer};
    pub use crate::provider::azure::fuzzing::{
        AzureSource, CLIENT_SECRET, azure_answer, endpoint_error, jwt_username, scrub,
    };
}
