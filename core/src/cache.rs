//! Single-flight, refresh-ahead cache for anything that expires: tokens and the AWS
//! credentials that sign them (DESIGN §2, rules 1–5).
//!
//! Reads are an `ArcSwap` load. Refreshes run as tasks on passmint's runtime, never in
//! the caller's future, so a caller that gives up (timeout, dropped future) cannot cancel
//! a fetch that other callers are waiting for, and the deadline is enforced in one place.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::runtime;

/// A value and when it stops being usable (`None`: never, e.g. static credentials).
pub(crate) struct Lease<T> {
    pub value: T,
    pub expires_at_ms: Option<i64>,
    /// Asked for shorter than a minute (DSQL allows `expires_in=1`): such a value is served
    /// until half its life is left, as it never had 30 s to spare. Anything else must arrive
    /// with more than 30 s left: an endpoint serving an old answer again (aws-config's IMDS
    /// provider during an outage does) does not get it handed out in its last 30 s.
    pub short_lived: bool,
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Fetch<T> = Arc<dyn Fn() -> BoxFuture<Result<Lease<T>>> + Send + Sync>;
/// Unix time in milliseconds; injectable so tests can move time without sleeping.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Never hand out a value with less life than this (rule 4).
const MIN_REMAINING_MS: i64 = 30_000;
const BACKOFF_START_MS: i64 = 1_000;
const BACKOFF_CAP_MS: i64 = 30_000;

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
                let lifetime = (expires - now).max(0);
                // max(5 min, 10 % of lifetime), capped at half the lifetime.
                let margin = (300_000).max(lifetime / 10).min(lifetime / 2);
                let floor = if lease.short_lived {
                    MIN_REMAINING_MS.min(lifetime / 2)
                } else {
                    MIN_REMAINING_MS
                };
                (Some(expires - margin), Some(expires - floor))
            }
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
pub(crate) fn admitted<T>(lease: Lease<T>, now: i64, what: &str) -> Result<T> {
    admit(lease, now, what).map(|entry| entry.value)
}

type Outcome<T> = Option<Result<Arc<Entry<T>>>>;

struct State<T> {
    /// The process that owns `inflight`; a forked child must not wait for a parent's task.
    pid: u32,
    flight_id: u64,
    inflight: Option<watch::Receiver<Outcome<T>>>,
    failures: u32,
    next_attempt_ms: i64,
    last_error: Option<Error>,
}

struct Inner<T> {
    current: ArcSwapOption<Entry<T>>,
    state: Mutex<State<T>>,
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

enum Next<T> {
    Wait(watch::Receiver<Outcome<T>>),
    Fail(Error),
}

impl<T: Clone + Send + Sync + 'static> Cache<T> {
    /// `what` names the cached thing in timeout messages ("AWS credentials", "token").
    pub fn new(what: &'static str, fetch: Fetch<T>, clock: Clock, deadline: Duration) -> Self {
        Cache {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                state: Mutex::new(State {
                    pid: std::process::id(),
                    flight_id: 0,
                    inflight: None,
                    failures: 0,
                    next_attempt_ms: 0,
                    last_error: None,
                }),
                fetch,
                clock,
                deadline,
                what,
            }),
        }
    }

    /// The cached value when it is fresh; otherwise one shared refresh.
    pub async fn get(&self) -> Result<T> {
        let now = (self.inner.clock)();
        if let Some(entry) = &*self.inner.current.load() {
            if entry.fresh(now) {
                return Ok(entry.value.clone());
            }
            if entry.usable(now) {
                // Serve-while-valid: the caller never waits for a refresh it does not need.
                self.refresh_in_background(now);
                return Ok(entry.value.clone());
            }
        }
        self.refresh_and_wait().await
    }

    /// The cached value if it can be handed out now, without touching the network.
    pub fn peek(&self) -> Option<T> {
        let now = (self.inner.clock)();
        let entry = self.inner.current.load();
        match &*entry {
            Some(e) if e.fresh(now) => Some(e.value.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pid = std::process::id();
        if state.pid != pid {
            // Forked: the parent's refresh task does not exist here.
            state.pid = pid;
            state.inflight = None;
        }
        state
    }

    fn refresh_in_background(&self, now: i64) {
        let mut state = self.lock();
        if state.inflight.is_some() || now < state.next_attempt_ms {
            return;
        }
        if let Err(e) = self.start_flight(&mut state) {
            tracing::warn!(error = %e, "passmint: background refresh could not start");
        }
    }

    async fn refresh_and_wait(&self) -> Result<T> {
        let next = {
            let mut state = self.lock();
            // Another caller may have finished a refresh while we were getting here.
            let now = (self.inner.clock)();
            if let Some(entry) = &*self.inner.current.load()
                && entry.usable(now)
            {
                return Ok(entry.value.clone());
            }
            match (&state.inflight, &state.last_error) {
                (Some(rx), _) => Next::Wait(rx.clone()),
                (None, Some(err)) if now < state.next_attempt_ms => Next::Fail(err.clone()),
                (None, _) => match self.start_flight(&mut state) {
                    Ok(rx) => Next::Wait(rx),
                    Err(e) => Next::Fail(e),
                },
            }
        };
        let mut rx = match next {
            Next::Wait(rx) => rx,
            Next::Fail(e) => return Err(e),
        };
        let outcome = match rx.wait_for(|o| o.is_some()).await {
            Ok(o) => o.clone(),
            Err(_) => None,
        };
        match outcome {
            Some(Ok(entry)) => Ok(entry.value.clone()),
            Some(Err(e)) => Err(e),
            None => Err(Error::new(
                ErrorKind::Internal,
                format!("the {} refresh ended without a result", self.inner.what),
            )),
        }
    }

    fn start_flight(&self, state: &mut State<T>) -> Result<watch::Receiver<Outcome<T>>> {
        let rt = runtime()?;
        let (tx, rx) = watch::channel(None);
        state.flight_id += 1;
        state.inflight = Some(rx.clone());
        let guard = FlightGuard {
            cache: self.clone(),
            id: state.flight_id,
        };
        let inner = self.inner.clone();
        rt.spawn(async move {
            let started = (inner.clock)();
            tracing::debug!(what = inner.what, "passmint: fetching");
            let fetch = CatchPanic {
                fetch: (inner.fetch)(),
                what: inner.what,
            };
            let fetched = match tokio::time::timeout(inner.deadline, fetch).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no {} within the {} s deadline: the identity endpoint did not answer in time",
                        inner.what,
                        inner.deadline.as_secs_f64()
                    ),
                )),
            };
            let now = (inner.clock)();
            let result = fetched.and_then(|lease| admit(lease, now, inner.what).map(Arc::new));
            tracing::trace!(what = inner.what, took_ms = now - started, "passmint: fetch done");
            guard.finish(&result);
            let _ = tx.send(Some(result));
        });
        Ok(rx)
    }
}

/// A fetch whose panic (an SDK's, on an answer it did not expect: found by
/// core/tests/fuzz_sdk.rs) is an error like any failed fetch. Unwinding out of the task
/// instead would end the flight without a result and without a backoff, so every caller
/// would start another fetch that panics again.
struct CatchPanic<T> {
    fetch: BoxFuture<Result<Lease<T>>>,
    what: &'static str,
}

impl<T> Future for CatchPanic<T> {
    type Output = Result<Lease<T>>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let what = self.what;
        let fetch = &mut self.fetch;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                let said = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                std::task::Poll::Ready(Err(Error::new(
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

/// Clears the in-flight marker even if the fetch panics, so later callers start afresh.
struct FlightGuard<T: Clone + Send + Sync + 'static> {
    cache: Cache<T>,
    id: u64,
}

impl<T: Clone + Send + Sync + 'static> FlightGuard<T> {
    fn finish(&self, result: &Result<Arc<Entry<T>>>) {
        let inner = &self.cache.inner;
        let mut state = self.cache.lock();
        // Cleared before the result is sent: a caller arriving after this must start a new
        // flight (or honour the backoff), not read a finished one.
        if state.flight_id == self.id {
            state.inflight = None;
        }
        match result {
            Ok(entry) => {
                // Times and kinds only: never the value.
                tracing::debug!(
                    what = inner.what,
                    refresh_in_s = entry.refresh_at_ms.map(|t| (t - (inner.clock)()) / 1000),
                    "passmint: fetched"
                );
                inner.current.store(Some(entry.clone()));
                state.failures = 0;
                state.next_attempt_ms = 0;
                state.last_error = None;
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let exp = state.failures.saturating_sub(1).min(5);
                let delay = (BACKOFF_START_MS << exp).min(BACKOFF_CAP_MS);
                // Jitter in [delay/2, delay): many processes that lost the same endpoint do
                // not come back in lockstep.
                let jittered = delay / 2 + fastrand::i64(0..=delay / 2);
                state.next_attempt_ms = (inner.clock)() + jittered;
                state.last_error = Some(e.clone());
                // Messages are built to be secret-free (error.rs), so they can be logged.
                tracing::warn!(
                    what = inner.what,
                    kind = e.kind().code(),
                    failures = state.failures,
                    retry_in_ms = jittered,
                    error = e.message(),
                    "passmint: fetch failed"
                );
            }
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Drop for FlightGuard<T> {
    fn drop(&mut self) {
        let mut state = self.cache.lock();
        if state.flight_id == self.id {
            state.inflight = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    /// A clock tests move by hand, starting at a fixed instant.
    fn manual_clock() -> (Clock, Arc<AtomicI64>) {
        let now = Arc::new(AtomicI64::new(1_700_000_000_000));
        let n = now.clone();
        (Arc::new(move || n.load(Ordering::SeqCst)), now)
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
                })
            })
        });
        Cache::new("token", fetch, clock, deadline)
    }

    /// Waits until no refresh is in flight, so the next step sees its outcome.
    async fn settle<T>(cache: &Cache<T>) {
        for _ in 0..5000 {
            if cache.inner.state.lock().unwrap().inflight.is_none() {
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
        now.store(1_700_000_000_000 + 871_000, Ordering::SeqCst);
        // Wait out any backoff so the next caller really asks the endpoint.
        now.fetch_add(31_000, Ordering::SeqCst);
        let err = cache.get().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Network);
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

    #[test]
    fn refresh_margin_follows_the_rule() {
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(3_600_000),
                short_lived: false,
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
            },
            0,
        );
        assert_eq!(e.refresh_at_ms, Some(600_000), "5 min floor");
        let e = Entry::new(
            Lease {
                value: (),
                expires_at_ms: Some(120_000),
                short_lived: false,
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
            },
            0,
        );
        assert_eq!(e.usable_until_ms, Some(20_000));
    }
}
