//! passmint tokens as the password of Rust's PostgreSQL drivers and pools.
//!
//! Each integration asks the [`passmint::Provider`] for a token on every new physical
//! connection (a cache hit costs about a microsecond; a cold pool shares one fetch), connects
//! over TLS that checks the server's name unless the caller opted out, and logs in as the
//! token's role when no user was given.
//!
//! | feature | what it gives |
//! |---|---|
//! | `tokio-postgres` | `tokio_postgres::Connector`, `tokio_postgres::connect` |
//! | `deadpool` | `deadpool::Manager` for `deadpool::managed::Pool` |
//! | `bb8` | `bb8::Manager` for `bb8::Pool` |
//! | `sqlx` | `sqlx::connect_options`, `sqlx::pool`: a `PgPool` kept on a valid token |
//! | `diesel-async` | `diesel_async::connect`, `diesel_async::manager_config` for its pools |
//!
//! TLS follows the rules of passmint's other driver helpers (`passmint::driver_tls`): nothing
//! chosen means `verify-full` against the system's roots (or `sslrootcert`); `disable`,
//! `allow` and `prefer` are refused unless `Options::allow_plaintext`; `require`, and
//! `verify-ca` without a CA file of yours (under sqlx any `verify-ca`), unless
//! `Options::allow_unverified_tls`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod conninfo;
mod error;
mod options;
#[cfg(feature = "tokio-postgres")]
mod tls;

#[cfg(feature = "bb8")]
pub mod bb8;
#[cfg(feature = "deadpool")]
pub mod deadpool;
#[cfg(feature = "diesel-async")]
pub mod diesel_async;
#[cfg(feature = "sqlx")]
pub mod sqlx;
#[cfg(feature = "tokio-postgres")]
pub mod tokio_postgres;

pub use error::Error;
pub use options::Options;
