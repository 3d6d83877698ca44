//! The process-wide tokio runtime behind the blocking API and background refreshes.
//!
//! Created lazily, one per process (docs/DESIGN.md §2): a `fork()`ed child inherits the parent's
//! runtime object but none of its threads, so it builds its own and leaks the inherited one
//! (dropping it would wait for worker threads that do not exist in the child).

use std::sync::Mutex;
use tokio::runtime::Runtime;

use crate::error::{Error, ErrorKind, Result};
use crate::fork::ProcessLocal;

static CURRENT: ProcessLocal<Runtime> = ProcessLocal::new();
/// Serialises creation within one process, so a cold storm builds one runtime, not many.
/// Per process too: a parent thread may have held it at fork time.
static CREATE: ProcessLocal<Mutex<()>> = ProcessLocal::new();

/// The runtime of this process, created on first use (and again after a fork).
pub(crate) fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = CURRENT.get() {
        return Ok(rt);
    }
    let _guard = CREATE
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = CURRENT.get() {
        return Ok(rt);
    }
    // Gated: tokio initialises process-wide statics (its signal registry) while building, and
    // so does the SDKs' log guard, which every fetch needs.
    let built = crate::fork::gated(|| {
        crate::sdk_log::prepare();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("passmint-rt")
            .enable_all()
            .build()
    });
    let runtime = built.map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("cannot start passmint's runtime threads: {e}"),
        )
    })?;
    crate::deadline::start();
    Ok(CURRENT.publish(runtime))
}

/// Whether this thread is one of this process's runtime threads (a worker, or a thread of
/// its blocking pool): a blocking wait there must first hand the worker's queue to another
/// thread, or the task it waits for could be stuck behind it.
pub(crate) fn on_own_thread() -> bool {
    let Some(ours) = CURRENT.get() else {
        return false;
    };
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == ours.handle().id())
}
