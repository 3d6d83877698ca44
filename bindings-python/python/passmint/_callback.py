"""``Provider.from_callable``'s Python half: any callable, sync or ``async``, as a token source.

The native side calls the prepared function on passmint's own thread (never on the caller's
thread or event loop) and applies the cache, the deadline and the backoff. This module only
turns the callable's answer into ``(token, expires_at, username)``, and runs a coroutine on a
loop of passmint's own: the caller may be synchronous, or on an event loop that is waiting
for this very token.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import inspect
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidArgumentError, ProviderResponseError, TimeoutError

# A coroutine gets this long on passmint's loop; callers have had their TIMEOUT at 10 s.
_ASYNC_LIMIT_S = 15.0
_SHAPE = "return {'token': str, 'expires_at': unix seconds[, 'username': str]} or (token, expires_at[, username])"

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _forget_loop_in_child() -> None:
    # The parent's loop thread does not exist in a forked child, and the lock may have been
    # held by a parent thread at fork time: both start afresh.
    global _lock, _loop
    _lock, _loop = threading.Lock(), None


os.register_at_fork(after_in_child=_forget_loop_in_child)


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="passmint-callbacks", daemon=True).start()
            _loop = loop
        return _loop


def _run(awaitable: Any) -> Any:
    async def awaited() -> Any:
        return await awaitable

    future = asyncio.run_coroutine_threadsafe(awaited(), _background_loop())
    try:
        return future.result(timeout=_ASYNC_LIMIT_S)
    except concurrent.futures.TimeoutError as e:
        future.cancel()
        raise TimeoutError("TIMEOUT", f"the async token callback did not finish in {_ASYNC_LIMIT_S:g} s") from e


def _expiry(value: Any) -> int:
    if isinstance(value, bool):
        raise ProviderResponseError("PROVIDER_RESPONSE", f"the token callback's expires_at is a bool; {_SHAPE}")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ProviderResponseError(
                "PROVIDER_RESPONSE", "the token callback's expires_at is a naive datetime: give it a time zone")
        return int(value.timestamp())
    raise ProviderResponseError(
        "PROVIDER_RESPONSE", f"the token callback's expires_at is a {type(value).__name__}; {_SHAPE}")


def _normalised(answer: Any) -> tuple[str, int, str | None]:
    if isinstance(answer, Mapping):
        token, expires_at, username = answer.get("token"), answer.get("expires_at"), answer.get("username")
        if token is None or expires_at is None:
            raise ProviderResponseError(
                "PROVIDER_RESPONSE", f"the token callback's dict lacks 'token' or 'expires_at'; {_SHAPE}")
    elif isinstance(answer, (tuple, list)) and len(answer) in (2, 3):
        # Also azure-identity's AccessToken (token, expires_on) and AccessTokenInfo-like tuples.
        token, expires_at = answer[0], answer[1]
        username = answer[2] if len(answer) == 3 else None
    else:
        what = f"a {type(answer).__name__}" + (f" of {len(answer)} items" if isinstance(answer, (tuple, list)) else "")
        raise ProviderResponseError("PROVIDER_RESPONSE", f"the token callback returned {what}; {_SHAPE}")
    if not isinstance(token, str):
        raise ProviderResponseError("PROVIDER_RESPONSE", f"the token callback's token is a {type(token).__name__}")
    if username is not None and not isinstance(username, str):
        raise ProviderResponseError("PROVIDER_RESPONSE", "the token callback's username is not a str")
    return token, _expiry(expires_at), username


def prepare(fn: Any) -> tuple[Callable[[], tuple[str, int, str | None]], str]:
    """The function the native side calls, and the name ``status()['credential']`` shows."""
    if not callable(fn):
        raise InvalidArgumentError("INVALID_ARGUMENT", f"from_callable needs a callable, not a {type(fn).__name__}")
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__

    def call() -> tuple[str, int, str | None]:
        answer = fn()
        if inspect.isawaitable(answer):
            answer = _run(answer)
        return _normalised(answer)

    return call, f"token callback ({name})"
