//! Test hooks for core/tests/fuzz_*.rs: what a Vault answer becomes.

use crate::error::Result;

/// An answer (status, body) read as any Vault answer is: its JSON, or the error it states.
pub fn answer(status: u16, body: &[u8]) -> Result<serde_json::Value> {
    super::client::read(status, body, "fuzzing", &["fuzz-token"])
}
