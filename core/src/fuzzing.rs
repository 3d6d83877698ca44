//! Entry points for the fuzz harness (`core/tests/fuzz_*.rs`), behind the `fuzzing` cargo
//! feature (off by default; `make test` and `make fuzz-smoke` turn it on): passmint's own
//! parsers of untrusted input, and the SDK parsers it relies on, driven with canned answers.
//! Not part of the API.

pub use crate::provider::aws::fuzzing::{AwsSource, DSQL_URL, aws_answer};
pub use crate::provider::awssm::fuzzing as awssm;
pub use crate::provider::azure::fuzzing::{
    AzureSource, CLIENT_SECRET, azure_answer, endpoint_error, jwt_username, scrub,
};
pub use crate::provider::gcp::fuzzing as gcp;
pub use crate::provider::secret::fuzz_secret as secret;
pub use crate::provider::vault::fuzzing as vault;

/// A canned program's answer: its stdout, or `stdout\n--stderr--\nstderr` for a program
/// that fails. Returns the stderr part if any.
pub(crate) fn split_canned_output(answer: &[u8]) -> (&[u8], Option<&[u8]>) {
    const SPLIT: &[u8] = b"\n--stderr--\n";
    match answer.windows(SPLIT.len()).position(|w| w == SPLIT) {
        Some(at) => (&answer[..at], Some(&answer[at + SPLIT.len()..])),
        None => (answer, None),
    }
}
