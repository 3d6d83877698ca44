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


_AWS_SHAPE = ("pass a boto3 Session, botocore credentials, or a callable returning "
              "{'access_key_id', 'secret_access_key', 'session_token'?, 'expires_at'?}")


def aws_credentials(source: Any) -> Callable[[], tuple[str, str, str | None, int | None]]:
    """What the native side calls for AWS credentials: ``(access key id, secret, session token,
    expires_at)`` from a boto3 ``Session`` (its credentials refresh themselves), botocore
    credentials (``Credentials`` or ``RefreshableCredentials``), or a callable."""
    if hasattr(source, "get_credentials"):  # a boto3 or botocore Session

        def from_session() -> tuple[str, str, str | None, int | None]:
            creds = source.get_credentials()
            if creds is None:
                from .errors import CredentialUnavailableError

                raise CredentialUnavailableError(
                    "CREDENTIAL_UNAVAILABLE", "the boto3 Session has no credentials (its chain found none)")
            return _botocore(creds)

        return from_session
    if hasattr(source, "get_frozen_credentials"):
        return lambda: _botocore(source)
    if callable(source):
        return lambda: _aws_answer(source())
    raise InvalidArgumentError("INVALID_ARGUMENT", f"credentials is a {type(source).__name__}: {_AWS_SHAPE}")


def _botocore(creds: Any) -> tuple[str, str, str | None, int | None]:
    # get_frozen_credentials() refreshes RefreshableCredentials first when they are due.
    frozen = creds.get_frozen_credentials()
    expiry = getattr(creds, "_expiry_time", None)
    return frozen.access_key, frozen.secret_key, frozen.token, _expiry(expiry) if expiry is not None else None


def _aws_answer(answer: Any) -> tuple[str, str, str | None, int | None]:
    if hasattr(answer, "get_frozen_credentials"):
        return _botocore(answer)
    if not isinstance(answer, Mapping):
        raise ProviderResponseError("PROVIDER_RESPONSE", f"the AWS credentials callable returned a "
                                    f"{type(answer).__name__}; {_AWS_SHAPE}")
    key, secret = answer.get("access_key_id"), answer.get("secret_access_key")
    if not isinstance(key, str) or not isinstance(secret, str):
        raise ProviderResponseError("PROVIDER_RESPONSE", f"the AWS credentials lack access_key_id or "
                                    f"secret_access_key; {_AWS_SHAPE}")
    token, expires = answer.get("session_token"), answer.get("expires_at")
    return key, secret, token, _expiry(expires) if expires is not None else None
