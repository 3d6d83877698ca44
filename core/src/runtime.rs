//! The process-wide tokio runtime behind the blocking API and background refreshes.
//!
//! Created lazily and tagged with the pid: a `fork()`ed child inherits the parent's runtime
//! object but none of its threads, so the child builds its own. The inherited one is leaked,
//! never dropped — dropping would wait for worker threads that do not exist in the child.

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, Ordering};
use tokio::runtime::Runtime;

use crate::error::{Error, ErrorKind, Result};

struct Tagged {
    pid: u32,
    runtime: Runtime,
}

static CURRENT: AtomicPtr<Tagged> = AtomicPtr::new(std::ptr::null_mut());
static CREATE: Mutex<()> = Mutex::new(());

/// The runtime of this process, created on first use (and again after a fork).
pub(crate) fn runtime() -> Result<&'static Runtime> {
    let pid = std::process::id();
    if let Some(rt) = current(pid) {
        return Ok(rt);
    }
    // A lock held by a parent thread at fork time is never released in the child; recover
    // from poisoning and keep going rather than failing every call.
    let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = current(pid) {
        return Ok(rt);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("passmint-rt")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot start passmint's runtime threads: {e}"),
            )
        })?;
    let tagged: &'static Tagged = Box::leak(Box::new(Tagged { pid, runtime }));
    CURRENT.store(tagged as *const Tagged as *mut Tagged, Ordering::Release);
    Ok(&tagged.runtime)
}

fn current(pid: u32) -> Option<&'static Runtime> {
    let ptr = CURRENT.load(Ordering::Acquire);
    // SAFETY: every pointer stored in CURRENT comes from Box::leak and is never freed.
    let tagged = unsafe { ptr.as_ref() }?;
    (tagged.pid == pid).then_some(&tagged.runtime)
}
