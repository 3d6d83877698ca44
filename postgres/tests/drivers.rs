//! Every integration against the harness PostgreSQL (TLS, certificate for `localhost` from the
//! harness CA) and the mock identity endpoints. `make test` runs them (suite `rust-drivers`)
//! under `tests/harness/serve.py`, which sets the `PASSMINT_TEST_*` variables and points AWS
//! container credentials and Azure App Service at the mock; elsewhere they are ignored.
//!
//! As in the Node and Python suites, the server knows a token before a driver sends it: a test
//! mints through the provider it hands the driver, or queues the Azure token the mock will issue,
//! and makes it the role's password, as the cloud would accept it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::{Integer, Text};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passmint::{ErrorKind, Provider};
use passmint_postgres::tokio_postgres::Connector;
use passmint_postgres::{Error, Options};
use serde_json::{Value, json};

const DSQL_HOST: &str = "abc123example.dsql.us-east-1.on.aws";
const RDS_HOST: &str = "db.abc123example.eu-west-1.rds.amazonaws.com";
const CHECK: &str = "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

fn need(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run under tests/harness/serve.py (make test does)")
    })
}

/// The mock's control API (`/_mock/<op>`), over plain HTTP on loopback.
fn mock(method: &str, op: &str, body: Value) -> Value {
    let base = need("PASSMINT_TEST_MOCK");
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} /_mock/{op} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{op}: {head}"
    );
    // The mock answers with Content-Length; a chunked answer would need decoding.
    serde_json::from_str(body).unwrap()
}

fn requests(route: &str) -> usize {
    mock("GET", "requests", Value::Null)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == route)
        .count()
}

fn queue_azure_token() -> String {
    mock("POST", "azure-queue", json!({"route": "azure-appservice"}))["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The superuser, over the unix socket (trusted, so no TLS or password).
async fn admin() -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(need("PASSMINT_TEST_PG_SOCKET"))
        .port(need("PASSMINT_TEST_PG_PORT").parse().unwrap())
        .user(need("PASSMINT_TEST_PG_SUPERUSER"))
        .dbname("postgres");
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

static ROLES: AtomicUsize = AtomicUsize::new(0);

/// One test at a time: the mock's Azure identity and its queue of tokens serve every client.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh login role: tests sharing the server never share passwords.
async fn new_role() -> String {
    let name = format!(
        "rs_{}_{}",
        std::process::id(),
        ROLES.fetch_add(1, Ordering::SeqCst)
    );
    admin()
        .await
        .batch_execute(&format!("CREATE ROLE {name} LOGIN"))
        .await
        .unwrap();
    name
}

/// What the cloud does: the token is the role's password.
async fn set_password(role: &str, token: &str) {
    admin()
        .await
        .execute(&format!("ALTER ROLE {role} PASSWORD '{token}'"), &[])
        .await
        .unwrap();
}

/// A provider of `kind` for `role`, backed by the mock; the Azure identity is named like its
/// role, as an Entra token names its managed identity.
fn provider(kind: &str, role: &str) -> Provider {
    let url = match kind {
        "dsql" => format!("dsql://{DSQL_HOST}?user={role}"),
        "rds" => format!("rds://{RDS_HOST}:5432?user={role}"),
        "azure" => {
            mock("POST", "config", json!({"azure_app_name": role}));
            "azure://?credential=managed".to_string()
        }
        _ => unreachable!(),
    };
    Provider::from_url(&url).unwrap()
}

fn route(kind: &str) -> &'static str {
    if kind == "azure" {
        "azure-appservice"
    } else {
        "container"
    }
}

/// The harness server, no user (the token's role is used) and no password, verify-full by
/// default against the harness CA.
fn url() -> String {
    format!(
        "postgres://localhost:{}/postgres?sslrootcert={}",
        need("PASSMINT_TEST_PG_PORT"),
        need("PASSMINT_TEST_CA")
    )
}

fn conninfo(extra: &str) -> String {
    format!(
        "host=localhost port={} dbname=postgres sslrootcert={} {extra}",
        need("PASSMINT_TEST_PG_PORT"),
        need("PASSMINT_TEST_CA")
    )
}

async fn check(client: &tokio_postgres::Client, role: &str) {
    let row = client.query_one(CHECK, &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), role);
    assert!(row.get::<_, bool>(1), "the session is not over TLS");
}

async fn check_sqlx(pool: &sqlx::PgPool, role: &str) {
    let (user, ssl): (String, bool) = sqlx::query_as(CHECK).fetch_one(pool).await.unwrap();
    assert_eq!((user.as_str(), ssl), (role, true));
}

async fn check_diesel(conn: &mut AsyncPgConnection, role: &str) {
    let user: String = diesel::select(sql::<Text>("current_user::text"))
        .get_result(conn)
        .await
        .unwrap();
    let ssl: bool = diesel::select(sql::<diesel::sql_types::Bool>(
        "ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ))
    .get_result(conn)
    .await
    .unwrap();
    assert_eq!((user.as_str(), ssl), (role, true));
}

fn diesel_pool(
    connector: Connector,
    size: usize,
) -> diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        "",
        passmint_postgres::diesel_async::manager_config(connector),
    );
    diesel_async::pooled_connection::deadpool::Pool::builder(manager)
        .max_size(size)
        .build()
        .unwrap()
}

fn sqlx_pool_options(size: u32) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn each_integration_logs_in_over_verified_tls_with_dsql_rds_and_azure() {
    let _serial = SERIAL.lock().await;
    for kind in ["dsql", "rds", "azure"] {
        let role = new_role().await;
        let before = requests(route(kind));
        let p = provider(kind, &role);
        set_password(&role, p.token().await.unwrap().secret()).await;

        let (client, connection) =
            passmint_postgres::tokio_postgres::connect(&url(), &p, Options::default())
                .await
                .unwrap();
        tokio::spawn(connection);
        check(&client, &role).await;

        let connector = Connector::new(&conninfo(""), p.clone(), Options::default()).unwrap();
        let pool = passmint_postgres::deadpool::Pool::builder(
            passmint_postgres::deadpool::Manager::new(connector.clone()),
        )
        .max_size(4)
        .build()
        .unwrap();
        check(&pool.get().await.unwrap(), &role).await;

        let mut one = passmint_postgres::diesel_async::connect(&connector)
            .await
            .unwrap();
        check_diesel(&mut one, &role).await;
        check_diesel(
            &mut diesel_pool(connector.clone(), 4).get().await.unwrap(),
            &role,
        )
        .await;

        let pool = bb8::Pool::builder()
            .max_size(4)
            .build(passmint_postgres::bb8::Manager::new(connector))
            .await
            .unwrap();
        check(&pool.get().await.unwrap(), &role).await;

        let pool =
            passmint_postgres::sqlx::pool(sqlx_pool_options(4), &url(), &p, Options::default())
                .await
                .unwrap();
        check_sqlx(&pool, &role).await;
        pool.close().await;

        let options = passmint_postgres::sqlx::connect_options(&url(), &p, Options::default())
            .await
            .unwrap();
        let mut one = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
            .await
            .unwrap();
        let (user,): (String,) = sqlx::query_as("SELECT current_user::text")
            .fetch_one(&mut one)
            .await
            .unwrap();
        assert_eq!(user, role);
        // Every integration took its token from the one provider's cache.
        assert_eq!(requests(route(kind)) - before, 1, "{kind}");
    }
}

/// Holds its connection a moment, so that 20 at once need 20 connections.
const HOLD: &str = "SELECT pg_backend_pid() FROM pg_sleep(0.3)";

async fn cold_azure(role: &str) -> Provider {
    let p = provider("azure", role);
    set_password(role, &queue_azure_token()).await;
    // All 20 ask while the one fetch is in flight.
    mock(
        "POST",
        "fault",
        json!({"route": "azure-appservice", "delay": 0.5, "times": 1}),
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn a_pool_of_20_filled_at_once_on_a_cold_cache_makes_one_identity_request() {
    let _serial = SERIAL.lock().await;
    cold_pool_of_20("deadpool", |p| async move {
        let manager = passmint_postgres::deadpool::Manager::new(connector(p));
        let pool = passmint_postgres::deadpool::Pool::builder(manager)
            .max_size(20)
            .build()
            .unwrap();
        futures_join(20, || {
            let pool = pool.clone();
            async move {
                let c = pool.get().await.unwrap();
                c.query_one(HOLD, &[]).await.unwrap().get::<_, i32>(0)
            }
        })
        .await
    })
    .await;
    cold_pool_of_20("bb8", |p| async move {
        let manager = passmint_postgres::bb8::Manager::new(connector(p));
        let pool = bb8::Pool::builder()
            .max_size(20)
            .build(manager)
            .await
            .unwrap();
        futures_join(20, || {
            let pool = pool.clone();
            async move {
                let c = pool.get_owned().await.unwrap();
                c.query_one(HOLD, &[]).await.unwrap().get::<_, i32>(0)
            }
        })
        .await
    })
    .await;
    cold_pool_of_20("diesel-async", |p| async move {
        let pool = diesel_pool(connector(p), 20);
        futures_join(20, || {
            let pool = pool.clone();
            async move {
                let mut c = pool.get().await.unwrap();
                diesel::select(sql::<Integer>(HOLD.trim_start_matches("SELECT ")))
                    .get_result::<i32>(&mut c)
                    .await
                    .unwrap()
            }
        })
        .await
    })
    .await;
    // sqlx: the pool opens with a token, then fills from the cache.
    cold_pool_of_20("sqlx", |p| async move {
        let pool =
            passmint_postgres::sqlx::pool(sqlx_pool_options(20), &url(), &p, Options::default())
                .await
                .unwrap();
        let pids = futures_join(20, || {
            let pool = pool.clone();
            async move {
                let (pid,): (i32,) = sqlx::query_as(HOLD).fetch_one(&pool).await.unwrap();
                pid
            }
        })
        .await;
        pool.close().await;
        pids
    })
    .await;
}

/// A fresh role and a cold Azure provider for it; `fill` makes a pool of 20 from the provider,
/// runs HOLD on 20 checkouts at once, drops the pool (the server takes 50 connections) and
/// returns the backends' pids: 20 of them, from 1 identity request.
async fn cold_pool_of_20<Fut>(label: &str, fill: impl FnOnce(Provider) -> Fut)
where
    Fut: std::future::Future<Output = Vec<i32>>,
{
    let role = new_role().await;
    let before = requests("azure-appservice");
    let pids = fill(cold_azure(&role).await).await;
    assert_eq!(distinct(&pids), 20, "{label}");
    assert_eq!(requests("azure-appservice") - before, 1, "{label}");
}

fn connector(p: Provider) -> Connector {
    Connector::new(&conninfo(""), p, Options::default()).unwrap()
}

async fn futures_join<F, Fut>(n: usize, make: F) -> Vec<i32>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = i32> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(make())).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn distinct(pids: &[i32]) -> usize {
    pids.iter().collect::<std::collections::HashSet<_>>().len()
}

/// A new token replaces the old as the role's password (the old one no longer logs in): a new
/// connection from each pool must use it, and the session opened before it must live on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn after_a_refresh_new_connections_use_the_new_token_and_old_sessions_live() {
    let _serial = SERIAL.lock().await;
    let role = new_role().await;
    let p = provider("azure", &role);
    let first = p.token().await.unwrap();
    set_password(&role, first.secret()).await;

    let connector = Connector::new(&conninfo(""), p.clone(), Options::default()).unwrap();
    let deadpool = passmint_postgres::deadpool::Pool::builder(
        passmint_postgres::deadpool::Manager::new(connector.clone()),
    )
    .max_size(4)
    .build()
    .unwrap();
    let bb8 = bb8::Pool::builder()
        .max_size(4)
        .build(passmint_postgres::bb8::Manager::new(connector.clone()))
        .await
        .unwrap();
    let sqlx = passmint_postgres::sqlx::pool(sqlx_pool_options(4), &url(), &p, Options::default())
        .await
        .unwrap();
    let diesel = diesel_pool(connector.clone(), 4);
    let mut old_diesel = diesel.get().await.unwrap();
    let old_deadpool = deadpool.get().await.unwrap();
    let old_bb8 = bb8.get().await.unwrap();
    let mut old_sqlx = sqlx.acquire().await.unwrap();

    p.invalidate();
    let second = p.token().await.unwrap();
    assert!(!second.same_as(&first));
    set_password(&role, second.secret()).await;
    // The sqlx pool's task compares its token with the provider's every second. Options'
    // Debug shows their password: read here, never printed.
    let swapped = tokio::time::Instant::now() + Duration::from_secs(10);
    while !format!("{:?}", sqlx.connect_options()).contains(second.secret()) {
        assert!(
            tokio::time::Instant::now() < swapped,
            "the sqlx pool kept the old token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    check(&deadpool.get().await.unwrap(), &role).await;
    check(&bb8.get().await.unwrap(), &role).await;
    let mut new_sqlx = sqlx.acquire().await.unwrap();
    let (user,): (String,) = sqlx::query_as("SELECT current_user::text")
        .fetch_one(&mut *new_sqlx)
        .await
        .unwrap();
    assert_eq!(user, role);

    check_diesel(&mut diesel.get().await.unwrap(), &role).await;

    check_diesel(&mut old_diesel, &role).await;
    check(&old_deadpool, &role).await;
    check(&old_bb8, &role).await;
    let (one,): (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut *old_sqlx)
        .await
        .unwrap();
    assert_eq!(one, 1);

    // And the old token is refused now, so the new connections above used the new one.
    let mut stale = tokio_postgres::Config::new();
    stale
        .host("localhost")
        .port(need("PASSMINT_TEST_PG_PORT").parse().unwrap())
        .dbname("postgres")
        .user(&role)
        .password(first.secret())
        .ssl_mode(tokio_postgres::config::SslMode::Require);
    let refused = stale.connect(connector.tls()).await.err().unwrap();
    let refused = refused
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    drop((new_sqlx, old_sqlx));
    sqlx.close().await;
}

fn refused_before_any_token(r: Result<impl Sized, Error>, has: &[&str]) {
    let Err(e) = r else { panic!("not refused") };
    let e = e.passmint().expect("a passmint error").clone();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    for part in has {
        assert!(
            e.message().contains(part),
            "`{part}` not in `{}`",
            e.message()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn plaintext_and_unchecked_tls_are_refused_unless_opted_into() {
    let _serial = SERIAL.lock().await;
    let role = new_role().await;
    let p = provider("dsql", &role);
    let before = requests("container");
    let opted = Options {
        allow_plaintext: true,
        allow_unverified_tls: true,
    };

    for mode in ["disable", "allow", "prefer"] {
        refused_before_any_token(
            Connector::new(
                &conninfo(&format!("sslmode={mode}")),
                p.clone(),
                Options::default(),
            ),
            &[
                &format!("sslmode={mode}"),
                "Options { allow_plaintext: true, .. }",
                "without TLS",
            ],
        );
        let sqlx_url = format!("{}&sslmode={mode}", url());
        refused_before_any_token(
            passmint_postgres::sqlx::connect_options(&sqlx_url, &p, Options::default()).await,
            &[
                &format!("sslmode={mode}"),
                "Options { allow_plaintext: true, .. }",
            ],
        );
    }
    refused_before_any_token(
        Connector::new(&conninfo("sslmode=require"), p.clone(), Options::default()),
        &[
            "sslmode=require",
            "Options { allow_unverified_tls: true, .. }",
            "require -> verify-full",
        ],
    );
    let mut disabled = tokio_postgres::Config::new();
    disabled
        .host("localhost")
        .ssl_mode(tokio_postgres::config::SslMode::Disable);
    refused_before_any_token(
        Connector::from_config(disabled, p.clone(), Options::default()),
        &["sslmode=disable"],
    );
    // sqlx's verify-ca adds the CA to the system's roots: it vouches for no one server.
    refused_before_any_token(
        passmint_postgres::sqlx::connect_options(
            &format!("{}&sslmode=verify-ca", url()),
            &p,
            Options::default(),
        )
        .await,
        &[
            "sslmode=verify-ca",
            "Options { allow_unverified_tls: true, .. }",
        ],
    );
    refused_before_any_token(
        Connector::new(&conninfo("sslmode=bogus"), p.clone(), opted),
        &["sslmode=bogus is not a TLS mode"],
    );
    refused_before_any_token(
        Connector::new(&conninfo("password=hunter2"), p.clone(), Options::default()),
        &["hold a password"],
    );
    // A mode is read as written: a padded `disable` is no mode at all, never plaintext.
    for padded in [
        "sslmode=' disable'",
        "sslmode='disable\n'",
        "sslmode='Require'",
    ] {
        refused_before_any_token(
            Connector::new(&conninfo(padded), p.clone(), Options::default()),
            &["is not a TLS mode"],
        );
    }
    for padded in ["%20require", "disable%0A"] {
        refused_before_any_token(
            passmint_postgres::sqlx::connect_options(
                &format!("{}&sslmode={padded}", url()),
                &p,
                Options::default(),
            )
            .await,
            &["is not a TLS mode"],
        );
    }
    refused_before_any_token(
        passmint_postgres::sqlx::connect_options(
            &format!("{}&password=hunter2", url()),
            &p,
            Options::default(),
        )
        .await,
        &["holds a password"],
    );
    assert_eq!(requests("container"), before, "a refusal minted a token");

    // sqlx reads `?user=` too: that user stands, not the token's.
    let named = passmint_postgres::sqlx::connect_options(
        &format!("{}&user=someone_else", url()),
        &p,
        Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(named.get_username(), "someone_else");

    // Opted in, passmint lets the setting stand: the harness server itself refuses plaintext.
    set_password(&role, p.token().await.unwrap().secret()).await;
    let plain = Connector::new(&conninfo("sslmode=disable"), p.clone(), opted).unwrap();
    let e = plain.connect().await.err().unwrap().to_string();
    assert!(e.contains("no encryption") || e.contains("pg_hba"), "{e}");
    let (client, connection) = Connector::new(&conninfo("sslmode=require"), p.clone(), opted)
        .unwrap()
        .connect()
        .await
        .unwrap();
    tokio::spawn(connection);
    check(&client, &role).await;
}

/// The harness certificate is for `localhost` and 127.0.0.1: reached by another name, verify-full
/// refuses it, and only the caller's own CA with verify-ca (tokio-postgres) lets it pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn a_certificate_for_another_name_or_an_untrusted_ca_is_refused() {
    let _serial = SERIAL.lock().await;
    let role = new_role().await;
    let p = provider("rds", &role);
    set_password(&role, p.token().await.unwrap().secret()).await;
    let port = need("PASSMINT_TEST_PG_PORT");
    let ca = need("PASSMINT_TEST_CA");
    let elsewhere = format!(
        "host=db.other.test hostaddr=127.0.0.1 port={port} dbname=postgres sslrootcert={ca}"
    );

    let e = Connector::new(&elsewhere, p.clone(), Options::default())
        .unwrap()
        .connect()
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::Postgres(_)), "{e}");
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");

    let (client, connection) = Connector::new(
        &format!("{elsewhere} sslmode=verify-ca"),
        p.clone(),
        Options::default(),
    )
    .unwrap()
    .connect()
    .await
    .unwrap();
    tokio::spawn(connection);
    check(&client, &role).await;

    // verify-ca checks the chain all the same: the public roots do not vouch for it.
    let public = "sslrootcert=/etc/ssl/certs/ca-certificates.crt";
    let e = Connector::new(
        &format!("host=db.other.test hostaddr=127.0.0.1 port={port} dbname=postgres sslmode=verify-ca {public}"),
        p.clone(),
        Options::default(),
    )
    .unwrap()
    .connect()
    .await
    .err()
    .unwrap();
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");

    // Public roots only (the harness makes its CA this environment's system roots).
    let system = format!(
        "host=localhost port={port} dbname=postgres sslrootcert=/etc/ssl/certs/ca-certificates.crt"
    );
    let e = Connector::new(&system, p.clone(), Options::default())
        .unwrap()
        .connect()
        .await
        .err()
        .unwrap();
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");

    let sqlx_elsewhere =
        format!("postgres://db.other.test:{port}/postgres?hostaddr=127.0.0.1&sslrootcert={ca}");
    let e = passmint_postgres::sqlx::pool(
        sqlx_pool_options(1),
        &sqlx_elsewhere,
        &p,
        Options::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, Error::Sqlx(_)), "{e}");
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn no_token_reaches_debug_or_an_error() {
    let _serial = SERIAL.lock().await;
    let role = new_role().await;
    let p = provider("dsql", &role);
    let token = p.token().await.unwrap();
    set_password(&role, token.secret()).await;
    let connector = Connector::new(&conninfo(""), p.clone(), Options::default()).unwrap();
    let config = connector.config().await.unwrap();
    assert_eq!(config.get_password(), Some(token.secret().as_bytes()));
    assert_eq!(config.get_user(), Some(role.as_str()));
    for shown in [format!("{connector:?}"), format!("{config:?}")] {
        assert!(!shown.contains(token.secret()), "{shown}");
    }
    // A refused login (a wrong role for this token) names no token.
    let other = new_role().await;
    let wrong = Connector::new(
        &conninfo(&format!("user={other}")),
        p.clone(),
        Options::default(),
    )
    .unwrap();
    let e = wrong.connect().await.err().unwrap();
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(token.secret()), "{shown}");
    }
}

/// A server that takes the TCP connection and never answers: the connect ends by its
/// `connect_timeout` with a typed timeout, whatever stage it stalls in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the harness: make test runs it under tests/harness/serve.py"]
async fn a_server_that_stalls_is_a_timeout_at_the_deadline() {
    let _serial = SERIAL.lock().await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let p = provider("dsql", "stalled");
    let connector = Connector::new(
        &format!(
            "host=localhost port={port} dbname=postgres connect_timeout=1 sslrootcert={}",
            need("PASSMINT_TEST_CA")
        ),
        p,
        Options::default(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let e = connector.connect().await.err().unwrap();
    let took = started.elapsed();
    assert_eq!(
        e.passmint().map(|e| e.kind()),
        Some(ErrorKind::Timeout),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(silent);
}
