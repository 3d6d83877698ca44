//! JS functions as the core's sources: a token function (`Provider.fromFunction`) and an AWS
//! credential provider (`dsql/rds({ credentials })`, e.g. `fromIni()` or the DSQL connector's
//! `customCredentialsProvider`). The core calls `start` on its own thread; the JS trampoline
//! (`lib/callback.ts`) is called on the event loop through a threadsafe function with the
//! call's id, runs the function, and settles the id. The core's completion waits here meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Result, Status};
use napi_derive::napi;
use passmint_core::{AwsCredentials, Completion, ErrorKind, Minted, callback_error};

/// A call waiting for JS.
pub(crate) enum Pending {
    Token(Completion),
    Credentials(Completion<AwsCredentials>),
}

impl Pending {
    fn is_abandoned(&self) -> bool {
        match self {
            Pending::Token(c) => c.is_abandoned(),
            Pending::Credentials(c) => c.is_abandoned(),
        }
    }

    fn fail(self, e: passmint_core::Error) {
        match self {
            Pending::Token(c) => c.complete(Err(e)),
            Pending::Credentials(c) => c.complete(Err(e)),
        }
    }
}

/// Calls waiting for JS: id → completion.
static PENDING: Mutex<Option<(u32, HashMap<u32, Pending>)>> = Mutex::new(None);

fn pending<R>(f: impl FnOnce(&mut u32, &mut HashMap<u32, Pending>) -> R) -> R {
    let mut guard = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let (next, table) = guard.get_or_insert_with(|| (0, HashMap::new()));
    f(next, table)
}

/// A function of `Pending` the core calls for each fetch: it files the call and asks
/// `trampoline(id)` on the event loop. The threadsafe function is weak: a pending fetch never
/// keeps the process alive, and an event loop that does not run it leaves callers with
/// TIMEOUT at their deadline.
pub(crate) fn starter(
    trampoline: Function<u32, ()>,
) -> Result<impl Fn(Pending) + Send + Sync + 'static> {
    let tsfn = trampoline
        .build_threadsafe_function()
        .weak::<true>()
        .callee_handled::<false>()
        .build()?;
    Ok(move |call: Pending| {
        let id = pending(|next, table| {
            // Calls past their deadline are nobody's any more.
            table.retain(|_, c| !c.is_abandoned());
            *next = next.wrapping_add(1);
            table.insert(*next, call);
            *next
        });
        if tsfn.call(id, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok
            && let Some(call) = pending(|_, table| table.remove(&id))
        {
            call.fail(callback_error(
                ErrorKind::ProviderResponse,
                "the JS function could not be called: its environment is shutting down",
            ));
        }
    })
}

pub(crate) fn token(start: impl Fn(Pending)) -> impl Fn(Completion) {
    move |c| start(Pending::Token(c))
}

pub(crate) fn credentials(start: impl Fn(Pending)) -> impl Fn(Completion<AwsCredentials>) {
    move |c| start(Pending::Credentials(c))
}

fn failure(kind: Option<String>, message: Option<String>, default: &str) -> passmint_core::Error {
    let kind = kind
        .and_then(|k| ErrorKind::ALL.into_iter().find(|x| x.code() == k))
        .unwrap_or(ErrorKind::ProviderResponse);
    callback_error(kind, message.as_deref().unwrap_or(default))
}

/// Settles token call `id`: a token (`expires_at` in unix seconds), or an error of
/// `error_kind` (a core kind name; `PROVIDER_RESPONSE` when the function's error was not
/// passmint's).
#[napi]
pub fn settle_callback(
    id: u32,
    token: Option<String>,
    expires_at: Option<i64>,
    username: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
) {
    let Some(Pending::Token(done)) = pending(|_, table| table.remove(&id)) else {
        return; // answered after its deadline
    };
    done.complete(match (token, expires_at, error_kind) {
        (Some(token), Some(expires_at), None) => {
            let minted = Minted::new(token, expires_at);
            Ok(match username {
                Some(user) => minted.with_username(user),
                None => minted,
            })
        }
        (_, _, kind) => Err(failure(kind, error_message, "the token function failed")),
    });
}

/// Settles credentials call `id` (`expires_at` in unix seconds, absent for long-term keys), or
/// fails it as [`settle_callback`] does.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn settle_credentials(
    id: u32,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expires_at: Option<i64>,
    error_kind: Option<String>,
    error_message: Option<String>,
) {
    let Some(Pending::Credentials(done)) = pending(|_, table| table.remove(&id)) else {
        return;
    };
    done.complete(match (access_key_id, secret_access_key, error_kind) {
        (Some(access_key_id), Some(secret_access_key), None) => Ok(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expires_at,
        }),
        (_, _, kind) => Err(failure(
            kind,
            error_message,
            "the AWS credential provider failed",
        )),
    });
}
