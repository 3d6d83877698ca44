//! A deadpool manager whose every new connection logs in with a token:
//! `deadpool::managed::Pool::builder(Manager::new(connector)).max_size(20).build()`.

use ::deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use ::tokio_postgres::Client;

use crate::error::Error;
use crate::tokio_postgres::{CONNECT_DEADLINE, Connector};

/// Connects through a [`Connector`]: a token per physical connection, none per checkout.
#[derive(Debug, Clone)]
pub struct Manager {
    connector: Connector,
}

impl Manager {
    pub fn new(connector: Connector) -> Manager {
        Manager { connector }
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }
}

/// A deadpool pool of tokio-postgres clients that log in with tokens.
pub type Pool = managed::Pool<Manager>;

impl managed::Manager for Manager {
    type Type = Client;
    type Error = Error;

    async fn create(&self) -> Result<Client, Error> {
        self.connector.connect_client().await
    }

    /// A session stays valid after its token expires; only a closed or broken one is replaced.
    async fn recycle(&self, client: &mut Client, _: &Metrics) -> RecycleResult<Error> {
        if client.is_closed() {
            return Err(RecycleError::message("the connection is closed"));
        }
        // deadpool waits as long as a check takes; a stalled server must not hold a checkout.
        match tokio::time::timeout(CONNECT_DEADLINE, client.simple_query("")).await {
            Ok(checked) => checked
                .map(drop)
                .map_err(|e| RecycleError::Backend(e.into())),
            Err(_) => Err(RecycleError::message(
                "the connection did not answer a check",
            )),
        }
    }
}
