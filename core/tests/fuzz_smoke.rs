//! Mutational fuzzing of passmint's own parsers of untrusted input, on stable Rust (cargo-fuzz
//! needs a nightly toolchain a fresh machine does not have). Each target mutates its committed
//! corpus (`core/fuzz/corpus/<target>/`) for `PASSMINT_FUZZ_SECONDS` (2 s under `cargo test`,
//! 60 s under `make fuzz-smoke`). Every input must return without a panic, within 1 s, and
//! without allocating more than 64 MiB at once. A failing input is written to
//! `core/fuzz/artifacts/<target>/`. The SDKs' parsers (identity JSON, `az` output,
//! `credential_process` output) are driven with malformed answers by the fault matrix instead.
//!
//! Targets:
//! - provider URLs;
//! - postgres URLs;
//! - JWT claim decoding;
//! - identity endpoints' error bodies;
//! - the message scrubber, which must never let a known secret through.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Counting;

// Per thread: the test harness runs the targets on parallel threads.
thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static TRACK: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = TRACK.try_with(|track| {
            if track.get() {
                let live = LIVE.with(|l| {
                    l.set(l.get().saturating_add(layout.size()));
                    l.get()
                });
                PEAK.with(|p| p.set(p.get().max(live)));
            }
        });
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = TRACK.try_with(|track| {
            if track.get() {
                LIVE.with(|l| l.set(l.get().saturating_sub(layout.size())));
            }
        });
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MAX_INPUT_TIME: Duration = Duration::from_secs(1);
const MAX_ALLOCATED: usize = 64 << 20;
const DICTIONARY: &[&str] = &[
    "://",
    "?",
    "&",
    "=",
    "%",
    "%00",
    "%zz",
    "%2F",
    "%40",
    "@",
    ":",
    "[",
    "]",
    "/",
    "#",
    ".",
    "..",
    "\u{feff}",
    "é",
    "\u{202e}",
    "region=",
    "user=",
    "credential=",
    "client_id=",
    "cloud=",
    "scope=",
    "expires_in=",
    "profile=",
    "dsql",
    "rds",
    "azure",
    "postgresql",
    ".dsql.us-east-1.on.aws",
    ".rds.amazonaws.com",
    ".postgres.database.azure.com",
    "eyJ",
    "eyJhbGciOiJub25lIn0",
    ".",
    "==",
    "\"",
    "{",
    "}",
    "null",
    "[]",
    "\"xms_mirid\":",
    "\"upn\":",
    "\\u0000",
    "\"error\":",
    "\"error_description\":",
    "\"message\":",
    "65535",
    "-1",
    "99999999999999999999",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.push(Vec::new());
    seeds
}

fn mutate(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.usize(..seeds.len())].clone();
    for _ in 0..rng.usize(1..8) {
        let at = rng.usize(..=data.len());
        match rng.u8(..7) {
            0 if !data.is_empty() => {
                let i = rng.usize(..data.len());
                data[i] ^= 1 << rng.u8(..8);
            }
            1 => data.insert(at, rng.u8(..)),
            2 if !data.is_empty() => {
                let end = (at + rng.usize(..16)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => data
                .splice(at..at, DICTIONARY[rng.usize(..DICTIONARY.len())].bytes())
                .for_each(drop),
            4 if !data.is_empty() => {
                let from = rng.usize(..data.len());
                let piece: Vec<u8> = data[from..(from + rng.usize(..64)).min(data.len())].to_vec();
                data.splice(at..at, piece).for_each(drop);
            }
            5 => {
                let other = &seeds[rng.usize(..seeds.len())];
                let cut = rng.usize(..=other.len());
                data.truncate(at);
                data.extend_from_slice(&other[cut..]);
            }
            _ => data.extend(std::iter::repeat_n(b'a', rng.usize(..20_000))),
        }
    }
    data
}

/// Runs `check` on mutated inputs for the time budget; returns how many ran.
fn fuzz(target: &str, check: impl Fn(&[u8])) -> u64 {
    let seconds: u64 = std::env::var("PASSMINT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("PASSMINT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let seeds = corpus(target);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let input = if runs < seeds.len() as u64 {
            seeds[runs as usize].clone()
        } else {
            mutate(&mut rng, &seeds)
        };
        LIVE.with(|l| l.set(0));
        PEAK.with(|p| p.set(0));
        TRACK.with(|t| t.set(true));
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let took = started.elapsed();
        TRACK.with(|t| t.set(false));
        let failure = match outcome {
            Err(_) => Some("panicked"),
            Ok(()) if took > MAX_INPUT_TIME => Some("took over 1 s"),
            Ok(()) if PEAK.with(Cell::get) > MAX_ALLOCATED => Some("allocated over 64 MiB"),
            Ok(()) => None,
        };
        if let Some(what) = failure {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/artifacts")
                .join(target);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("crash-{seed}-{runs}"));
            std::fs::write(&path, &input).unwrap();
            panic!(
                "{target}: an input {what} (seed {seed}); saved to {}",
                path.display()
            );
        }
        runs += 1;
    }
    println!("fuzz {target}: {runs} inputs in {seconds} s (seed {seed}), 0 failures");
    runs
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

#[test]
fn provider_urls() {
    assert!(
        fuzz("provider_url", |input| drop(passmint::Provider::from_url(
            &text(input)
        ))) > 0
    );
}

#[test]
fn postgres_urls() {
    assert!(
        fuzz("postgres_url", |input| drop(
            passmint::Provider::for_postgres_url(&text(input))
        )) > 0
    );
}

#[test]
fn jwt_claims() {
    assert!(
        fuzz("jwt_username", |input| drop(
            passmint::fuzzing::jwt_username(&text(input))
        )) > 0
    );
}

#[test]
fn endpoint_error_bodies() {
    assert!(
        fuzz("endpoint_error", |input| {
            let (_, detail) = passmint::fuzzing::endpoint_error(input);
            assert!(!detail.contains('\n'), "the detail is one line");
        }) > 0
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
    );
}
