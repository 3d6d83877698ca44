//! Mutational fuzzing of passmint's own parsers of untrusted input (harness: `fuzzer/`).
//! Each target mutates its committed corpus (`core/fuzz/corpus/<target>/`) for
//! `PASSMINT_FUZZ_SECONDS` (2 s under `cargo test`, 30 s under `make fuzz-smoke`). Every input
//! must return without a panic, within 1 s, and without allocating more than 64 MiB at once.
//! A failing input is written to `core/fuzz/artifacts/<target>/`. The SDKs' parsers are
//! fuzzed by `fuzz_sdk.rs`.
//!
//! Targets:
//! - provider URLs;
//! - postgres URLs;
//! - JWT claim decoding;
//! - identity endpoints' error bodies;
//! - the message scrubber, which must never let a known secret through;
//! - Google's token, STS, IAM and metadata answers, credential files and subject tokens;
//! - the secret sources' input: password files and commands' output (raw and JSON), Vault's and
//!   Secrets Manager's answers.

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

/// The forms a program may print a secret in: JSON-escaped the PHP way (`\/`) and the .NET
/// way (`\u002B` and friends), percent-encoded strictly or leaving RFC 3986's unreserved
/// characters, and base64 on its own or inside a longer blob.
fn encoded_forms(secret: &str, blob_prefix: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let json = serde_json::to_string(secret).unwrap();
    let json = &json[1..json.len() - 1];
    let dotnet = json
        .replace('+', "\\u002B")
        .replace('<', "\\u003C")
        .replace('>', "\\u003E")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    vec![
        json.replace('/', "\\/"),
        dotnet,
        utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(secret, UNRESERVED).to_string(),
        STANDARD.encode(secret),
        URL_SAFE.encode(secret),
        STANDARD.encode(format!("{blob_prefix}{secret}")),
    ]
}

/// Whether `secret` can be read back out of `out` by base64-decoding any run of it at any
/// alignment: what an attacker holding the message would try.
fn base64_reveals(out: &str, secret: &str) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
    out.split(|c: char| !alphabet(c)).any(|run| {
        (0..4).any(|skip| {
            let body = run.get(skip..).unwrap_or("");
            let body = &body[..body.len() / 4 * 4];
            [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD].iter().any(|engine| {
                engine
                    .decode(body)
                    .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
            })
        })
    })
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
            let whole = secret.chars().count() == 12 && secret.trim().len() == secret.len();
            if whole {
                assert!(
                    !out.contains(&secret),
                    "{secret:?} survived scrubbing: {out:?}"
                );
            }
            // The same secret, printed in the encodings programs use, amid the input.
            let cut = text
                .char_indices()
                .nth(text.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            let prefix: String = text.chars().take(text.chars().count() % 3).collect();
            if whole && !secret.contains(char::is_whitespace) {
                for form in encoded_forms(&secret, &prefix) {
                    let mixed = format!("{} {form} {}", &text[..cut], &text[cut..]);
                    let out = passmint::fuzzing::scrub(&mixed, &[&secret]);
                    assert!(!out.contains(&form), "{form:?} survived scrubbing: {out:?}");
                    assert!(
                        !out.contains(&secret),
                        "{secret:?} survived as {form:?}: {out:?}"
                    );
                    assert!(
                        !base64_reveals(&out, &secret),
                        "{form:?} decodes to {secret:?}: {out:?}"
                    );
                }
            }
            // A secret-named field loses its value whatever its length.
            let value: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '\\'))
                .take(1 + input.len() % 20)
                .collect();
            if !value.is_empty() && value != "<redacted>" {
                let field = format!("\"SessionToken\":\"{value}\"");
                let out = passmint::fuzzing::scrub(&format!("{} {field}", &text[..cut]), &[]);
                assert!(!out.contains(&field), "{field} survived scrubbing: {out:?}");
            }
        }) > 0
            || fuzzer::replaying()
    );
}

/// Google's answers, each input through every reader: token endpoint, STS and metadata (as each
/// reads them), IAM Credentials, and the error-body reader. One target, one time budget.
#[test]
fn google_answers() {
    assert!(
        fuzz("gcp_answer", |input| {
            for numeric_only in [false, true] {
                if let Ok((secret, expires)) =
                    passmint::fuzzing::gcp::oauth_answer(input, numeric_only)
                {
                    assert!(!secret.trim().is_empty());
                    assert!(expires >= 1_700_000_000);
                }
            }
            drop(passmint::fuzzing::gcp::iam_answer(input));
            let detail = passmint::fuzzing::gcp::error_detail(input);
            assert!(!detail.contains('\n'), "the detail is one line");
        }) > 0
            || fuzzer::replaying()
    );
}

/// Credential files and subject tokens: a typed error or a value, never a panic.
#[test]
fn google_credential_files() {
    assert!(
        fuzz("gcp_file", |input| {
            if let Err(e) = passmint::fuzzing::gcp::adc_file(input) {
                assert_eq!(
                    e.kind(),
                    passmint::ErrorKind::InvalidConfig,
                    "{}",
                    e.message()
                );
            }
            drop(passmint::fuzzing::gcp::subject_token(input, None));
            drop(passmint::fuzzing::gcp::subject_token(
                input,
                Some("access_token"),
            ));
        }) > 0
            || fuzzer::replaying()
    );
}

/// A password file or a token command's output, read raw and as JSON: a secret or a reason,
/// and a reason never quotes the input's password-looking values.
#[test]
fn secret_files_and_command_output() {
    assert!(
        fuzz("secret_file", |input| {
            for read in passmint::fuzzing::secret(input) {
                match read {
                    Ok((password, _, _)) => assert!(!password.is_empty()),
                    Err(why) => assert!(why.len() < 200, "{why}"),
                }
            }
        }) > 0
            || fuzzer::replaying()
    );
}

/// Vault's and Secrets Manager's answers: a value or a typed error, never a panic, and never
/// the token or the secret in the message.
#[test]
fn secret_store_answers() {
    assert!(
        fuzz("secret_store_answer", |input| {
            for status in [200, 204, 400, 403, 404, 503] {
                if let Err(e) = passmint::fuzzing::vault::answer(status, input) {
                    assert!(!e.message().contains("fuzz-token"), "{}", e.message());
                }
                if let Ok((password, _)) = passmint::fuzzing::awssm::answer(status, input) {
                    assert!(!password.is_empty());
                }
            }
        }) > 0
            || fuzzer::replaying()
    );
}
