// The README's Rust example, verbatim (tests/docs/test_readme.py checks that and runs this).
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = passmint::Provider::for_postgres_url(
        "postgresql://app@mydb.postgres.database.azure.com/app",
    )?;
    let token = provider.token().await?; // or provider.token_blocking()?, from sync code
    println!(
        "a token for {:?}, valid until {}",
        token.username(),
        token.expires_at()
    );
    Ok(()) // then: the drivers take tokens through passmint-postgres (below)
}
