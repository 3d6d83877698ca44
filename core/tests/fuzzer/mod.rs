//! The fuzz harness shared by core/tests/fuzz_smoke.rs (passmint's own parsers) and
//! core/tests/fuzz_sdk.rs (the SDK parsers passmint relies on): mutation of a committed
//! corpus, and per-input limits on time and allocation. cargo-fuzz needs a nightly toolchain
//! a fresh machine does not have; this runs on stable.

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
    // The identity answers the SDKs parse (fuzz_sdk.rs).
    "\"access_token\":",
    "\"accessToken\":",
    "\"token\":",
    "\"expires_in\":",
    "\"expires_on\":",
    "\"expiresOn\":",
    "\"AccessKeyId\":",
    "\"SecretAccessKey\":",
    "\"Token\":",
    "\"SessionToken\":",
    "\"Expiration\":",
    "\"Version\":",
    "2100-01-01T00:00:00Z",
    "2100-01-01 00:00:00.000000",
    "1970-01-01T00:00:00Z",
    "4102444800",
    "1.5e300",
    "\n--stderr--\n",
    "<Credentials>",
    "</Credentials>",
    "<Expiration>",
    "&amp;",
    "<![CDATA[",
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

/// Replaying saved inputs: a target with none of them runs nothing.
pub fn replaying() -> bool {
    std::env::var_os("PASSMINT_FUZZ_REPLAY").is_some()
}

/// The inputs under `path` that belong to `target` (a file's parent directory names it).
fn replay(target: &str, path: PathBuf) -> Vec<Vec<u8>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    } else {
        vec![path]
    };
    files
        .into_iter()
        .filter(|f| f.parent().and_then(|d| d.file_name()) == Some(target.as_ref()))
        .map(|f| std::fs::read(f).unwrap())
        .collect()
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
pub fn fuzz(target: &str, check: impl Fn(&[u8])) -> u64 {
    let seconds: u64 = std::env::var("PASSMINT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("PASSMINT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    // PASSMINT_FUZZ_REPLAY=<dir or file>: only those inputs (a saved crash, a corpus).
    let seeds = match std::env::var_os("PASSMINT_FUZZ_REPLAY") {
        Some(path) => replay(target, PathBuf::from(path)),
        None => corpus(target),
    };
    if std::env::var_os("PASSMINT_FUZZ_REPLAY").is_some() {
        for input in &seeds {
            let started = Instant::now();
            check(input);
            println!("replay {target}: {:?}", started.elapsed());
        }
        return seeds.len() as u64;
    }
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

#[allow(dead_code)] // fuzz_sdk.rs feeds bytes
pub fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}
