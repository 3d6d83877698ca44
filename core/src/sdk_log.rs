//! What the identity SDKs log, made safe to log. They use `tracing` like passmint, and some of
//! what they log carries secrets: aws-sigv4 traces its canonical request (the query string of a
//! presigned DSQL/RDS token, `X-Amz-Security-Token` included), aws-config warns with a failing
//! `credential_process`'s stderr. A fetch runs with [`Guard`] as its default subscriber: events
//! of passmint's own targets reach the application's subscriber as they are (they are built
//! secret-free); the SDKs' reach it only up to DEBUG, scrubbed, as one message each under the
//! target `passmint::sdk` (field `sdk`: the SDK's target). SDK spans are dropped.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::callsite::{Callsite, DefaultCallsite, Identifier};
use tracing::field::{Field, FieldSet, Value, Visit};
use tracing::metadata::Kind;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

use crate::fork::Racy;

/// The most verbose SDK level passed on: TRACE is where the SDKs dump requests and bodies.
const MOST: Level = Level::DEBUG;
/// Longest SDK message passed on, after scrubbing.
const MAX_CHARS: usize = 2000;

macro_rules! sdk_callsite {
    ($callsite:ident, $meta:ident, $level:expr) => {
        static $callsite: DefaultCallsite = DefaultCallsite::new(&$meta);
        static $meta: Metadata<'static> = Metadata::new(
            "sdk event",
            "passmint::sdk",
            $level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(&["message", "sdk"], Identifier(&$callsite)),
            Kind::EVENT,
        );
    };
}

sdk_callsite!(ERROR_CALLSITE, ERROR_META, Level::ERROR);
sdk_callsite!(WARN_CALLSITE, WARN_META, Level::WARN);
sdk_callsite!(INFO_CALLSITE, INFO_META, Level::INFO);
sdk_callsite!(DEBUG_CALLSITE, DEBUG_META, Level::DEBUG);

fn callsite(level: &Level) -> Option<&'static DefaultCallsite> {
    match *level {
        Level::ERROR => Some(&ERROR_CALLSITE),
        Level::WARN => Some(&WARN_CALLSITE),
        Level::INFO => Some(&INFO_CALLSITE),
        Level::DEBUG => Some(&DEBUG_CALLSITE),
        _ => None,
    }
}

fn ours(meta: &Metadata<'_>) -> bool {
    meta.target() == "passmint" || meta.target().starts_with("passmint::")
}

thread_local! {
    /// The application's subscriber, for the poll in progress on this thread.
    static OUTER: RefCell<Option<Dispatch>> = const { RefCell::new(None) };
}

fn with_outer<R>(f: impl FnOnce(&Dispatch) -> R) -> Option<R> {
    OUTER.with(|o| o.borrow().as_ref().map(f))
}

struct Guard;

impl Subscriber for Guard {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Decided per event, by the application's subscriber of the moment.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        if !meta.is_event() {
            return false;
        }
        if ours(meta) {
            return with_outer(|o| o.enabled(meta)).unwrap_or(false);
        }
        match callsite(meta.level()) {
            Some(cs) => with_outer(|o| o.enabled(cs.metadata())).unwrap_or(false),
            None => false,
        }
    }

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if ours(meta) {
            with_outer(|o| o.event(event));
            return;
        }
        // An "always" interest skips `enabled`: the cap is applied here too.
        let Some(cs) = callsite(meta.level()).filter(|_| *meta.level() <= MOST) else {
            return;
        };
        let mut text = Flatten(String::new());
        event.record(&mut text);
        let text = crate::redact::scrub(&text.0, &[], MAX_CHARS);
        let sdk = meta.target();
        cs.register();
        let meta = cs.metadata();
        let fields = meta.fields();
        let (Some(message), Some(sdk_field)) = (fields.field("message"), fields.field("sdk"))
        else {
            return;
        };
        let shown = format_args!("{text}");
        let values: [(&Field, Option<&dyn Value>); 2] =
            [(&message, Some(&shown)), (&sdk_field, Some(&sdk))];
        with_outer(|o| {
            if o.enabled(meta) {
                o.event(&Event::new(meta, &fields.value_set(&values)));
            }
        });
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's fields as one line: its message, then `name=value` for the others.
struct Flatten(String);

impl Visit for Flatten {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

/// Makes the guard's dispatcher now. Making one takes tracing's process-wide locks (its
/// dispatcher list, written, and its callsite list): a child forked while a parent thread held
/// them would block for ever making its own. So it is made where no fork can land, in the
/// runtime's gated start, once for the process and the children it forks afterwards.
pub(crate) fn prepare() {
    guard();
}

/// The guard's dispatcher, made once and shared (see [`prepare`]).
fn guard() -> &'static Dispatch {
    static GUARD: Racy<Dispatch> = Racy::new();
    GUARD.get_or_init(|| Dispatch::new(Guard))
}

/// A future whose polls log through [`Guard`].
pub(crate) struct SdkLogs<F>(pub Pin<Box<F>>);

impl<F: Future> Future for SdkLogs<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let outer = tracing::dispatcher::get_default(Dispatch::clone);
        let previous = OUTER.with(|o| o.replace(Some(outer)));
        let polled = tracing::dispatcher::with_default(guard(), || self.0.as_mut().poll(cx));
        OUTER.with(|o| *o.borrow_mut() = previous);
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An application's subscriber that wants everything and keeps it as text.
    struct Everything(Arc<Mutex<Vec<String>>>);

    impl Subscriber for Everything {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut text = Flatten(format!(
                "{} {} ",
                event.metadata().level(),
                event.metadata().target()
            ));
            event.record(&mut text);
            self.0.lock().unwrap().push(text.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn sdk_events_are_capped_and_scrubbed_and_passmint_events_pass() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Dispatch::new(Everything(seen.clone()));
        let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD";
        tracing::dispatcher::with_default(&app, || {
            let fut = SdkLogs(Box::pin(async {
                tracing::trace!(target: "aws_sigv4::http_request::sign", canonical_request = %format!("GET\n/\nAction=DbConnect&X-Amz-Security-Token={token}"), "calculated signing parameters");
                tracing::warn!(target: "aws_config::profile::credentials", error = %format!("Stderr: {{\"SessionToken\":\"{token}\"}}"), "failed to load base credentials");
                tracing::debug!(target: "passmint::cache", what = "token", "passmint: fetching");
            }));
            let waker = std::task::Waker::noop();
            let mut fut = fut;
            assert!(
                Pin::new(&mut fut)
                    .poll(&mut Context::from_waker(waker))
                    .is_ready()
            );
        });
        let seen = seen.lock().unwrap();
        assert!(!seen.iter().any(|s| s.contains("IQoJb3Jp")), "{seen:?}");
        assert!(
            !seen.iter().any(|s| s.contains("canonical")),
            "TRACE is not passed on: {seen:?}"
        );
        assert!(
            seen.iter().any(|s| s.starts_with("WARN passmint::sdk")
                && s.contains("failed to load base credentials")
                && s.contains("sdk=aws_config::profile::credentials")),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|s| s.starts_with("DEBUG passmint::cache")),
            "{seen:?}"
        );
    }
}
