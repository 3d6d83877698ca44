//! Core errors → the exception classes of `passmint.errors` (defined in Python so that
//! `passmint.TimeoutError` can also be a builtin `TimeoutError`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

static BY_CODE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The exception instance for a core error: `passmint.errors.<Kind>Error(code, message)`.
pub(crate) fn exception<'py>(py: Python<'py>, e: &passmint_core::Error) -> Bound<'py, PyAny> {
    let built = BY_CODE
        .import(py, "passmint.errors", "_BY_CODE")
        .and_then(|by_code| {
            let class = by_code
                .get_item(e.kind().code())?
                .map_or_else(|| py.import("passmint.errors")?.getattr("Error"), Ok)?;
            class.call1((e.kind().code(), e.message()))
        });
    // The errors module is part of the package; if even it fails, say so rather than hide e.
    built.unwrap_or_else(|import_error| import_error.into_value(py).into_bound(py).into_any())
}

pub(crate) fn to_py(e: passmint_core::Error) -> PyErr {
    Python::attach(|py| PyErr::from_value(exception(py, &e)))
}
