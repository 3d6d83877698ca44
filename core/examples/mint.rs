//! Mints tokens from one provider, as an application would, and prints one JSON line per
//! token, as it is minted: `{"token", "expires_at", "username", "provider"}` or
//! `{"error", "kind"}`.
//! The harness uses it to count identity requests against the mock.
//!
//! usage: mint <provider-url> [count] [pause-ms] [threads]
//!
//! With `threads` > 1, that many threads start together (a barrier) and each mints
//! `count` tokens: a cold-cache stampede on one shared provider.

use std::sync::{Arc, Barrier};
use std::time::Duration;

fn line(provider: &passmint::Provider) -> serde_json::Value {
    match provider.token_blocking() {
        Ok(t) => serde_json::json!({
            "token": t.secret(),
            "expires_at": t.expires_at(),
            "username": t.username(),
            "provider": t.provider(),
        }),
        Err(e) => serde_json::json!({"error": e.message(), "kind": e.kind().code()}),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: mint <provider-url> [count] [pause-ms] [threads]");
    let mut number = |what: &str, default: u64| -> u64 {
        args.next()
            .map(|n| n.parse().expect(what))
            .unwrap_or(default)
    };
    let count = number("count", 1);
    let pause = Duration::from_millis(number("pause-ms", 0));
    let threads = number("threads", 1).max(1) as usize;
    let provider = match passmint::Provider::from_url(&url) {
        Ok(p) => p,
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"error": e.message(), "kind": e.kind().code()})
            );
            std::process::exit(2);
        }
    };
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let provider = provider.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..count {
                    if i > 0 && !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                    // As it happens: the fault matrix changes the endpoint after the first line.
                    println!("{}", line(&provider));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("mint thread");
    }
}
