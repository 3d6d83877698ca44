//! What `token_async()` returns: an awaitable that is also a coroutine (it has `send`,
//! `throw` and `close`, so `asyncio.run`, `loop.run_until_complete` and `create_task` take it),
//! bound to no event loop until it is first awaited. So it may be made before a loop runs, or
//! on one loop and awaited on another. A cache hit finishes at the first step without touching
//! any loop; a miss awaits an asyncio future of the loop that is running then.

use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;

use crate::provider::{Convert, Provider};

#[pyclass(module = "passmint", name = "TokenAwaitable")]
pub(crate) struct TokenAwaitable {
    provider: Py<Provider>,
    convert: Convert,
    /// The future's iterator once a miss has started one; `None` before the first step.
    inner: Mutex<Step>,
}

enum Step {
    Start,
    Waiting(Py<PyAny>),
    Done,
}

impl TokenAwaitable {
    pub(crate) fn new(provider: Py<Provider>, convert: Convert) -> TokenAwaitable {
        TokenAwaitable {
            provider,
            convert,
            inner: Mutex::new(Step::Start),
        }
    }

    fn step(&self, py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let mut step = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match &*step {
            Step::Start => {
                let provider = self.provider.bind(py);
                if let Some(t) = provider.get().cached() {
                    *step = Step::Done;
                    let value = (self.convert)(provider.get(), py, &t);
                    return Err(PyStopIteration::new_err((value,)));
                }
                let future = Provider::future(provider, self.convert)?;
                let iter = future.call_method0("__await__")?;
                let first = iter.call_method0("__next__");
                *step = Step::Waiting(iter.unbind());
                first.map(Bound::unbind)
            }
            Step::Waiting(iter) => {
                let iter = iter.clone_ref(py);
                drop(step);
                let out = match value {
                    Some(v) if !v.is_none() => iter.call_method1(py, "send", (v,)),
                    _ => iter.call_method0(py, "__next__"),
                };
                if out.is_err() {
                    *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Step::Done;
                }
                out
            }
            Step::Done => Err(PyRuntimeError::new_err(
                "cannot reuse already awaited token_async()",
            )),
        }
    }
}

#[pymethods]
impl TokenAwaitable {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py, None)
    }

    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.step(py, Some(value))
    }

    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let waiting = match &*self.inner.lock().unwrap_or_else(|e| e.into_inner()) {
            Step::Waiting(iter) => Some(iter.clone_ref(py)),
            _ => None,
        };
        match waiting {
            // The future's iterator cancels or re-raises as asyncio expects.
            Some(iter) => iter.call_method1(py, "throw", (typ, val, tb)),
            None => {
                *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Step::Done;
                let exc = match val {
                    Some(v) if !v.is_none() => v.clone(),
                    _ => typ.call0()?,
                };
                Err(PyErr::from_value(exc))
            }
        }
    }

    fn close(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Step::Done;
    }
}
