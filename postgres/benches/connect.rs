//! What passmint-postgres adds to each new connection before the driver's own connect, beside
//! the same step with a static password. Run with `make bench`, which writes BENCHMARKS.md.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::str::FromStr;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use passmint::offline::{Signer, StaticCredentials};
use passmint_postgres::Options;
use passmint_postgres::tokio_postgres::Connector;

const DSQL: &str = "dsql://abc123.dsql.us-east-1.on.aws?user=admin";
const CONNINFO: &str = "host=abc123.dsql.us-east-1.on.aws dbname=postgres user=admin";
const URL: &str = "postgres://admin@abc123.dsql.us-east-1.on.aws/postgres?sslmode=verify-full";

/// A warm token completes on its first poll; no executor is involved.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a warm cache hit must not wait"),
    }
}

fn provider() -> passmint::Provider {
    let creds = StaticCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("IQoJb3JpZ2luX2VjE/+abc==//xyz+def=ghi".repeat(20)),
    };
    let provider = Signer::new(DSQL, &creds).unwrap().into_provider();
    provider.token_blocking().unwrap();
    provider
}

fn tokio_postgres(c: &mut Criterion) {
    let provider = provider();
    let static_config = tokio_postgres::Config::from_str(CONNINFO).unwrap();
    let password = provider.token_blocking().unwrap().secret().to_string();
    // deadpool-postgres and bb8-postgres hand the driver their one Config: a copy with the
    // password is the most a static-password connect does before the driver's.
    c.bench_function("tokio-postgres static password config", |b| {
        b.iter(|| {
            let mut config = static_config.clone();
            black_box(config.password(&password));
        })
    });
    let connector = Connector::new(CONNINFO, provider, Options::default()).unwrap();
    c.bench_function("tokio-postgres connector config (warm token)", |b| {
        b.iter(|| black_box(poll_once(connector.config()).unwrap()))
    });
}

fn sqlx(c: &mut Criterion) {
    let provider = provider();
    let password = provider.token_blocking().unwrap().secret().to_string();
    c.bench_function("sqlx static password options from a URL", |b| {
        b.iter(|| {
            black_box(
                sqlx::postgres::PgConnectOptions::from_str(URL)
                    .unwrap()
                    .password(&password),
            )
        })
    });
    c.bench_function("sqlx connect_options (warm token)", |b| {
        b.iter(|| {
            black_box(
                poll_once(passmint_postgres::sqlx::connect_options(
                    URL,
                    &provider,
                    Options::default(),
                ))
                .unwrap(),
            )
        })
    });
}

criterion_group!(benches, tokio_postgres, sqlx);
criterion_main!(benches);
