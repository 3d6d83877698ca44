//! sqlx has no hook that runs before a pool connects (launchbadge/sqlx#445): a pool connects
//! with the `PgConnectOptions` it holds. [`pool`] keeps them current: a task puts each new
//! token into the pool's options (`Pool::set_connect_options`), which every later connection
//! reads; the connections already open keep their sessions.
//!
//! `PgConnectOptions`' `Debug` prints its password: never log options that hold a token.

use std::str::FromStr;
use std::time::Duration;

use ::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use passmint::driver_tls::Driver;
use passmint::{Provider, Token};

use crate::conninfo;
use crate::error::{Error, invalid};
use crate::options::{Chosen, Mode, Options, plan, role};

const HELPER: &str = "passmint_postgres::sqlx";
/// How often the pool's options are compared with the provider's token (a cache read, and a
/// fetch only when passmint's refresh is due).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A URL's settings, with passmint's TLS rules applied, before a token is added.
#[derive(Clone)]
struct Base {
    options: PgConnectOptions,
    /// Whether the URL or `PGUSER` named the role: sqlx otherwise fills in the OS user.
    user_given: bool,
    provider: Provider,
}

impl Base {
    fn new(url: &str, provider: &Provider, options: Options) -> Result<Base, Error> {
        let split = conninfo::take_tls(url)?;
        let chosen = Chosen {
            driver: Driver::Sqlx,
            helper: HELPER,
            mode: split.sslmode.as_deref(),
            root_cert: split.sslrootcert.as_deref(),
            env: true,
        };
        let plan = plan(&chosen, provider, options)?;
        let parsed = url::Url::parse(&split.rest).map_err(|e| {
            invalid(format!(
                "{HELPER}: the URL is not a postgres:// URL sqlx reads: {e}"
            ))
        })?;
        let query = |name: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if parsed.password().is_some() || query("password").is_some() {
            return Err(invalid(format!(
                "{HELPER}: the URL holds a password; passmint supplies a token on each connection, so leave it out"
            )));
        }
        // The URL's user (`app@`, or `?user=app` as sqlx also reads it), else PGUSER.
        let user_given = !parsed.username().is_empty()
            || query("user").is_some_and(|u| !u.is_empty())
            || std::env::var("PGUSER").is_ok_and(|u| !u.is_empty());
        let mut pg = PgConnectOptions::from_str(&split.rest)?.ssl_mode(match plan.mode {
            Mode::Disable => PgSslMode::Disable,
            Mode::Allow => PgSslMode::Allow,
            Mode::Prefer => PgSslMode::Prefer,
            Mode::Require => PgSslMode::Require,
            Mode::VerifyCa => PgSslMode::VerifyCa,
            Mode::VerifyFull => PgSslMode::VerifyFull,
        });
        if let Some(ca) = plan.root_cert.filter(|ca| ca != "system") {
            pg = pg.ssl_root_cert(ca);
        }
        Ok(Base {
            options: pg,
            user_given,
            provider: provider.clone(),
        })
    }

    fn with_token(&self, token: &Token) -> Result<PgConnectOptions, Error> {
        let given = self.user_given.then(|| self.options.get_username());
        let mut pg = self.options.clone().password(token.secret());
        if let Some(role) = role(given, token, &self.provider, HELPER)? {
            pg = pg.username(&role);
        }
        Ok(pg)
    }
}

/// sqlx's settings for `url` with a token as the password (and the token's role when the URL
/// and `PGUSER` name none), for one connection: `PgConnection::connect_with(&options)`.
pub async fn connect_options(
    url: &str,
    provider: &Provider,
    options: Options,
) -> Result<PgConnectOptions, Error> {
    let base = Base::new(url, provider, options)?;
    let token = provider.token().await?;
    base.with_token(&token)
}

/// A pool for `url` whose new connections always log in with a valid token: the pool is
/// opened with one (`PgPoolOptions::connect_with`), and a task on the current tokio runtime
/// puts each refreshed token into its options. The task holds a handle of the pool, so it and
/// the pool live until `pool.close().await` (or the runtime's end).
pub async fn pool(
    pool_options: PgPoolOptions,
    url: &str,
    provider: &Provider,
    options: Options,
) -> Result<PgPool, Error> {
    let base = Base::new(url, provider, options)?;
    let token = provider.token().await?;
    let pool = pool_options.connect_with(base.with_token(&token)?).await?;
    tokio::spawn(keep_current(pool.clone(), base, token));
    Ok(pool)
}

async fn keep_current(pool: PgPool, base: Base, mut current: Token) {
    let closed = pool.close_event();
    tokio::pin!(closed);
    loop {
        // Closing ends the task at once, also while a fetch is in flight.
        let token = tokio::select! {
            _ = &mut closed => return,
            token = async {
                tokio::time::sleep(CHECK_EVERY).await;
                base.provider.token().await
            } => token,
        };
        let token = match token {
            Ok(token) => token,
            // Still the token the pool holds, while it lasts; the next check tries again.
            Err(e) => {
                tracing::debug!(error = %e, "passmint-postgres: no new token for a sqlx pool");
                continue;
            }
        };
        if token.same_as(&current) {
            continue;
        }
        match base.with_token(&token) {
            Ok(options) => pool.set_connect_options(options),
            Err(e) => tracing::warn!(error = %e, "passmint-postgres: a new token has no role"),
        }
        // Said once per token, not every second.
        current = token;
    }
}
