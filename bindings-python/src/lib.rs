//! `passmint._native`: the Python binding's only native code. It translates; the cache,
//! providers, deadlines and errors all live in the core crate.

mod errors;
mod provider;
mod token;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<provider::Provider>()?;
    m.add_class::<token::Token>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
