//! `passmint._native`: the Python binding's only native code. It translates; the cache,
//! providers, deadlines and errors all live in the core crate.

mod awaitable;
mod callback;
mod driver_tls;
mod errors;
mod provider;
mod token;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Set by an `atexit` hook (`passmint/__init__.py`): from then on passmint's threads no longer
/// enter the interpreter. CPython terminates a thread that needs the GIL once it finalizes;
/// for one of passmint's threads in the middle of a call into Python (handing a token to an
/// event loop), that unwinds Rust frames that then touch Python objects without the GIL, and
/// the process crashes (found with an asyncpg pool whose failing fetch still had waiters as
/// `asyncio.run` returned: 1 exit in 5 crashed).
static EXITING: AtomicBool = AtomicBool::new(false);
/// passmint's threads inside (or about to enter) the interpreter.
static INSIDE: AtomicUsize = AtomicUsize::new(0);
/// How long exit waits for them.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// At exit, before finalization: no new calls into Python from passmint's threads, and the
/// ones under way finish (the GIL is released meanwhile so that they can).
#[pyfunction]
fn _interpreter_exiting(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let until = Instant::now() + EXIT_WAIT;
        while INSIDE.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Runs `f` with the GIL on one of passmint's threads, unless the interpreter is exiting or
/// gone (`None`).
pub(crate) fn with_interpreter<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a plain query of interpreter state, allowed without the GIL.
    let alive = !EXITING.load(Ordering::SeqCst) && unsafe { pyo3::ffi::Py_IsInitialized() } != 0;
    let out = alive.then(|| Python::attach(f));
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    out
}

/// The OSS RDBMS scope of an Azure cloud (`public`, `usgov`, `china`).
#[pyfunction]
fn azure_scope(cloud: &str) -> PyResult<&'static str> {
    passmint_core::azure_scope(cloud).map_err(errors::to_py)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<provider::Provider>()?;
    m.add_class::<token::Token>()?;
    m.add_class::<awaitable::TokenAwaitable>()?;
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
    m.add_function(wrap_pyfunction!(driver_tls::missing_user, m)?)?;
    m.add_function(wrap_pyfunction!(_interpreter_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(azure_scope, m)?)?;
    Ok(())
}
