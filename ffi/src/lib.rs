//! The C ABI of passmint (docs/DESIGN.md §5–§6). Opaque handles, status codes, out-parameters;
//! every entry point checks its pointers and catches panics (see `boundary`).
//!
//! Modeled on rustls-ffi. This crate translates; all behaviour lives in the core crate.

#![allow(non_camel_case_types)]

mod aws_credentials;
mod boundary;
mod callback;
mod error;
mod provider;
mod status;
mod token;

pub use aws_credentials::{
    passmint_aws_completion, passmint_aws_completion_credentials, passmint_aws_completion_error,
    passmint_aws_credentials_callback, passmint_provider_with_aws_credentials,
};
pub use callback::{
    passmint_completion, passmint_completion_error, passmint_completion_token,
    passmint_provider_from_callback, passmint_source_callback,
};
pub use error::{
    passmint_error, passmint_error_free, passmint_error_message, passmint_error_status,
};
pub use provider::{
    passmint_provider, passmint_provider_for_postgres_url, passmint_provider_free,
    passmint_provider_new, passmint_provider_status_json, passmint_string_free,
};
pub use status::{passmint_status, passmint_status_name, passmint_version};
pub use token::{
    passmint_token, passmint_token_callback, passmint_token_expires_at, passmint_token_free,
    passmint_token_get, passmint_token_get_async, passmint_token_provider, passmint_token_secret,
    passmint_token_username,
};
