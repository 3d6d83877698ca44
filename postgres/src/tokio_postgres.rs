//! tokio-postgres with a fresh token on every connection, over TLS that checks what `sslmode`
//! says (tokio-postgres itself knows only disable, prefer and require, and leaves checking to
//! the connector).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ::tokio_postgres::config::{Config, SslMode};
use ::tokio_postgres::error::SqlState;
use ::tokio_postgres::tls::MakeTlsConnect;
use ::tokio_postgres::{Client, Connection, Socket};
use ::tokio_postgres_rustls::MakeRustlsConnect;
use passmint::driver_tls::Driver;
use passmint::{Provider, Token};

use crate::conninfo;
use crate::error::{Error, invalid};
use crate::options::{Chosen, Mode, Options, plan, role};
use crate::tls;

/// The TLS stream of a connection made here.
pub type TlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

const HELPER: &str = "passmint_postgres::tokio_postgres::Connector";

/// How long a connect may take, TLS and login included, when the settings name no
/// `connect_timeout`.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

/// A connection's settings without its password, and the TLS connector they need; each
/// [`Connector::connect`] adds a token. Cheap to clone (pools keep one).
#[derive(Clone)]
pub struct Connector {
    config: Config,
    tls: MakeRustlsConnect,
    provider: Provider,
}

impl Connector {
    /// From a connection string, a URL (`postgres://app@host/db?sslmode=verify-full`) or
    /// key/value pairs (`host=... user=app`), libpq's `sslmode` and `sslrootcert` included.
    pub fn new(conninfo: &str, provider: Provider, options: Options) -> Result<Connector, Error> {
        let split = conninfo::take_tls(conninfo)?;
        let config = Config::from_str(&split.rest)?;
        Connector::build(
            config,
            split.sslmode.as_deref(),
            split.sslrootcert.as_deref(),
            provider,
            options,
        )
    }

    /// From a tokio-postgres `Config`. Its `SslMode::Disable` is `sslmode=disable`; `Prefer`
    /// (its default) and `Require` get `verify-full` against the system's roots, since a
    /// `Config` cannot say more.
    pub fn from_config(
        config: Config,
        provider: Provider,
        options: Options,
    ) -> Result<Connector, Error> {
        let mode = (config.get_ssl_mode() == SslMode::Disable).then_some("disable");
        Connector::build(config, mode, None, provider, options)
    }

    fn build(
        mut config: Config,
        sslmode: Option<&str>,
        sslrootcert: Option<&str>,
        provider: Provider,
        options: Options,
    ) -> Result<Connector, Error> {
        if config.get_password().is_some() {
            return Err(invalid(format!(
                "{HELPER}: the settings hold a password; passmint supplies a token on each connection, so leave it out"
            )));
        }
        let chosen = Chosen {
            driver: Driver::TokioPostgres,
            helper: HELPER,
            mode: sslmode,
            root_cert: sslrootcert,
            env: false,
        };
        let plan = plan(&chosen, &provider, options)?;
        config.ssl_mode(match plan.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Allow | Mode::Prefer => SslMode::Prefer,
            // Require makes TLS mandatory; the connector checks what the mode asks.
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        let tls = MakeRustlsConnect::new(tls::client_config(&plan)?);
        Ok(Connector {
            config,
            tls,
            provider,
        })
    }

    /// The settings with a token as the password (from the cache when it is fresh), and the
    /// token's role when none was given.
    pub async fn config(&self) -> Result<Config, Error> {
        let token = self.provider.token().await?;
        self.with_token(&token)
    }

    fn with_token(&self, token: &Token) -> Result<Config, Error> {
        let mut config = self.config.clone();
        if let Some(role) = role(config.get_user(), token, &self.provider, HELPER)? {
            config.user(role);
        }
        config.password(token.secret());
        Ok(config)
    }

    /// The TLS connector these settings need (for `Config::connect` of your own).
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Connects with a token. A password the server refuses is tried again once with a fresh
    /// one when the source's secrets rotate (`Provider::password_refused`), never for IAM tokens.
    /// Each attempt ends by the settings' `connect_timeout` (else [`CONNECT_DEADLINE`]):
    /// tokio-postgres's own covers only the TCP connect, not a TLS handshake or a login that
    /// stalls.
    pub async fn connect(&self) -> Result<(Client, Connection<Socket, TlsStream>), Error> {
        let token = self.provider.token().await?;
        match self.attempt(&token).await {
            Err(Error::Postgres(e))
                if e.code() == Some(&SqlState::INVALID_PASSWORD)
                    && self.provider.password_refused(token.secret()) =>
            {
                let token = self.provider.token().await?;
                self.attempt(&token).await
            }
            connected => connected,
        }
    }

    async fn attempt(
        &self,
        token: &Token,
    ) -> Result<(Client, Connection<Socket, TlsStream>), Error> {
        let config = self.with_token(token)?;
        let deadline = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_DEADLINE);
        match tokio::time::timeout(deadline, config.connect(self.tls.clone())).await {
            Ok(connected) => Ok(connected?),
            Err(_) => Err(Error::Passmint(passmint::Error::new(
                passmint::ErrorKind::Timeout,
                format!(
                    "{HELPER}: no session within {} s (connect, TLS and login)",
                    deadline.as_secs_f64()
                ),
            ))),
        }
    }

    /// [`Connector::connect`], with the connection driven by a task on the current tokio
    /// runtime, as the pools need.
    pub async fn connect_client(&self) -> Result<Client, Error> {
        let (client, connection) = self.connect().await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "passmint-postgres: a connection ended");
            }
        });
        Ok(client)
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config's Debug redacts a password, and this one never holds one.
        f.debug_struct("Connector")
            .field("config", &self.config)
            .field("provider", &self.provider.kind())
            .finish_non_exhaustive()
    }
}

/// Connects once: [`Connector::new`] then [`Connector::connect`]. Drive the returned
/// `Connection` (`tokio::spawn(connection)`) as with `tokio_postgres::connect`.
pub async fn connect(
    conninfo: &str,
    provider: &Provider,
    options: Options,
) -> Result<(Client, Connection<Socket, TlsStream>), Error> {
    Connector::new(conninfo, provider.clone(), options)?
        .connect()
        .await
}
