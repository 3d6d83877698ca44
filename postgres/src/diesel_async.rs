//! diesel-async's PostgreSQL connection (which is tokio-postgres) with a token. Never its own
//! `AsyncPgConnection::establish`: that connects without TLS. Its pools (deadpool, bb8, mobc)
//! take [`manager_config`], whose setup connects through a [`Connector`].

use ::diesel::{ConnectionError, ConnectionResult};
use ::diesel_async::AsyncPgConnection;
use ::diesel_async::pooled_connection::ManagerConfig;

use crate::tokio_postgres::Connector;

/// One connection with a token, over the connector's TLS.
pub async fn connect(connector: &Connector) -> ConnectionResult<AsyncPgConnection> {
    let (client, connection) = connector.connect().await.map_err(bad_connection)?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// Settings for `AsyncDieselConnectionManager::new_with_config(url, ...)` whose every new
/// connection is [`connect`]; the manager's `url` is not used (the connector holds the
/// settings).
pub fn manager_config(connector: Connector) -> ManagerConfig<AsyncPgConnection> {
    let mut config = ManagerConfig::default();
    config.custom_setup = Box::new(move |_url| {
        let connector = connector.clone();
        Box::pin(async move { connect(&connector).await })
    });
    config
}

/// diesel's error type carries only text: passmint's message (secret-free) says what failed.
fn bad_connection(e: crate::Error) -> ConnectionError {
    ConnectionError::BadConnection(e.to_string())
}
