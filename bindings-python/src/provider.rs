use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyType};

use crate::awaitable::TokenAwaitable;
use crate::errors::{exception, to_py};
use crate::token::Token;

/// A configured source of tokens with its own cache (docs/DESIGN.md §2). Build one per database
/// target and share it across threads, tasks and event loops.
#[pyclass(module = "passmint", name = "Provider", frozen)]
pub(crate) struct Provider {
    inner: passmint_core::Provider,
    /// The last token handed out with its Python forms, so that a cache hit returns the
    /// same `str` (and `Token`) object instead of copying ~1.5 KB into a new one.
    last: Mutex<Option<Last>>,
}

struct Last {
    token: passmint_core::Token,
    secret: Py<PyString>,
    info: Option<Py<Token>>,
}

impl Provider {
    fn wrap(inner: passmint_core::Provider) -> Provider {
        Provider {
            inner,
            last: Mutex::new(None),
        }
    }

    /// The cached Python forms of `t`, made afresh when `t` is a new token.
    fn with_last<R>(
        &self,
        py: Python<'_>,
        t: &passmint_core::Token,
        f: impl FnOnce(&mut Last) -> R,
    ) -> R {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let current = last.as_ref().is_some_and(|l| l.token.same_as(t));
        if !current {
            *last = Some(Last {
                token: t.clone(),
                secret: PyString::new(py, t.secret()).unbind(),
                info: None,
            });
        }
        f(last.as_mut().expect("just filled"))
    }

    fn secret(&self, py: Python<'_>, t: &passmint_core::Token) -> Py<PyString> {
        self.with_last(py, t, |l| l.secret.clone_ref(py))
    }

    fn info(&self, py: Python<'_>, t: &passmint_core::Token) -> PyResult<Py<Token>> {
        self.with_last(py, t, |l| match &l.info {
            Some(info) => Ok(info.clone_ref(py)),
            None => {
                let info = Py::new(py, Token::new(t))?;
                l.info = Some(info.clone_ref(py));
                Ok(info)
            }
        })
    }

    /// The fresh cached token, without waiting or locking.
    pub(crate) fn cached(&self) -> Option<passmint_core::Token> {
        self.inner.cached_token()
    }

    fn blocking(&self, py: Python<'_>) -> PyResult<passmint_core::Token> {
        if let Some(t) = self.inner.cached_token() {
            return Ok(t);
        }
        // The fetch is bounded by the core's deadline; other Python threads run meanwhile.
        py.detach(|| self.inner.token_blocking()).map_err(to_py)
    }

    /// An asyncio future for the token, completed at once on a cache hit (no thread hop),
    /// otherwise from passmint's thread through `loop.call_soon_threadsafe`.
    pub(crate) fn future<'py>(
        slf: &Bound<'py, Provider>,
        convert: Convert,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (py, me) = (slf.py(), slf.get());
        let this = slf.clone().unbind();
        static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let event_loop = GET_RUNNING_LOOP
            .import(py, "asyncio", "get_running_loop")?
            .call0()?;
        let future = event_loop.call_method0("create_future")?;
        if let Some(t) = me.inner.cached_token() {
            future.call_method1("set_result", (convert(me, py, &t),))?;
            return Ok(future);
        }
        let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
        me.inner
            .token_with(move |result| {
                // At exit (a task never awaited, a loop already closed) nobody is waiting.
                crate::with_interpreter(|py| {
                    let provider = this.get();
                    let (ok, value) = match &result {
                        Ok(t) => (true, convert(provider, py, t)),
                        Err(e) => (false, exception(py, e).unbind()),
                    };
                    // A closed loop cannot be told; its awaiting task is gone too.
                    let _ = loop_ref.call_method1(
                        py,
                        "call_soon_threadsafe",
                        (wrap_resolver(py), future_ref, ok, value),
                    );
                });
            })
            .map_err(to_py)?;
        Ok(future)
    }
}

/// How a token becomes the Python value a call returns (the secret `str`, or a `Token`).
pub(crate) type Convert = fn(&Provider, Python<'_>, &passmint_core::Token) -> Py<PyAny>;

/// `passmint._resolve(future, ok, value)`, run on the loop's thread: a cancelled future
/// (the awaiting task gave up) is left alone.
fn wrap_resolver(py: Python<'_>) -> Py<PyAny> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE
        .import(py, "passmint._resolve", "resolve")
        .map(|f| f.clone().unbind())
        .unwrap_or_else(|e| e.into_value(py).into_any())
}

fn secret_of(p: &Provider, py: Python<'_>, t: &passmint_core::Token) -> Py<PyAny> {
    p.secret(py, t).into_any()
}

fn info_of(p: &Provider, py: Python<'_>, t: &passmint_core::Token) -> Py<PyAny> {
    p.info(py, t)
        .map(Py::into_any)
        .unwrap_or_else(|e| e.into_value(py).into_any())
}

/// A built provider with the caller's shared-cache choice (`None`: the URL's, else the
/// environment's).
fn shared(
    built: passmint_core::Result<passmint_core::Provider>,
    on: Option<bool>,
) -> PyResult<Provider> {
    let p = built.map_err(to_py)?;
    Ok(Provider::wrap(match on {
        Some(on) => p.shared_cache(on),
        None => p,
    }))
}

#[pymethods]
impl Provider {
    /// A provider from a provider URL: `azure://…`, `dsql://…`, `rds://…`. `shared_cache`:
    /// share tokens with this user's other processes on this host (see the README).
    #[new]
    #[pyo3(signature = (url, *, shared_cache=None))]
    fn new(url: &str, shared_cache: Option<bool>) -> PyResult<Provider> {
        shared(passmint_core::Provider::from_url(url), shared_cache)
    }

    /// The provider a postgres URL's host calls for; user and port come from the URL.
    #[classmethod]
    #[pyo3(signature = (dsn, *, shared_cache=None))]
    fn for_postgres_url(
        _cls: &Bound<'_, PyType>,
        dsn: &str,
        shared_cache: Option<bool>,
    ) -> PyResult<Provider> {
        shared(passmint_core::Provider::for_postgres_url(dsn), shared_cache)
    }

    /// A provider from a typed builder's fields (`passmint.dsql(...)` and its siblings): the
    /// core checks the names and builds it; no URL is written in between.
    #[classmethod]
    fn _from_fields(
        _cls: &Bound<'_, PyType>,
        kind: &str,
        fields: Vec<(String, String)>,
    ) -> PyResult<Provider> {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        passmint_core::Provider::from_fields(kind, &fields)
            .map(Provider::wrap)
            .map_err(to_py)
    }

    /// A provider over a callable of yours, sync or `async`, that returns
    /// `{"token", "expires_at", "username"?}` or `(token, expires_at[, username])`: called on
    /// passmint's thread, once for any number of concurrent cold callers, with the cache rules
    /// of every provider. Its exception reaches callers with its message.
    #[classmethod]
    fn from_callable(cls: &Bound<'_, PyType>, callable: Bound<'_, PyAny>) -> PyResult<Provider> {
        static PREPARE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let prepared = PREPARE
            .import(cls.py(), "passmint._callback", "prepare")?
            .call1((callable,))?;
        let (call, name): (Py<PyAny>, String) = prepared.extract()?;
        Ok(Provider::wrap(passmint_core::Provider::from_blocking_fn(
            name,
            move || crate::callback::invoke(&call),
        )))
    }

    /// A provider over an Entra credential the caller holds (`passmint.azure_identity`
    /// prepares `call` around its `get_token`): `azure` tokens, the role from `user` or the
    /// token's claims.
    #[classmethod]
    #[pyo3(signature = (call, name, user=None))]
    fn _from_azure_callable(
        _cls: &Bound<'_, PyType>,
        call: Py<PyAny>,
        name: String,
        user: Option<String>,
    ) -> Provider {
        Provider::wrap(passmint_core::Provider::from_blocking_azure_credential(
            name,
            user,
            move || crate::callback::invoke(&call),
        ))
    }

    /// `_from_fields` for dsql/rds with the caller's AWS credentials: `call()` returns
    /// `(access_key_id, secret_access_key, session_token, expires_at)` (`passmint._callback`
    /// prepares it from a boto3 Session, botocore credentials or a callable).
    #[classmethod]
    fn _from_fields_with_aws_credentials(
        _cls: &Bound<'_, PyType>,
        kind: &str,
        fields: Vec<(String, String)>,
        call: Py<PyAny>,
    ) -> PyResult<Provider> {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        passmint_core::Provider::from_fields_with_aws_credentials(kind, &fields, move || {
            crate::callback::aws_credentials(&call)
        })
        .map(Provider::wrap)
        .map_err(to_py)
    }

    /// The provider named by the `PASSMINT_PROVIDER` environment variable.
    #[classmethod]
    #[pyo3(signature = (*, shared_cache=None))]
    fn from_env(_cls: &Bound<'_, PyType>, shared_cache: Option<bool>) -> PyResult<Provider> {
        shared(passmint_core::Provider::from_env(), shared_cache)
    }

    /// Whether the shared token cache is under this provider's own.
    #[getter]
    fn shared_cache(&self) -> bool {
        self.inner.uses_shared_cache()
    }

    /// The token: from the cache when fresh, else fetched with the GIL released (bounded
    /// by the 10 s deadline).
    fn token(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        let t = self.blocking(py)?;
        Ok(self.secret(py, &t))
    }

    /// The token with its expiry, username and provider kind.
    fn token_info(&self, py: Python<'_>) -> PyResult<Py<Token>> {
        let t = self.blocking(py)?;
        self.info(py, &t)
    }

    /// `await p.token_async()`: never blocks the event loop. A coroutine function in
    /// effect, so `asyncpg.connect(password=p.token_async)` and `asyncio.run(p.token_async())`
    /// work as they are; the awaitable is bound to no loop until awaited.
    fn token_async(slf: &Bound<'_, Self>) -> TokenAwaitable {
        TokenAwaitable::new(slf.clone().unbind(), secret_of)
    }

    /// `await p.token_info_async()`: `token_info()` without blocking the event loop.
    fn token_info_async(slf: &Bound<'_, Self>) -> TokenAwaitable {
        TokenAwaitable::new(slf.clone().unbind(), info_of)
    }

    /// Drops the cached token, so the next call fetches a new one (a secret rotated early).
    fn invalidate(&self) {
        self.inner.invalidate();
    }

    /// A server refused `password`: True for the sources whose secrets rotate early (vault,
    /// awssm, file, exec), after dropping the cached token if it is still that one; connect
    /// again once. False for IAM tokens, where a retry would only hide a wrong role.
    fn password_refused(&self, password: &str) -> bool {
        self.inner.password_refused(password)
    }

    /// This provider's health, without fetching: `cached`, `expires_at`, `next_refresh_at`,
    /// `consecutive_failures`, `last_error_kind`, `last_error_message`, `credential`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.status();
        let out = PyDict::new(py);
        out.set_item("cached", s.cached)?;
        out.set_item("expires_at", s.expires_at)?;
        out.set_item("next_refresh_at", s.next_refresh_at)?;
        out.set_item("consecutive_failures", s.consecutive_failures)?;
        out.set_item("last_error_kind", s.last_error_kind().map(|k| k.code()))?;
        out.set_item("last_error_message", s.last_error_message())?;
        out.set_item("credential", s.credential)?;
        Ok(out)
    }

    /// "azure", "dsql" or "rds".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// The database host tokens are signed for (dsql, rds), a DSQL cluster id expanded to its
    /// endpoint; None for Azure and callbacks.
    #[getter]
    fn host(&self) -> Option<String> {
        self.inner.host().map(str::to_string)
    }

    /// The configured database role (`user=`, or the postgres URL's user), if any.
    #[getter]
    fn username(&self) -> Option<String> {
        self.inner.username().map(str::to_string)
    }

    /// Where to get the CA bundle drivers need to verify this provider's servers (RDS, Aurora);
    /// None when they chain to the system's public roots (Azure, DSQL).
    #[getter]
    fn server_ca_bundle(&self) -> Option<&'static str> {
        self.inner.server_ca_bundle()
    }

    fn __repr__(&self) -> String {
        format!("passmint.{:?}", self.inner)
    }

    /// A provider is a shared handle to one cache: a copy is the same provider. Settings that
    /// hold one (Django's `DATABASES`, which `DatabaseWrapper.copy()` deep-copies) stay
    /// copyable, and the copy keeps sharing the cache instead of failing to pickle it.
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }
}
