//! Signs tokens offline for a frozen time: reads JSON lines
//! `{"url", "access_key_id", "secret_access_key", "session_token"?, "time"}` (time in unix
//! seconds) on stdin and prints one token per line. The harness compares them with boto3.

use std::io::{BufRead, Write};
use std::time::{Duration, UNIX_EPOCH};

use passmint::offline::{Signer, StaticCredentials};

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if line.trim().is_empty() {
            continue;
        }
        let case: serde_json::Value = serde_json::from_str(&line).expect("JSON case");
        let s = |k: &str| case[k].as_str().map(str::to_owned);
        let creds = StaticCredentials {
            access_key_id: s("access_key_id").expect("access_key_id"),
            secret_access_key: s("secret_access_key").expect("secret_access_key"),
            session_token: s("session_token"),
        };
        let time = UNIX_EPOCH + Duration::from_secs(case["time"].as_u64().expect("time"));
        let result =
            Signer::new(&s("url").expect("url"), &creds).and_then(|signer| signer.sign_at(time));
        match result {
            Ok(token) => writeln!(out, "{token}").unwrap(),
            Err(e) => writeln!(out, "ERROR {}: {}", e.kind().code(), e.message()).unwrap(),
        }
    }
}
