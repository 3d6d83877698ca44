//! Mutational fuzzing of passmint's own parsers of untrusted input (harness: `fuzzer/`).
//! Each target mutates its committed corpus (`core/fuzz/corpus/<target>/`) for
//! `PASSMINT_FUZZ_SECONDS` (2 s under `cargo test`, 60 s under `make fuzz-smoke`). Every input
//! must return without a panic, within 1 s, and without allocating more than 64 MiB at once.
//! A failing input is written to `core/fuzz/artifacts/<target>/`. The SDKs' parsers are
//! fuzzed by `fuzz_sdk.rs`.
//!
//! Targets:
//! - provider URLs;
//! - postgres URLs;
//! - JWT claim decoding;
//! - identity endpoints' error bodies;
//! - the message scrubber, which must never let a known secret through.

mod fuzzer;

use fuzzer::{fuzz, text};

#[test]
fn provider_urls() {
    assert!(
        fuzz("provider_url", |input| drop(passmint::Provider::from_url(
            &text(input)
        ))) > 0
            || fuzzer::replaying()
    );
}

#[test]
fn postgres_urls() {
    assert!(
        fuzz("postgres_url", |input| drop(
            passmint::Provider::for_postgres_url(&text(input))
        )) > 0
            || fuzzer::replaying()
    );
}

#[test]
fn jwt_claims() {
    assert!(
        fuzz("jwt_username", |input| drop(
            passmint::fuzzing::jwt_username(&text(input))
        )) > 0
            || fuzzer::replaying()
    );
}

#[test]
fn endpoint_error_bodies() {
    assert!(
        fuzz("endpoint_error", |input| {
            let (_, detail) = passmint::fuzzing::endpoint_error(input);
            assert!(!detail.contains('\n'), "the detail is one line");
        }) > 0
            || fuzzer::replaying()
    );
}

#[test]
fn the_scrubber_never_lets_a_secret_through() {
    assert!(
        fuzz("scrub", |input| {
            let text = text(input);
            // A secret taken from the input itself, as when an endpoint echoes what was sent.
            let secret: String = text
                .chars()
                .skip(text.chars().count() / 3)
                .take(12)
                .collect();
            let out = passmint::fuzzing::scrub(&text, &[&secret]);
            if secret.chars().count() == 12 && secret.trim().len() == secret.len() {
                assert!(
                    !out.contains(&secret),
                    "{secret:?} survived scrubbing: {out:?}"
                );
            }
        }) > 0
            || fuzzer::replaying()
    );
}
