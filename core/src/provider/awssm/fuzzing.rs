//! Test hooks for core/tests/fuzz_*.rs: what a Secrets Manager answer becomes.

use crate::error::Result;

/// The secret read from a `GetSecretValue` answer (status, body): its password and username.
pub fn answer(status: u16, body: &[u8]) -> Result<(String, Option<String>)> {
    let req = super::api::Request {
        secret_id: "fuzz/secret",
        version_stage: "AWSCURRENT",
        region: "eu-west-2",
    };
    super::api::read_answer(status, body, &req, 0).map(|s| (s.password, s.username))
}
