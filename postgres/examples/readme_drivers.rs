// The README's Rust drivers example, verbatim (tests/docs/test_readme.py checks that and runs this).
use diesel_async::RunQueryDsl;
use passmint::Provider;
use passmint_postgres::Options;
use passmint_postgres::tokio_postgres::Connector;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No sslmode: passmint connects with verify-full against the system's roots.
    let dsql = Provider::from_url("dsql://abc123example.dsql.us-east-1.on.aws?user=admin")?;
    let host = "host=abc123example.dsql.us-east-1.on.aws dbname=postgres";
    let connector = Connector::new(host, dsql, Options::default())?;

    // tokio-postgres: a token on each connect.
    let (client, connection) = connector.connect().await?;
    tokio::spawn(connection);
    let row = client.query_one("select current_user::text", &[]).await?;
    println!("tokio-postgres: {}", row.get::<_, String>(0));

    // deadpool and bb8: a token for each new physical connection.
    let manager = passmint_postgres::deadpool::Manager::new(connector.clone());
    let pool = passmint_postgres::deadpool::Pool::builder(manager)
        .max_size(16)
        .build()?;
    let row = pool
        .get()
        .await?
        .query_one("select current_user::text", &[])
        .await?;
    println!("deadpool: {}", row.get::<_, String>(0));

    // diesel-async: never its own establish(), which connects without TLS.
    let mut conn = passmint_postgres::diesel_async::connect(&connector).await?;
    let user: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "current_user::text",
    ))
    .get_result(&mut conn)
    .await?;
    println!("diesel-async: {user}");

    let manager = passmint_postgres::bb8::Manager::new(connector);
    let pool = bb8::Pool::builder().max_size(16).build(manager).await?;
    let row = pool
        .get()
        .await?
        .query_one("select current_user::text", &[])
        .await?;
    println!("bb8: {}", row.get::<_, String>(0));

    // sqlx: a PgPool whose new connections always get a valid token.
    let azure =
        Provider::for_postgres_url("postgresql://app@mydb.postgres.database.azure.com/app")?;
    let url = "postgres://app@mydb.postgres.database.azure.com/app";
    let options = sqlx::postgres::PgPoolOptions::new().max_connections(16);
    let pool = passmint_postgres::sqlx::pool(options, url, &azure, Options::default()).await?;
    let (user,): (String,) = sqlx::query_as("select current_user::text")
        .fetch_one(&pool)
        .await?;
    println!("sqlx: {user}");
    pool.close().await;
    Ok(())
}
