//! A bb8 connection manager whose every new connection logs in with a token:
//! `bb8::Pool::builder().max_size(20).build(Manager::new(connector)).await`.

use ::tokio_postgres::Client;

use crate::error::Error;
use crate::tokio_postgres::Connector;

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

/// A bb8 pool of tokio-postgres clients that log in with tokens.
pub type Pool = ::bb8::Pool<Manager>;

impl ::bb8::ManageConnection for Manager {
    type Connection = Client;
    type Error = Error;

    async fn connect(&self) -> Result<Client, Error> {
        self.connector.connect_client().await
    }

    /// A session stays valid after its token expires; only a broken one is replaced.
    async fn is_valid(&self, client: &mut Client) -> Result<(), Error> {
        // bb8's connection_timeout (30 s by default) bounds this wait.
        client.simple_query("").await?;
        Ok(())
    }

    fn has_broken(&self, client: &mut Client) -> bool {
        client.is_closed()
    }
}
