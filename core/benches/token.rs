//! Warm-cache token hits and local SigV4 signing. Run with `make bench`, which also times
//! boto3 in the same run and writes BENCHMARKS.md.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use passmint::offline::{Signer, StaticCredentials};

fn creds(session: bool) -> StaticCredentials {
    StaticCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: session.then(|| "IQoJb3JpZ2luX2VjE/+abc==//xyz+def=ghi".repeat(20)),
    }
}

const DSQL: &str = "dsql://abc123.dsql.us-east-1.on.aws?user=admin";
const RDS: &str = "rds://db.abc123.eu-west-1.rds.amazonaws.com:5432?user=app";

/// A warm `token()` completes on its first poll; no executor is involved.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a warm cache hit must not wait"),
    }
}

fn cached(c: &mut Criterion) {
    let provider = Signer::new(DSQL, &creds(true)).unwrap().into_provider();
    provider.token_blocking().unwrap();
    c.bench_function("cached token_blocking()", |b| {
        b.iter(|| black_box(provider.token_blocking().unwrap()))
    });
    c.bench_function("cached token().await", |b| {
        b.iter(|| black_box(poll_once(provider.token()).unwrap()))
    });
}

fn signing(c: &mut Criterion) {
    for (name, url, session) in [
        ("sign dsql admin", DSQL, false),
        ("sign dsql admin + session token", DSQL, true),
        ("sign rds", RDS, false),
        ("sign rds + session token", RDS, true),
    ] {
        let signer = Signer::new(url, &creds(session)).unwrap();
        c.bench_function(name, |b| {
            b.iter(|| black_box(signer.sign_at(SystemTime::now()).unwrap()))
        });
    }
}

criterion_group!(benches, cached, signing);
criterion_main!(benches);
