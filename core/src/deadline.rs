//! Deadlines kept on the caller's side (docs/DESIGN.md §2 rule 5). A fetch enforces its own deadline
//! on passmint's runtime, but a caller must not rely on that runtime to end its wait: in a
//! forked child, or with every worker blocked, nothing there may ever run. Async waits and
//! callbacks are therefore timed by a thread of passmint's own that does nothing else,
//! one per process.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::fork::ProcessLocal;

enum Action {
    Wake(Waker),
    /// Run on a thread of its own: it may be a caller's callback, which may block.
    Run(Box<dyn FnOnce() + Send>),
}

#[derive(Default)]
struct Queue {
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    actions: HashMap<u64, Action>,
    next_id: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Set by the one thread that starts this process's timer thread.
    started: AtomicBool,
}

static TIMER: ProcessLocal<Timer> = ProcessLocal::new();

/// Starts this process's timer thread now rather than on the first wait, so passmint's threads
/// are all there from the start (the runtime's, and this one).
pub(crate) fn start() {
    timer();
}

fn timer() -> &'static Timer {
    let timer = TIMER.get_or_init(|| Timer {
        queue: Mutex::new(Queue::default()),
        changed: Condvar::new(),
        started: AtomicBool::new(false),
    });
    if !timer.started.load(Ordering::Acquire) && !timer.started.swap(true, Ordering::AcqRel) {
        let spawned = std::thread::Builder::new()
            .name("passmint-timer".into())
            .spawn(move || timer.run());
        if let Err(e) = spawned {
            // Waits then end only by their own means (blocking waits have their own timeout).
            tracing::warn!(error = %e, "passmint: cannot start the deadline thread");
        }
    }
    timer
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&'static self) {
        let mut queue = self.lock();
        loop {
            let now = Instant::now();
            let mut fired = Vec::new();
            while let Some(Reverse((when, id))) = queue.due.peek().copied() {
                if when > now {
                    break;
                }
                queue.due.pop();
                if let Some(action) = queue.actions.remove(&id) {
                    fired.push(action);
                }
            }
            if !fired.is_empty() {
                drop(queue);
                for action in fired {
                    match action {
                        Action::Wake(w) => w.wake(),
                        Action::Run(f) => run_apart(f),
                    }
                }
                queue = self.lock();
                continue;
            }
            queue = match queue.due.peek() {
                Some(Reverse((when, _))) => {
                    let wait = when.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(queue).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    fn add(&self, when: Instant, action: Action) -> u64 {
        let mut queue = self.lock();
        let id = queue.next_id;
        queue.next_id += 1;
        let earliest = queue.due.peek().is_none_or(|Reverse((w, _))| when < *w);
        queue.due.push(Reverse((when, id)));
        queue.actions.insert(id, action);
        drop(queue);
        if earliest {
            self.changed.notify_all();
        }
        id
    }

    fn replace_waker(&self, id: u64, waker: &Waker) -> bool {
        let mut queue = self.lock();
        match queue.actions.get_mut(&id) {
            Some(Action::Wake(w)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    fn cancel(&self, id: u64) {
        self.lock().actions.remove(&id);
    }
}

fn run_apart(f: Box<dyn FnOnce() + Send>) {
    // Handing `f` over inside a slot lets it run here if no thread can be started.
    let slot = std::sync::Arc::new(Mutex::new(Some(f)));
    let theirs = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("passmint-deadline".into())
        .spawn(move || {
            if let Some(f) = theirs.lock().unwrap_or_else(|e| e.into_inner()).take() {
                f()
            }
        });
    if spawned.is_err()
        && let Some(f) = slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    {
        f()
    }
}

/// Runs `f` on a thread of its own at `when`, unless the returned guard is dropped first.
pub(crate) fn at(when: Instant, f: impl FnOnce() + Send + 'static) -> Cancel {
    let timer = timer();
    Cancel {
        id: timer.add(when, Action::Run(Box::new(f))),
        timer,
    }
}

/// Cancels a pending [`at`] when dropped.
pub(crate) struct Cancel {
    timer: &'static Timer,
    id: u64,
}

impl Drop for Cancel {
    fn drop(&mut self) {
        self.timer.cancel(self.id);
    }
}

/// A future that is ready at `when`, whatever runtime (if any) polls it.
pub(crate) struct Sleep {
    when: Instant,
    registered: Option<(&'static Timer, u64)>,
}

pub(crate) fn sleep_until(when: Instant) -> Sleep {
    Sleep {
        when,
        registered: None,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.when {
            return Poll::Ready(());
        }
        match self.registered {
            Some((timer, id)) if timer.replace_waker(id, cx.waker()) => {}
            // Fired between the check above and here: it woke the old waker; poll again.
            Some(_) => cx.waker().wake_by_ref(),
            None => {
                let timer = timer();
                let id = timer.add(self.when, Action::Wake(cx.waker().clone()));
                self.registered = Some((timer, id));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((timer, id)) = self.registered {
            timer.cancel(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn sleeps_without_any_runtime() {
        let started = Instant::now();
        let waker = Arc::new(ThreadWaker(std::thread::current()));
        let waker = Waker::from(waker);
        let mut cx = Context::from_waker(&waker);
        let mut sleep = Box::pin(sleep_until(started + Duration::from_millis(50)));
        while sleep.as_mut().poll(&mut cx).is_pending() {
            std::thread::park_timeout(Duration::from_secs(2));
            assert!(started.elapsed() < Duration::from_secs(2), "never woken");
        }
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_cancelled_action_never_runs() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let guard = at(Instant::now() + Duration::from_millis(30), move || {
            r.store(true, Ordering::SeqCst)
        });
        drop(guard);
        let (tx, rx) = std::sync::mpsc::channel();
        let _kept = at(Instant::now() + Duration::from_millis(60), move || {
            tx.send(()).unwrap()
        });
        rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    struct ThreadWaker(std::thread::Thread);

    impl std::task::Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
}
