//! `passmint._native`: the Python binding's only native code. It translates; the cache,
//! providers, deadlines and errors all live in the core crate.

mod callback;
mod driver_tls;
mod errors;
mod provider;
mod token;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<provider::Provider>()?;
    m.add_class::<token::Token>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The core's lists: tests hold passmint.errors and the other bindings' lists to them.
    let kinds: Vec<&str> = passmint_core::ErrorKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    m.add("ERROR_KINDS", kinds)?;
    let providers: Vec<&str> = passmint_core::ProviderKind::ALL
        .iter()
        .map(|k| k.name())
        .collect();
    m.add("PROVIDER_KINDS", providers)?;
    m.add_function(wrap_pyfunction!(driver_tls::decide_tls, m)?)?;
    Ok(())
}
