//! Mints N tokens from one provider, as an application would, and prints one JSON line per
//! token: `{"token", "expires_at", "username", "provider"}` or `{"error", "kind"}`.
//! The harness uses it to count identity requests against the mock.
//!
//! usage: mint <provider-url> [count] [pause-ms]

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: mint <provider-url> [count] [pause-ms]");
    let count: usize = args.next().map(|n| n.parse().expect("count")).unwrap_or(1);
    let pause: u64 = args
        .next()
        .map(|n| n.parse().expect("pause-ms"))
        .unwrap_or(0);
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
    for i in 0..count {
        if i > 0 && pause > 0 {
            std::thread::sleep(Duration::from_millis(pause));
        }
        let line = match provider.token_blocking() {
            Ok(t) => serde_json::json!({
                "token": t.secret(),
                "expires_at": t.expires_at(),
                "username": t.username(),
                "provider": t.provider(),
            }),
            Err(e) => serde_json::json!({"error": e.message(), "kind": e.kind().code()}),
        };
        println!("{line}");
    }
}
