//! `make demo`: one Rust driver logs in through passmint-postgres and prints one JSON line.
//!
//!     demo_driver tokio-postgres|deadpool|bb8|diesel-async|sqlx
//!
//! The provider URL is $PASSMINT_PROVIDER; the server PGHOST, PGPORT, PGDATABASE and
//! PGSSLROOTCERT. No user is given: the role comes from the token. Prints {"user", "ms"}: the
//! role the server says this session is, and the milliseconds from building the provider to the
//! answer (the token included); or {"error"}.

use std::error::Error;
use std::time::Instant;

use diesel::dsl::sql;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use passmint::Provider;
use passmint_postgres::Options;
use passmint_postgres::tokio_postgres::Connector;

const QUERY: &str = "select current_user::text";

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

async fn login(driver: &str) -> Result<String, Box<dyn Error>> {
    let provider = Provider::from_url(&env("PASSMINT_PROVIDER")?)?;
    let (host, port, db) = (env("PGHOST")?, env("PGPORT")?, env("PGDATABASE")?);
    if driver == "sqlx" {
        // sqlx reads PGSSLROOTCERT itself.
        let url = format!("postgres://{host}:{port}/{db}");
        let pool = passmint_postgres::sqlx::pool(
            sqlx::postgres::PgPoolOptions::new().max_connections(2),
            &url,
            &provider,
            Options::default(),
        )
        .await?;
        let (user,): (String,) = sqlx::query_as(QUERY).fetch_one(&pool).await?;
        pool.close().await;
        return Ok(user);
    }
    let conninfo = format!(
        "host={host} port={port} dbname={db} sslrootcert={}",
        env("PGSSLROOTCERT")?
    );
    let connector = Connector::new(&conninfo, provider, Options::default())?;
    Ok(match driver {
        "tokio-postgres" => {
            let (client, connection) = connector.connect().await?;
            tokio::spawn(connection);
            client.query_one(QUERY, &[]).await?.get(0)
        }
        "deadpool" => {
            let manager = passmint_postgres::deadpool::Manager::new(connector);
            let pool = passmint_postgres::deadpool::Pool::builder(manager)
                .max_size(2)
                .build()?;
            pool.get().await?.query_one(QUERY, &[]).await?.get(0)
        }
        "bb8" => {
            let manager = passmint_postgres::bb8::Manager::new(connector);
            let pool = bb8::Pool::builder().max_size(2).build(manager).await?;
            pool.get().await?.query_one(QUERY, &[]).await?.get(0)
        }
        "diesel-async" => {
            let mut conn = passmint_postgres::diesel_async::connect(&connector).await?;
            diesel::select(sql::<Text>("current_user::text"))
                .get_result(&mut conn)
                .await?
        }
        other => return Err(format!("no driver {other:?}").into()),
    })
}

#[tokio::main]
async fn main() {
    let driver = std::env::args().nth(1).unwrap_or_default();
    let started = Instant::now();
    let line = match login(&driver).await {
        Ok(user) => {
            serde_json::json!({"user": user, "ms": started.elapsed().as_secs_f64() * 1000.0})
        }
        Err(e) => serde_json::json!({"error": e.to_string()}),
    };
    println!("{line}");
    if line.get("error").is_some() {
        std::process::exit(1);
    }
}
