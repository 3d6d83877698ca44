//! Fork safety (docs/DESIGN.md §2, "Runtime"): a `fork()` may happen at any instant of any other
//! thread, and the child has only the forking thread. Two rules follow.
//!
//! 1. A child never touches its parent's mutable state: whatever a parent thread held at
//!    fork time (a mutex, a flight it was waiting for, a runtime) stays held for ever in the
//!    child. [`ProcessLocal`] gives each process its own instance; the parent's is leaked in
//!    the child, never dropped or locked.
//! 2. A fork never lands in the middle of a fetch's poll, or of building a runtime or a
//!    provider. The identity SDKs and tokio keep process-wide statics (lazily built TLS roots,
//!    retry token buckets, telemetry providers, tokio's signal registry) that they lock or
//!    initialise there; a child forked in the middle would block on them for ever. [`Gated`]
//!    and [`gated`] mark such sections, and a `pthread_atfork` prepare handler waits, briefly
//!    and boundedly, until none is in progress. A std mutex guard cannot be held across an
//!    `.await` in a `Send` future, so between polls every such lock is free.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// This process's id, cached: `getpid()` is a system call, and the pid is compared on every
/// cache miss. Set when the fork handlers are registered and again in each child.
static PID: AtomicU32 = AtomicU32::new(0);
static HANDLERS: AtomicBool = AtomicBool::new(false);

/// The pid of this process (the child's own after a fork).
pub(crate) fn pid() -> u32 {
    match PID.load(Ordering::Acquire) {
        0 => {
            register_handlers();
            std::process::id()
        }
        pid => pid,
    }
}

fn register_handlers() {
    if HANDLERS.swap(true, Ordering::AcqRel) {
        return;
    }
    PID.store(std::process::id(), Ordering::Release);
    register_atfork();
}

/// Windows and other systems without `fork()`: a process never gets a copy of another's
/// state, so there is nothing to gate and the cached pid never goes stale.
#[cfg(not(unix))]
fn register_atfork() {}

#[cfg(unix)]
fn register_atfork() {
    // SAFETY: the three handlers are `extern "C"` functions that never unwind and only touch
    // atomics, `Instant` and `sched_yield`/`nanosleep`, which are safe in every phase of fork.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc != 0 {
        // Without handlers, children still get their own state (pids are compared); only the
        // gate is lost. Nothing to report to a caller here: this runs on first use.
        tracing::warn!(rc, "passmint: pthread_atfork failed; forks are not gated");
        PID.store(0, Ordering::Release);
    }
}

/// Gated sections in progress in this process, and whether a fork is waiting for them.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static FORKING: AtomicBool = AtomicBool::new(false);
/// How long `fork()` waits for polls in progress. Polls take microseconds; one that takes
/// longer (a poll blocked on something the forking thread holds, such as Python's GIL) must
/// not stall the fork for good, so after this the fork goes ahead regardless.
const FORK_WAIT: Duration = Duration::from_millis(500);

thread_local! {
    /// Gated sections this thread is inside: a nested section must not wait for a fork
    /// that is waiting for the outer one.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

#[cfg_attr(not(unix), allow(dead_code))]
extern "C" fn prepare() {
    FORKING.store(true, Ordering::SeqCst);
    let inside = DEPTH.try_with(Cell::get).unwrap_or(0) as usize;
    let started = Instant::now();
    while ACTIVE.load(Ordering::SeqCst) > inside && started.elapsed() < FORK_WAIT {
        std::thread::yield_now();
    }
}

#[cfg_attr(not(unix), allow(dead_code))]
extern "C" fn parent() {
    FORKING.store(false, Ordering::SeqCst);
}

#[cfg_attr(not(unix), allow(dead_code))]
extern "C" fn child() {
    // SAFETY: getpid is async-signal-safe.
    PID.store(unsafe { libc::getpid() } as u32, Ordering::Release);
    // The parent's sections belong to threads this process does not have.
    ACTIVE.store(
        DEPTH.try_with(Cell::get).unwrap_or(0) as usize,
        Ordering::SeqCst,
    );
    FORKING.store(false, Ordering::SeqCst);
}

/// Marks a gated section on this thread until dropped.
struct Section;

impl Section {
    fn enter() -> Section {
        let depth = DEPTH.with(|d| {
            let n = d.get();
            d.set(n + 1);
            n
        });
        if depth > 0 {
            ACTIVE.fetch_add(1, Ordering::SeqCst);
            return Section;
        }
        let started = Instant::now();
        loop {
            ACTIVE.fetch_add(1, Ordering::SeqCst);
            // SeqCst on both sides: either the fork sees this section, or this sees the fork.
            if !FORKING.load(Ordering::SeqCst) || started.elapsed() >= FORK_WAIT {
                return Section;
            }
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
            while FORKING.load(Ordering::SeqCst) && started.elapsed() < FORK_WAIT {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f` as a gated section: no fork starts while it runs (up to [`FORK_WAIT`]). For work
/// on a caller's thread that reaches a library's process-wide statics: building the runtime
/// (tokio's signal registry is a `OnceLock`), building a provider (aws-lc's init `Once`).
pub(crate) fn gated<R>(f: impl FnOnce() -> R) -> R {
    pid();
    let _section = Section::enter();
    f()
}

/// A future each of whose polls is a gated section.
pub(crate) struct Gated<F>(Pin<Box<F>>);

impl<F: Future> Gated<F> {
    pub fn new(inner: F) -> Self {
        pid();
        Gated(Box::pin(inner))
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _section = Section::enter();
        self.0.as_mut().poll(cx)
    }
}

/// Immutable data made once and shared with forked children (it holds no lock and no
/// thread). Made without a lock: threads that race each make one and one is kept, so a fork
/// in the middle leaves nothing half-made for the child to wait on, as a `OnceLock` would.
pub(crate) struct Racy<T> {
    value: AtomicPtr<T>,
}

impl<T> Racy<T> {
    pub const fn new() -> Self {
        Racy {
            value: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub fn get_or_init(&'static self, init: impl FnOnce() -> T) -> &'static T {
        // SAFETY: a published pointer came from Box::into_raw and is never freed (`self` is
        // a static), so it is valid for 'static.
        if let Some(v) = unsafe { self.value.load(Ordering::Acquire).as_ref() } {
            return v;
        }
        let mine = Box::into_raw(Box::new(init()));
        match self.value.compare_exchange(
            std::ptr::null_mut(),
            mine,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: as above.
            Ok(_) => unsafe { &*mine },
            Err(theirs) => {
                // SAFETY: `mine` was never published; `theirs` was, as above.
                drop(unsafe { Box::from_raw(mine) });
                unsafe { &*theirs }
            }
        }
    }
}

/// One instance of `T` per process. Reading it is an atomic load and a pid comparison;
/// a forked child that reads it gets a fresh instance, and the parent's is leaked there
/// (its locks may be held by threads that do not exist in the child).
pub(crate) struct ProcessLocal<T> {
    current: AtomicPtr<Tagged<T>>,
}

struct Tagged<T> {
    pid: u32,
    value: T,
}

// SAFETY: the instances are shared between this process's threads like a `&T`.
unsafe impl<T: Send + Sync> Sync for ProcessLocal<T> {}
unsafe impl<T: Send + Sync> Send for ProcessLocal<T> {}

impl<T> ProcessLocal<T> {
    pub const fn new() -> Self {
        ProcessLocal {
            current: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's instance, if it has one yet.
    pub fn get(&self) -> Option<&T> {
        let pid = pid();
        // SAFETY: a published pointer came from Box::into_raw and is freed only by `drop`,
        // which takes `&mut self`, so no reference handed out here can outlive it.
        let tagged = unsafe { self.current.load(Ordering::Acquire).as_ref() }?;
        (tagged.pid == pid).then_some(&tagged.value)
    }

    /// This process's instance, made by `init` if there is none. Never blocks: threads that
    /// race here each run `init`, one result is kept and the others are dropped unshared.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        self.publish(init())
    }

    /// Installs `value` as this process's instance unless another thread of this process
    /// did first; returns the instance in place.
    pub fn publish(&self, value: T) -> &T {
        let pid = pid();
        let mine = Box::into_raw(Box::new(Tagged { pid, value }));
        let mut seen = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: as in `get`.
            if let Some(tagged) = unsafe { seen.as_ref() }
                && tagged.pid == pid
            {
                // SAFETY: `mine` was never published, so this is its only owner.
                drop(unsafe { Box::from_raw(mine) });
                return &tagged.value;
            }
            // `seen` is null or a parent's instance, which is left to leak.
            match self
                .current
                .compare_exchange(seen, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: just published; freed only by `drop`.
                Ok(_) => return unsafe { &(*mine).value },
                Err(now) => seen = now,
            }
        }
    }
}

impl<T> Drop for ProcessLocal<T> {
    fn drop(&mut self) {
        let ptr = *self.current.get_mut();
        // SAFETY: as in `get`; `&mut self` means no reference to it remains.
        if let Some(tagged) = unsafe { ptr.as_ref() }
            && tagged.pid == pid()
        {
            // SAFETY: this process made it with Box::into_raw and nobody else can reach it.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn one_instance_per_process_even_when_threads_race() {
        let made = Arc::new(AtomicUsize::new(0));
        let local: Arc<ProcessLocal<usize>> = Arc::new(ProcessLocal::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (local, made) = (local.clone(), made.clone());
                std::thread::spawn(move || {
                    *local.get_or_init(|| made.fetch_add(1, Ordering::SeqCst))
                })
            })
            .collect();
        let seen: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(seen.iter().all(|v| *v == seen[0]), "{seen:?}");
    }

    #[test]
    fn a_forked_child_gets_its_own_instance_and_a_held_lock_does_not_bind_it() {
        let local: &'static ProcessLocal<std::sync::Mutex<u32>> =
            Box::leak(Box::new(ProcessLocal::new()));
        let held = local
            .get_or_init(|| std::sync::Mutex::new(1))
            .lock()
            .unwrap();
        // SAFETY: the child only touches `local` and exits.
        let child = unsafe { libc::fork() };
        assert!(child >= 0);
        if child == 0 {
            let ok = *local
                .get_or_init(|| std::sync::Mutex::new(2))
                .lock()
                .unwrap()
                == 2;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        drop(held);
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(*local.get().unwrap().lock().unwrap(), 1);
    }
}
