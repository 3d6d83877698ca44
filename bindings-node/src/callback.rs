//! A JS function as the core's token source (`Provider.fromFunction`). The core calls
//! `start` on its own thread; the JS trampoline (`lib/callback.ts`) is called on the event
//! loop through a threadsafe function with the call's id, runs the user's function, and
//! settles the id with its answer or its error. The core's `Completion` waits here meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Result, Status};
use napi_derive::napi;
use passmint_core::{Completion, ErrorKind, Minted, Provider, callback_error};

/// Calls waiting for JS: id → the core's completion.
static PENDING: Mutex<Option<(u32, HashMap<u32, Completion>)>> = Mutex::new(None);

fn pending<R>(f: impl FnOnce(&mut u32, &mut HashMap<u32, Completion>) -> R) -> R {
    let mut guard = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let (next, table) = guard.get_or_insert_with(|| (0, HashMap::new()));
    f(next, table)
}

/// A provider whose fetch calls `trampoline(id)` on the event loop. The threadsafe function
/// is weak: a pending fetch never keeps the process alive, and an event loop that does not
/// run it leaves callers with TIMEOUT at their deadline.
pub(crate) fn provider(trampoline: Function<u32, ()>, name: String) -> Result<Provider> {
    let tsfn = trampoline
        .build_threadsafe_function()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    Ok(Provider::from_async_callback(
        name,
        move |done: Completion| {
            let id = pending(|next, table| {
                // Calls past their deadline are nobody's any more.
                table.retain(|_, c| !c.is_abandoned());
                *next = next.wrapping_add(1);
                table.insert(*next, done);
                *next
            });
            if tsfn.call(id, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok
                && let Some(done) = pending(|_, table| table.remove(&id))
            {
                done.complete(Err(callback_error(
                    ErrorKind::ProviderResponse,
                    "the token function could not be called: its JS environment is shutting down",
                )));
            }
        },
    ))
}

/// Settles call `id`: a token (`expires_at` in unix seconds), or an error of `error_kind` (a
/// core kind name, `PROVIDER_RESPONSE` when the function's error was not passmint's).
#[napi]
pub fn settle_callback(
    id: u32,
    token: Option<String>,
    expires_at: Option<i64>,
    username: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
) {
    let Some(done) = pending(|_, table| table.remove(&id)) else {
        return; // answered after its deadline
    };
    let answer = match (token, expires_at, error_kind) {
        (Some(token), Some(expires_at), None) => {
            let minted = Minted::new(token, expires_at);
            Ok(match username {
                Some(user) => minted.with_username(user),
                None => minted,
            })
        }
        (_, _, kind) => {
            let kind = kind
                .and_then(|k| ErrorKind::ALL.into_iter().find(|x| x.code() == k))
                .unwrap_or(ErrorKind::ProviderResponse);
            Err(callback_error(
                kind,
                error_message
                    .as_deref()
                    .unwrap_or("the token function failed"),
            ))
        }
    };
    done.complete(answer);
}
