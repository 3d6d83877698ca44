//! Mutational fuzzing of the identity answers passmint does not parse itself but relies on
//! the official SDKs to parse: Entra ID and managed identity JSON, `az` and `azd` output,
//! the AWS container/IMDS credentials JSON, `credential_process` output and STS's web
//! identity XML. Each input goes through the SDK's own credential, with a canned answer in
//! place of the network or the CLI, and then through passmint's classification and lease
//! code (`passmint::fuzzing`), so what is checked is what a user would get.
//!
//! Per input (besides the harness's no panic, ≤ 1 s, ≤ 64 MiB): an error is a typed,
//! one-line message that never quotes the secrets the seeds plant (the access token's
//! signature, the AWS secret key and session token, the client secret), even when a CLI or
//! a credential process echoes them on stderr; a token is one the cache may hand out (not
//! empty, at least 30 s of life; for AWS, signed for the fuzz cluster).

mod fuzzer;

use passmint::fuzzing::{AwsSource, AzureSource, aws_answer, azure_answer};
use passmint::{ErrorKind, Token};

/// Planted whole in the corpora (core/fuzz/corpus/{azure_*,az*,aws_*}/). A mutation may
/// break one, and the broken piece is no longer a secret anyone issued; a whole one must
/// never be quoted.
const SECRETS: [&str; 4] = [
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJmdXp6QGV4YW1wbGUuY29tIiwieG1zX21pcmlkIjoiL3N1YnNjcmlwdGlvbnMveC9yZXNvdXJjZWdyb3Vwcy95L3Byb3ZpZGVycy9NaWNyb3NvZnQuTWFuYWdlZElkZW50aXR5L3VzZXJBc3NpZ25lZElkZW50aXRpZXMvZnV6ei1yb2xlIn0.c2VjcmV0LXNpZ25hdHVyZS1tYXJrZXI",
    "fuzzSecretKeyMarker0fuzzSecretKeyMarker0",
    "FuzzSessionTokenMarkerIQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDfuzzfuzz==",
    passmint::fuzzing::CLIENT_SECRET,
];

fn check(target: &str, outcome: passmint::Result<Token>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if fuzzer::replaying() {
        println!("{target}: {outcome:?}");
    }
    match outcome {
        Ok(token) => {
            assert!(!token.secret().trim().is_empty(), "{target}: empty token");
            assert!(
                token.expires_at() >= now + 30,
                "{target}: a token with {} s of life",
                token.expires_at() - now
            );
            if target.starts_with("aws") {
                let host = passmint::fuzzing::DSQL_URL.trim_start_matches("dsql://");
                assert!(token.secret().starts_with(host), "{target}: signed for?");
            }
        }
        Err(e) => {
            assert!(
                !matches!(e.kind(), ErrorKind::Panic | ErrorKind::Internal),
                "{target}: {:?}: {}",
                e.kind(),
                e.message()
            );
            let message = e.message();
            assert!(!message.contains('\n'), "{target}: {message:?}");
            for secret in SECRETS {
                assert!(
                    !message.contains(secret),
                    "{target}: the message quotes a secret: {message}"
                );
            }
        }
    }
}

#[test]
fn sdk_parsers() {
    // The SDK's container provider reads its URL from the environment and nowhere else. This
    // is the binary's only test and no other thread runs yet, so setting it is sound. The
    // canned client answers it: nothing is sent.
    unsafe {
        std::env::set_var(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:9/v2/credentials",
        );
        std::env::remove_var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        std::env::remove_var("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        std::env::remove_var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    }
    let azure = [
        ("azure_entra", AzureSource::ClientSecret),
        ("azure_managed", AzureSource::ManagedIdentity),
        ("az_cli", AzureSource::Cli),
        ("azd", AzureSource::Azd),
    ];
    let aws = [
        ("aws_container", AwsSource::Container),
        ("aws_process", AwsSource::Process),
        ("aws_sts", AwsSource::WebIdentity),
    ];
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let targets = azure
        .map(|(t, s)| (t, Source::Azure(s)))
        .into_iter()
        .chain(aws.map(|(t, s)| (t, Source::Aws(s))));
    std::thread::scope(|scope| {
        let mut running = Vec::new();
        for (target, source) in targets {
            running.push(scope.spawn(move || {
                let rt = runtime();
                let ok = rt.block_on(source.answer(&seed(target, "ok")));
                assert!(ok.is_ok(), "{target}: the `ok` seed fails: {ok:?}");
                fuzz_target(target, |input| {
                    check(target, rt.block_on(source.answer(input)))
                })
            }));
        }
        for handle in running {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

#[derive(Clone, Copy)]
enum Source {
    Azure(AzureSource),
    Aws(AwsSource),
}

impl Source {
    async fn answer(self, input: &[u8]) -> passmint::Result<Token> {
        match self {
            Source::Azure(s) => azure_answer(s, input).await,
            Source::Aws(s) => aws_answer(s, input).await,
        }
    }
}

fn fuzz_target(target: &str, check: impl Fn(&[u8])) {
    let runs = fuzzer::fuzz(target, check);
    assert!(runs > 0 || fuzzer::replaying(), "{target}: no input ran");
}

/// A corpus file: each target's `ok` must mint, or the fuzzing only ever sees errors.
fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
