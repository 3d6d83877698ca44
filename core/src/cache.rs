//! Single-flight, refresh-ahead cache for anything that expires: tokens and the AWS
//! credentials that sign them (docs/DESIGN.md §2, rules 1–6).
//!
//! Reads are an `ArcSwap` load. Refreshes run as tasks on passmint's runtime, never in
//! the caller's future, so a caller that gives up (timeout, dropped future) cannot cancel
//! a fetch that other callers are waiting for. Every wait also has a deadline of its own,
//! kept on the caller's side ([`crate::deadline`]): a fetch that never ends (its task never
//! polled in a forked child, a worker blocked) cannot hold a caller past it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;

use crate::deadline::{Sleep, sleep_until};
use crate::error::{Error, ErrorKind, Result};
use crate::fork::{Gated, ProcessLocal};
use crate::runtime::{on_own_thread, runtime};
use crate::sdk_log::SdkLogs;

/// A value and when it stops being usable (`None`: never, e.g. static credentials).
pub(crate) struct Lease<T> {
    pub value: T,
    pub expires_at_ms: Option<i64>,
    /// Asked for shorter than a minute (DSQL allows `expires_in=1`): such a value is served
    /// until half its life is left, as it never had 30 s to spare. Anything else must arrive
    /// with more than 30 s left: an endpoint serving an old answer again (aws-config's IMDS
    /// provider during an outage does) does not get it handed out in its last 30 s.
    pub short_lived: bool,
    /// Refresh no later than this (wall ms), for values that state no expiry of their own
    /// but may change (a secret store's password): fetched again then, and still served if
    /// that fetch fails, as nothing says it stopped working.
    pub refresh_at_ms: Option<i64>,
}

/// What a cache knows about itself (`Provider::status`): the usable value, and how its
/// refreshes are going.
pub(crate) struct Health<T> {
    /// The value callers would get now without a fetch (fresh or still usable).
    pub value: Option<T>,
    /// When a background refresh of that value is due (wall ms).
    pub refresh_at_ms: Option<i64>,
    /// Consecutive failed fetches since the last good one.
    pub failures: u32,
    /// After failures: the earliest next attempt (wall ms), while the backoff lasts.
    pub retry_at_ms: Option<i64>,
    pub last_error: Option<Error>,
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Fetch<T> = Arc<dyn Fn() -> BoxFuture<Result<Lease<T>>> + Send + Sync>;

type Millis = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The two clocks a cache reads, injectable so tests can move time without sleeping. Wall
/// time says when a value expires; the monotonic clock measures every duration (backoff,
/// a flight's age), so a clock step (NTP, a resumed VM) cannot stretch or skip them.
#[derive(Clone)]
pub(crate) struct Clock {
    wall: Millis,
    mono: Millis,
}

impl Clock {
    pub fn new(wall: Millis, mono: Millis) -> Clock {
        Clock { wall, mono }
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.wall)()
    }

    /// Milliseconds on a clock that never jumps (CLOCK_MONOTONIC).
    pub fn mono_ms(&self) -> i64 {
        (self.mono)()
    }
}

pub(crate) fn system_clock() -> Clock {
    Clock::new(
        Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        }),
        Arc::new(monotonic_ms),
    )
}

fn monotonic_ms() -> i64 {
    // Instant is CLOCK_MONOTONIC; a fixed origin makes it a number.
    static ORIGIN: crate::fork::Racy<Instant> = crate::fork::Racy::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as i64
}

pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Never hand out a value with less life than this (rule 4).
const MIN_REMAINING_MS: i64 = 30_000;
const BACKOFF_START_MS: i64 = 1_000;
const BACKOFF_CAP_MS: i64 = 30_000;
/// A caller's own deadline is this much after the fetch's: normally the fetch's deadline ends
/// it first, with its cleanup (a hung CLI killed with the fetch, the backoff recorded); the
/// caller's ends the wait only when the fetch cannot end at all.
pub(crate) const CALLER_GRACE: Duration = Duration::from_millis(250);
/// A cache whose fetch runs inside another cache's fetch (AWS credentials inside the token's)
/// ends this much sooner. Its flight is a task of its own, which the outer deadline does not
/// drop: with the same deadline, the outer fetch could give up first, and a caller exiting on
/// that TIMEOUT left a hung `credential_process` running (tests/reliability, 1 run in 10 under
/// load). Ending first, the inner deadline kills what it started before anyone sees TIMEOUT.
const NESTED_MARGIN: Duration = Duration::from_millis(500);

/// The deadline of a cache nested in a fetch whose deadline is `outer`.
pub(crate) fn nested_deadline(outer: Duration) -> Duration {
    outer.saturating_sub(NESTED_MARGIN).max(outer / 2)
}

/// A flight older than its deadline by this much never ran to its end (its task was not
/// polled, or its worker is blocked): the next caller starts another.
const ABANDON_AFTER_MS: i64 = 1_000;

struct Entry<T> {
    value: T,
    /// Background refresh starts here (rule 3).
    refresh_at_ms: Option<i64>,
    /// Callers stop receiving the value here (rule 4).
    usable_until_ms: Option<i64>,
}

impl<T> Entry<T> {
    fn new(lease: Lease<T>, now: i64) -> Self {
        let (refresh_at_ms, usable_until_ms) = match lease.expires_at_ms {
            None => (None, None),
            Some(expires) => {
                let (margin, floor) = refresh_margin(expires - now, lease.short_lived);
                (Some(expires - margin), Some(expires - floor))
            }
        };
        let refresh_at_ms = match (refresh_at_ms, lease.refresh_at_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Entry {
            value: lease.value,
            refresh_at_ms,
            usable_until_ms,
        }
    }

    fn fresh(&self, now: i64) -> bool {
        self.refresh_at_ms.is_none_or(|t| now < t)
    }

    fn usable(&self, now: i64) -> bool {
        self.usable_until_ms.is_none_or(|t| now < t)
    }
}

/// For a value with `lifetime_ms` to live: how long before its expiry it is refreshed
/// (max(5 min, 10 % of the lifetime), capped at half of it), and how long before its expiry
/// it stops being handed out (30 s; a short-lived value: at half its life, if sooner).
pub(crate) fn refresh_margin(lifetime_ms: i64, short_lived: bool) -> (i64, i64) {
    let lifetime = lifetime_ms.max(0);
    let margin = (300_000).max(lifetime / 10).min(lifetime / 2);
    let floor = if short_lived {
        MIN_REMAINING_MS.min(lifetime / 2)
    } else {
        MIN_REMAINING_MS
    };
    (margin, floor)
}

/// A fetched value as callers may receive it: one that is already inside its last 30 s
/// (rule 4) is refused as a malformed answer.
fn admit<T>(lease: Lease<T>, now: i64, what: &str) -> Result<Entry<T>> {
    let entry = Entry::new(lease, now);
    if entry.usable(now) {
        Ok(entry)
    } else {
        Err(Error::new(
            ErrorKind::ProviderResponse,
            format!(
                "the {what} received is already expired or about to expire: check this machine's clock, and the endpoint (during an outage aws-config's IMDS provider serves its last answer again)"
            ),
        ))
    }
}

/// What [`admit`] makes of a lease, for `passmint::fuzzing`.
#[cfg(feature = "fuzzing")]
pub(crate) fn admitted<T>(lease: Lease<T>, now: i64, what: &str) -> Result<T> {
    admit(lease, now, what).map(|entry| entry.value)
}

fn timeout(what: &str, deadline: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "no {what} within the {} s deadline: the identity endpoint did not answer in time",
            deadline.as_secs_f64()
        ),
    )
}

type Outcome<T> = Result<Arc<Entry<T>>>;

/// Where one fetch's outcome lands, for async and blocking waiters alike.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    done: Condvar,
}

struct SlotState<T> {
    outcome: Option<Outcome<T>>,
    wakers: Vec<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                wakers: Vec::new(),
            }),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome (the first one wins) and wakes every waiter.
    fn complete(&self, outcome: Outcome<T>) {
        let wakers = {
            let mut state = self.lock();
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        self.done.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Waits on this thread until the outcome or `until`, whichever comes first.
    fn wait_blocking(&self, until: Instant) -> Option<Outcome<T>> {
        let mut state = self.lock();
        loop {
            if let Some(o) = &state.outcome {
                return Some(o.clone());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .done
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// An async wait for a [`Slot`], ended by the caller's own deadline if the outcome is late.
struct Wait<T> {
    slot: Arc<Slot<T>>,
    waker_at: Option<usize>,
    deadline: Sleep,
}

impl<T> Future for Wait<T> {
    type Output = Option<Outcome<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        {
            let mut state = this.slot.lock();
            if let Some(o) = &state.outcome {
                return Poll::Ready(Some(o.clone()));
            }
            match this.waker_at {
                Some(i) if i < state.wakers.len() => {
                    if !state.wakers[i].will_wake(cx.waker()) {
                        state.wakers[i] = cx.waker().clone();
                    }
                }
                _ => {
                    this.waker_at = Some(state.wakers.len());
                    state.wakers.push(cx.waker().clone());
                }
            }
        }
        match Pin::new(&mut this.deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

struct Flight<T> {
    started_mono_ms: i64,
    slot: Arc<Slot<T>>,
}

struct State<T> {
    flight_id: u64,
    /// Bumped by [`Cache::invalidate`]: a flight started before it may carry the value just
    /// invalidated, so its answer reaches its own waiters but is not kept.
    generation: u64,
    flight: Option<Flight<T>>,
    failures: u32,
    /// On the monotonic clock (rule 4's backoff).
    next_attempt_mono_ms: i64,
    last_error: Option<Error>,
}

struct Inner<T> {
    current: ArcSwapOption<Entry<T>>,
    /// One per process: a forked child never waits for its parent's flight or lock.
    state: ProcessLocal<Mutex<State<T>>>,
    fetch: Fetch<T>,
    clock: Clock,
    deadline: Duration,
    what: &'static str,
}

pub(crate) struct Cache<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

enum Joined<T> {
    Ready(T),
    Wait(Arc<Slot<T>>),
}

impl<T: Clone + Send + Sync + 'static> Cache<T> {
    /// `what` names the cached thing in timeout messages ("AWS credentials", "token").
    pub fn new(what: &'static str, fetch: Fetch<T>, clock: Clock, deadline: Duration) -> Self {
        Cache {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                state: ProcessLocal::new(),
                fetch,
                clock,
                deadline,
                what,
            }),
        }
    }

    /// The cached value when it is fresh; otherwise one shared refresh.
    pub async fn get(&self) -> Result<T> {
        match self.served() {
            Some(value) => Ok(value),
            // The deadline is read only on a miss: a hit costs no clock read beyond expiry's.
            None => self.wait(self.caller_deadline()).await,
        }
    }

    /// [`Cache::get`] that gives up at `until`.
    pub async fn get_by(&self, until: Instant) -> Result<T> {
        match self.served() {
            Some(value) => Ok(value),
            None => self.wait(until).await,
        }
    }

    async fn wait(&self, until: Instant) -> Result<T> {
        let slot = match self.join()? {
            Joined::Ready(value) => return Ok(value),
            Joined::Wait(slot) => slot,
        };
        let outcome = Wait {
            slot,
            waker_at: None,
            deadline: sleep_until(until),
        }
        .await;
        self.settle(outcome)
    }

    /// [`Cache::get`] for a thread that can block: waits on this thread, never past the
    /// deadline. On one of passmint's runtime workers the worker's queue is handed to
    /// another thread first, so the fetch this waits for is not stuck behind the wait.
    pub fn get_blocking(&self) -> Result<T> {
        if let Some(value) = self.served() {
            return Ok(value);
        }
        let until = self.caller_deadline();
        let slot = match self.join()? {
            Joined::Ready(value) => return Ok(value),
            Joined::Wait(slot) => slot,
        };
        let outcome = if on_own_thread() {
            tokio::task::block_in_place(|| slot.wait_blocking(until))
        } else {
            slot.wait_blocking(until)
        };
        self.settle(outcome)
    }

    /// When a caller arriving now stops waiting.
    pub fn caller_deadline(&self) -> Instant {
        Instant::now() + self.inner.deadline + CALLER_GRACE
    }

    /// A fresh value, or a usable one while a background refresh starts (rule 4).
    fn served(&self) -> Option<T> {
        let now = self.inner.clock.now_ms();
        let entry = self.inner.current.load();
        let entry = entry.as_ref()?;
        if entry.fresh(now) {
            return Some(entry.value.clone());
        }
        if entry.usable(now) {
            // Serve-while-valid: the caller never waits for a refresh it does not need.
            self.refresh_in_background();
            return Some(entry.value.clone());
        }
        None
    }

    fn settle(&self, outcome: Option<Outcome<T>>) -> Result<T> {
        match outcome {
            Some(Ok(entry)) => Ok(entry.value.clone()),
            Some(Err(e)) => Err(e),
            None => Err(timeout(self.inner.what, self.inner.deadline)),
        }
    }

    /// The cache's health, without fetching or waiting (its state lock is held briefly).
    pub fn health(&self) -> Health<T> {
        let (now, mono) = (self.inner.clock.now_ms(), self.inner.clock.mono_ms());
        let entry = self.inner.current.load();
        let (value, refresh_at_ms) = match &*entry {
            Some(e) if e.usable(now) => (Some(e.value.clone()), e.refresh_at_ms),
            _ => (None, None),
        };
        let state = self.lock();
        let retry_at_ms = (state.failures > 0 && state.next_attempt_mono_ms > mono)
            .then(|| now + (state.next_attempt_mono_ms - mono));
        Health {
            value,
            refresh_at_ms,
            failures: state.failures,
            retry_at_ms,
            last_error: state.last_error.clone(),
        }
    }

    /// The cached value if it can be handed out now, without touching the network.
    pub fn peek(&self) -> Option<T> {
        let now = self.inner.clock.now_ms();
        let entry = self.inner.current.load();
        match &*entry {
            Some(e) if e.fresh(now) => Some(e.value.clone()),
            _ => None,
        }
    }

    /// Drops the cached value (a rotated secret the server refused) and any flight under
    /// way: the next caller fetches, at once, whatever the backoff of earlier failures said.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        self.forget(&mut state);
    }

    /// [`Cache::invalidate`] only when the cached value is `stale`: many callers refused
    /// with the same old value make one new fetch between them, not one each (the first
    /// drops it; the others find it gone or replaced). Whether it invalidated.
    pub fn invalidate_if(&self, stale: impl Fn(&T) -> bool) -> bool {
        // Under the state lock, which a flight's end also holds to store its value.
        let mut state = self.lock();
        let current = self.inner.current.load();
        if !current.as_ref().is_some_and(|entry| stale(&entry.value)) {
            return false;
        }
        self.forget(&mut state);
        true
    }

    fn forget(&self, state: &mut State<T>) {
        state.generation += 1;
        state.flight = None;
        state.failures = 0;
        state.next_attempt_mono_ms = 0;
        state.last_error = None;
        self.inner.current.store(None);
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.inner
            .state
            .get_or_init(|| {
                Mutex::new(State {
                    flight_id: 0,
                    generation: 0,
                    flight: None,
                    failures: 0,
                    next_attempt_mono_ms: 0,
                    last_error: None,
                })
            })
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The flight in progress, unless it has outlived its deadline (then it is dropped: its
    /// task is not running, and waiting for it again would only time out again).
    fn live_flight<'a>(&self, state: &'a mut State<T>) -> Option<&'a Flight<T>> {
        let limit = self.inner.deadline.as_millis() as i64 + ABANDON_AFTER_MS;
        if state
            .flight
            .as_ref()
            .is_some_and(|f| self.inner.clock.mono_ms() - f.started_mono_ms > limit)
        {
            state.flight = None;
        }
        state.flight.as_ref()
    }

    fn refresh_in_background(&self) {
        let mut state = self.lock();
        if self.live_flight(&mut state).is_some()
            || self.inner.clock.mono_ms() < state.next_attempt_mono_ms
        {
            return;
        }
        // A runtime that cannot start fails the callers that need a value; this one has one.
        let _ = self.start_flight(&mut state);
    }

    fn join(&self) -> Result<Joined<T>> {
        let mut state = self.lock();
        // Another caller may have finished a refresh while we were getting here.
        let now = self.inner.clock.now_ms();
        if let Some(entry) = &*self.inner.current.load()
            && entry.usable(now)
        {
            return Ok(Joined::Ready(entry.value.clone()));
        }
        if let Some(flight) = self.live_flight(&mut state) {
            return Ok(Joined::Wait(flight.slot.clone()));
        }
        if let Some(err) = &state.last_error
            && self.inner.clock.mono_ms() < state.next_attempt_mono_ms
        {
            return Err(err.clone());
        }
        self.start_flight(&mut state).map(Joined::Wait)
    }

    fn start_flight(&self, state: &mut State<T>) -> Result<Arc<Slot<T>>> {
        let rt = runtime()?;
        let slot = Arc::new(Slot::new());
        state.flight_id += 1;
        state.flight = Some(Flight {
            started_mono_ms: self.inner.clock.mono_ms(),
            slot: slot.clone(),
        });
        let guard = FlightGuard {
            cache: self.clone(),
            id: state.flight_id,
            generation: state.generation,
            slot: slot.clone(),
        };
        let inner = self.inner.clone();
        rt.spawn(async move {
            let started = Instant::now();
            tracing::debug!(what = inner.what, "passmint: fetching");
            // Gated: no fork lands inside one of the fetch's polls (crate::fork), the log
            // guard's included: swapping tracing's dispatcher can take its process-wide locks.
            // The SDKs it runs log through that guard, which keeps their secrets out of the
            // application's logs.
            let fetch = Gated::new(SdkLogs(Box::pin(CatchPanic::Start(
                inner.fetch.clone(),
                inner.what,
            ))));
            let fetched = match tokio::time::timeout(inner.deadline, fetch).await {
                Ok(r) => r,
                Err(_) => Err(timeout(inner.what, inner.deadline)),
            };
            let now = inner.clock.now_ms();
            let result = fetched.and_then(|lease| admit(lease, now, inner.what).map(Arc::new));
            tracing::trace!(
                what = inner.what,
                took_ms = started.elapsed().as_millis() as u64,
                "passmint: fetch done"
            );
            guard.finish(result);
        });
        Ok(slot)
    }
}

/// A fetch whose panic (an SDK's, on an answer it did not expect: found by
/// core/tests/fuzz_sdk.rs) is an error like any failed fetch. Unwinding out of the task
/// instead would end the flight without a result and without a backoff, so every caller
/// would start another fetch that panics again. Starting the fetch is inside too.
enum CatchPanic<T> {
    Start(Fetch<T>, &'static str),
    Running(BoxFuture<Result<Lease<T>>>, &'static str),
    Done,
}

impl<T> Future for CatchPanic<T> {
    type Output = Result<Lease<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let what = match this {
            CatchPanic::Start(_, what) | CatchPanic::Running(_, what) => *what,
            CatchPanic::Done => return Poll::Pending,
        };
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let CatchPanic::Start(fetch, _) = this {
                *this = CatchPanic::Running(fetch(), what);
            }
            match this {
                CatchPanic::Running(fut, _) => fut.as_mut().poll(cx),
                _ => Poll::Pending,
            }
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(ready) => {
                *this = CatchPanic::Done;
                ready
            }
            Err(payload) => {
                *this = CatchPanic::Done;
                let said = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Poll::Ready(Err(Error::new(
                    ErrorKind::Panic,
                    format!(
                        "fetching the {what} panicked ({}), most likely on an answer the identity SDK did not expect; retrying with backoff",
                        crate::redact::scrub(&said, &[], 200)
                    ),
                )))
            }
        }
    }
}

/// Ends a flight: records its outcome and wakes its waiters, even if its task is dropped
/// unfinished (the runtime shutting down), so nobody waits for a flight that is gone.
struct FlightGuard<T: Clone + Send + Sync + 'static> {
    cache: Cache<T>,
    id: u64,
    generation: u64,
    slot: Arc<Slot<T>>,
}

impl<T: Clone + Send + Sync + 'static> FlightGuard<T> {
    fn finish(self, result: Outcome<T>) {
        let inner = &self.cache.inner;
        {
            let mut state = self.cache.lock();
            let current = state.flight_id == self.id;
            // Cleared before the result is sent: a caller arriving after this must start a
            // new flight (or honour the backoff), not read a finished one.
            if current {
                state.flight = None;
            }
            match &result {
                Ok(entry) => {
                    // Times and kinds only: never the value.
                    tracing::debug!(
                        what = inner.what,
                        refresh_in_s = entry
                            .refresh_at_ms
                            .map(|t| (t - inner.clock.now_ms()) / 1000),
                        "passmint: fetched"
                    );
                    // Even an abandoned flight's good answer is a good answer, unless the
                    // value was invalidated after the flight began.
                    if state.generation == self.generation {
                        inner.current.store(Some(entry.clone()));
                    }
                    if current {
                        state.failures = 0;
                        state.next_attempt_mono_ms = 0;
                        state.last_error = None;
                    }
                }
                Err(e) if current => {
                    state.failures = state.failures.saturating_add(1);
                    let exp = state.failures.saturating_sub(1).min(5);
                    let delay = (BACKOFF_START_MS << exp).min(BACKOFF_CAP_MS);
                    // Jitter in [delay/2, delay): many processes that lost the same endpoint
                    // do not come back in lockstep.
                    let jittered = delay / 2 + fastrand::i64(0..=delay / 2);
                    state.next_attempt_mono_ms = inner.clock.mono_ms() + jittered;
                    state.last_error = Some(e.clone());
                    // A refresh failing while the cached value still serves is the moment an
                    // operator can act before callers see errors: it says how long is left.
                    let now = inner.clock.now_ms();
                    let serving_for_s = inner
                        .current
                        .load()
                        .as_ref()
                        .filter(|entry| entry.usable(now))
                        .map(|entry| entry.usable_until_ms.map(|t| (t - now) / 1000));
                    // Messages are built to be secret-free (error.rs), so they can be logged.
                    match serving_for_s {
                        Some(left) => tracing::warn!(
                            what = inner.what,
                            kind = e.kind().code(),
                            failures = state.failures,
                            retry_in_ms = jittered,
                            still_served_for_s = left,
                            error = e.message(),
                            "passmint: refresh failed; the cached value is still served"
                        ),
                        None => tracing::warn!(
                            what = inner.what,
                            kind = e.kind().code(),
                            failures = state.failures,
                            retry_in_ms = jittered,
                            error = e.message(),
                            "passmint: fetch failed"
                        ),
                    }
                }
                Err(_) => {}
            }
        }
        self.slot.complete(result);
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for FlightGuard<T> {
    fn drop(&mut self) {
        // After `finish` this is a no-op (the slot keeps its first outcome).
        {
            let mut state = self.cache.lock();
            if state.flight_id == self.id && state.flight.is_some() {
                state.flight = None;
            }
        }
        self.slot.complete(Err(Error::new(
            ErrorKind::Internal,
            format!(
                "the {} refresh ended without a result (passmint's runtime stopped)",
                self.cache.inner.what
            ),
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    /// A clock tests move by hand, starting at a fixed instant. Moving `now` moves both
    /// clocks, as time passing does; [`stepped_clock`] moves them apart.
    fn manual_clock() -> (Clock, Arc<AtomicI64>) {
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let (n, m) = (now.clone(), now.clone());
        (
            Clock::new(
                Arc::new(move || n.load(Ordering::SeqCst)),
                Arc::new(move || m.load(Ordering::SeqCst)),
            ),
            now,
        )
    }

    /// Wall time set by hand (`wall`), monotonic time real: a clock a test can step.
    fn stepped_clock() -> (Clock, Arc<AtomicI64>) {
        let wall = Arc::new(AtomicI64::new(1_700_000_000_000));
        let w = wall.clone();
        (
            Clock::new(
                Arc::new(move || w.load(Ordering::SeqCst)),
                Arc::new(monotonic_ms),
            ),
            wall,
        )
    }

    /// A fake endpoint: counts calls, answers after `delay`, fails while `failing` is set.
    struct Endpoint {
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
        delay_ms: AtomicI64,
        lifetime_ms: i64,
        now: Arc<AtomicI64>,
    }

    fn cache_with(ep: &Arc<Endpoint>, clock: Clock, deadline: Duration) -> Cache<String> {
        let ep = ep.clone();
        let fetch: Fetch<String> = Arc::new(move || {
            let ep = ep.clone();
            Box::pin(async move {
                let n = ep.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let delay = ep.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay as u64)).await;
                }
                if ep.failing.load(Ordering::SeqCst) {
                    return Err(Error::new(ErrorKind::Network, "endpoint down"));
                }
                Ok(Lease {
                    value: format!("token-{n}"),
                    expires_at_ms: Some(ep.now.load(Ordering::SeqCst) + ep.lifetime_ms),
                    short_lived: false,
                    refresh_at_ms: None,
                })
            })
        });
        Cache::new("token", fetch, clock, deadline)
    }

    /// Waits until no refresh is in flight, so the next step sees its outcome.
    async fn settle<T: Clone + Send + Sync + 'static>(cache: &Cache<T>) {
        for _ in 0..5000 {
            if cache.lock().flight.is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("a refresh stayed in flight for 5 s");
    }

    fn endpoint(now: &Arc<AtomicI64>, lifetime_ms: i64) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            calls: AtomicUsize::new(0),
            failing: false.into(),
            delay_ms: AtomicI64::new(0),
            lifetime_ms,
            now: now.clone(),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thousand_cold_callers_cause_one_fetch() {
        let (clock, now) = manual_clock();
        let ep = endpoint(&now, 900_000);
        ep.delay_ms.store(100, Ordering::SeqCst);
        let cache = cache_with(&ep, clock, DEFAULT_DEADLINE);
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.get().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn refreshes_ahead_without_making_callers_wait() {
        let (clock, now) = manual_clock();
        let ep = endpoint(&now, 900_000);
        let cache = cache_with(&ep, clock, DEFAULT_DEADLINE);
        assert_eq!(cache.get().await.unwrap(), "token-1");
        // 900 s token: refresh starts 300 s before expiry.
        now.fetch_add(599_000, Ordering::SeqCst);
        assert_eq!(cache.get().await.unwrap(), "token-1");
        assert_eq!(ep.calls.load(Ordering::SeqCst), 1, "still fresh: no fetch");

        now.fetch_add(2_000, Ordering::SeqCst);
        ep.delay_ms.store(300, Ordering::SeqCst);
        let started = std::time::Instant::now();
        assert_eq!(
            cache.get().await.unwrap(),
            "token-1",
            "stale but valid is served"
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "caller did not wait"
        );
        // The background refresh lands on its own; poll rather than guess how long it takes.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while cache.get().await.unwrap() != "token-2" {
            assert!(std::time::Instant::now() < deadline, "refresh never landed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ep.calls.load(Ordering::SeqCst), 2, "one background refresh");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn serves_valid_token_while_endpoint_fails_then_typed_error() {
        let (clock, now) = manual_clock();
        let ep = endpoint(&now, 900_000);
        let cache = cache_with(&ep, clock, DEFAULT_DEADLINE);
        cache.get().await.unwrap();
        ep.failing.store(true, Ordering::SeqCst);
        // Walk through the refresh window one second at a time, up to 30 s before expiry.
        for t in 601..870 {
            now.store(1_700_000_000_000 + t * 1000, Ordering::SeqCst);
            assert_eq!(cache.get().await.unwrap(), "token-1", "at t={t}s");
            settle(&cache).await;
        }
        let calls_during_outage = ep.calls.load(Ordering::SeqCst) - 1;
        // Health shows the outage while the token is still served.
        let health = cache.health();
        assert_eq!(health.value.as_deref(), Some("token-1"));
        assert!(health.failures >= 8, "{}", health.failures);
        assert_eq!(
            health.last_error.map(|e| e.kind()),
            Some(ErrorKind::Network)
        );
        now.store(1_700_000_000_000 + 871_000, Ordering::SeqCst);
        // Wait out any backoff so the next caller really asks the endpoint.
        now.fetch_add(31_000, Ordering::SeqCst);
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Network);
        let health = cache.health();
        assert!(health.value.is_none() && health.retry_at_ms.is_some());
        // A good fetch clears the failures.
        ep.failing.store(false, Ordering::SeqCst);
        now.fetch_add(31_000, Ordering::SeqCst);
        cache.get().await.unwrap();
        let health = cache.health();
        assert_eq!((health.failures, health.last_error.is_none()), (0, true));
        assert!(health.refresh_at_ms.is_some() && health.retry_at_ms.is_none());
        // Backoff: retries continue, but at the jittered 1 s → 30 s rate, not once a second.
        assert!(
            (8..=30).contains(&calls_during_outage),
            "{calls_during_outage} refresh attempts in 270 s"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failed_cold_fetch_backs_off_instead_of_retrying_at_once() {
        let (clock, now) = manual_clock();
        let ep = endpoint(&now, 900_000);
        ep.failing.store(true, Ordering::SeqCst);
        let cache = cache_with(&ep, clock, DEFAULT_DEADLINE);
        for _ in 0..50 {
            assert_eq!(cache.get().await.unwrap_err().kind(), ErrorKind::Network);
        }
        assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
        now.fetch_add(1_001, Ordering::SeqCst);
        ep.failing.store(false, Ordering::SeqCst);
        assert_eq!(
            cache.get().await.unwrap(),
            "token-2",
            "retried after the backoff"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hung_endpoint_times_out_within_the_deadline() {
        let (clock, now) = manual_clock();
        let ep = endpoint(&now, 900_000);
        ep.delay_ms.store(60_000, Ordering::SeqCst);
        let cache = cache_with(&ep, clock, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(1500),
            "{took:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn never_hands_out_a_token_with_under_30_s_left() {
        let (clock, now) = manual_clock();
        // An answer with 25 s left is refused...
        let ep = endpoint(&now, 25_000);
        let cache = cache_with(&ep, clock.clone(), DEFAULT_DEADLINE);
        assert_eq!(
            cache.get().await.unwrap_err().kind(),
            ErrorKind::ProviderResponse
        );
        // ...unless it was asked for that short (DSQL expires_in=25): half its life is the floor.
        let calls = Arc::new(AtomicUsize::new(0));
        let (n, at) = (calls.clone(), now.clone());
        let fetch: Fetch<String> = Arc::new(move || {
            let k = n.fetch_add(1, Ordering::SeqCst) + 1;
            let expires = at.load(Ordering::SeqCst) + 25_000;
            Box::pin(async move {
                Ok(Lease {
                    value: format!("token-{k}"),
                    expires_at_ms: Some(expires),
                    short_lived: true,
                    refresh_at_ms: None,
                })
            })
        });
        let cache = Cache::new("token", fetch, clock.clone(), DEFAULT_DEADLINE);
        assert_eq!(cache.get().await.unwrap(), "token-1");
        now.fetch_add(13_000, Ordering::SeqCst);
        assert_eq!(
            cache.get().await.unwrap(),
            "token-2",
            "past half-life: fetched anew"
        );

        let expired = endpoint(&now, 0);
        let cache = cache_with(&expired, clock, DEFAULT_DEADLINE);
        assert_eq!(
            cache.get().await.unwrap_err().kind(),
            ErrorKind::ProviderResponse
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicking_fetch_is_an_error_with_backoff() {
        let (clock, _now) = manual_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let fetch: Fetch<String> = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::task::yield_now().await;
                panic!("resulting value is out of range")
            })
        });
        let cache = Cache::new("token", fetch, clock, DEFAULT_DEADLINE);
        let e = cache.get().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Panic);
        assert!(e.message().contains("out of range"), "{}", e.message());
        settle(&cache).await;
        // The failure holds until the backoff ends: no second fetch, the same error.
        assert_eq!(cache.get().await.unwrap_err().kind(), ErrorKind::Panic);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Review finding 3: the backoff was wall time plus jitter, so a clock stepped back an
    /// hour after a failure replayed the cached error for an hour, endpoint or no endpoint.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_clock_stepped_back_does_not_stretch_the_backoff() {
        let (clock, wall) = stepped_clock();
        let ep = endpoint(&wall, 900_000);
        ep.failing.store(true, Ordering::SeqCst);
        let cache = cache_with(&ep, clock, DEFAULT_DEADLINE);
        assert_eq!(cache.get().await.unwrap_err().kind(), ErrorKind::Network);
        settle(&cache).await;
        wall.fetch_sub(3_600_000, Ordering::SeqCst);
        ep.failing.store(false, Ordering::SeqCst);
        // The first backoff is under 1 s of real time; give it 3.
        let started = std::time::Instant::now();
        loop {
            match cache.get().await {
                Ok(token) => {
                    assert_eq!(token, "token-2");
                    break;
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::Network, "{e:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "still backing off after the step"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // And a step forward does not cut a backoff short either: it is not time passing.
        ep.failing.store(true, Ordering::SeqCst);
        wall.fetch_add(900_000, Ordering::SeqCst);
        assert_eq!(cache.get().await.unwrap_err().kind(), ErrorKind::Network);
        settle(&cache).await;
        let calls = ep.calls.load(Ordering::SeqCst);
        wall.fetch_add(3_600_000, Ordering::SeqCst);
        assert_eq!(cache.get().await.unwrap_err().kind(), ErrorKind::Network);
        assert_eq!(
            ep.calls.load(Ordering::SeqCst),
            calls,
            "backoff held across the step"
        );
    }

    /// A fetch whose task never gets to its own timeout (here it blocks its worker, as a
    /// lock held by a thread that vanished in a fork would) still cannot hold a caller past
    /// the deadline, async or blocking, and a later caller starts a new fetch.
    #[test]
    fn callers_keep_their_own_deadline_when_the_fetch_never_ends() {
        let (clock, now) = manual_clock();
        let calls = Arc::new(AtomicUsize::new(0));
        let (c, at) = (calls.clone(), now.clone());
        let fetch: Fetch<String> = Arc::new(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let expires = at.load(Ordering::SeqCst) + 900_000;
            Box::pin(async move {
                if n == 0 {
                    // Blocks the worker thread itself: tokio's timer cannot end this poll.
                    std::thread::sleep(Duration::from_millis(2_500));
                }
                Ok(Lease {
                    value: format!("token-{n}"),
                    expires_at_ms: Some(expires),
                    short_lived: false,
                    refresh_at_ms: None,
                })
            })
        });
        let cache = Cache::new("token", fetch, clock, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let err = cache.get_blocking().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "{:?}",
            started.elapsed()
        );

        let started = std::time::Instant::now();
        let async_caller = cache.clone();
        // An async caller on a runtime of its own (not passmint's).
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(async_caller.get()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "{:?}",
            started.elapsed()
        );

        // Past deadline + grace, the stuck flight is abandoned and a new one answers.
        now.fetch_add(1_400, Ordering::SeqCst);
        assert_eq!(cache.get_blocking().unwrap(), "token-1");
    }

    #[test]
    fn refresh_margin_follows_the_rule() {
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(3_600_000),
                short_lived: false,
                refresh_at_ms: None,
            },
            0,
        );
        assert_eq!(
            e.refresh_at_ms,
            Some(3_600_000 - 360_000),
            "10 % of an hour"
        );
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(900_000),
                short_lived: false,
                refresh_at_ms: None,
            },
            0,
        );
        assert_eq!(e.refresh_at_ms, Some(600_000), "5 min floor");
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(120_000),
                short_lived: false,
                refresh_at_ms: None,
            },
            0,
        );
        assert_eq!(e.refresh_at_ms, Some(60_000), "capped at half the lifetime");
        assert_eq!(e.usable_until_ms, Some(90_000));
        // Served again with 40 s left: never handed out in its last 30 s...
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(40_000),
                short_lived: false,
                refresh_at_ms: None,
            },
            0,
        );
        assert_eq!(e.usable_until_ms, Some(10_000));
        // ...unless it was asked for that short.
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(40_000),
                short_lived: true,
                refresh_at_ms: None,
            },
            0,
        );
        assert_eq!(e.usable_until_ms, Some(20_000));
    }
}
