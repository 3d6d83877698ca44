"""passmint for psycopg 3 and psycopg_pool: every new connection logs in with a fresh token.

    import passmint, passmint.psycopg
    from psycopg_pool import ConnectionPool
    provider = passmint.Provider("dsql://abc123.dsql.us-east-1.on.aws?user=app")
    pool = ConnectionPool("host=abc123.dsql.us-east-1.on.aws dbname=postgres",
                          connection_class=passmint.psycopg.connection_class(provider))

psycopg has no password callback (a callable ``password=`` is silently sent as ``str(fn)``), so
passmint supplies the password where psycopg does accept one:

- ``connection_class(provider)`` / ``async_connection_class(provider)``: subclasses of
  ``psycopg.Connection`` / ``psycopg.AsyncConnection`` whose public ``connect`` classmethod puts
  the token in ``password``. Use ``Cls.connect(conninfo, **kwargs)`` as you would
  ``psycopg.connect``, or hand the class to any psycopg_pool as ``connection_class=``.
- ``kwargs(provider, conninfo)`` / ``async_kwargs(provider, conninfo)``: callables for
  psycopg_pool >= 3.3 ``ConnectionPool(conninfo, kwargs=...)`` / ``AsyncConnectionPool``. Give
  them the pool's ``conninfo`` too, so they see the caller's sslmode and user.

Every connect (the pool's first fill, growth, reconnects, ``max_lifetime`` recycling) asks the
provider; the provider's cache makes that a memory read, and concurrent connects share one
identity request. The async variants never block the event loop. A pool retries failed
connects in the background until its timeout, so call ``provider.token()`` once before opening
it to see a credential problem as a ``passmint.Error`` rather than a ``PoolTimeout``.

Rotation: when the server answers ``password authentication failed``, the connection classes
tell the provider (``provider.password_refused``). For a source whose secrets rotate before
any expiry passmint knew (vault, awssm, file, exec) they connect once more with a fresh token
(and its username); a second refusal is raised. IAM tokens and callbacks are never retried.
libpq reports a refused connection as text only, so this is recognised by the server's English
message. ``kwargs``/``async_kwargs`` cannot retry: the pool connects with what they return and
they never see the refusal, so the pool keeps trying the cached password until the source's
``refresh``. With a source that rotates, prefer ``connection_class=``.

Defaults (docs/DESIGN.md §7): when neither the conninfo, the keyword arguments nor PGSSLMODE choose an
sslmode, ``sslmode=verify-full`` is added (give libpq the server's CA with ``sslrootcert=``,
PGSSLROOTCERT, ``~/.postgresql/root.crt``, or ``sslrootcert=system`` on libpq >= 16).
``sslmode=disable``, ``allow`` or ``prefer`` raise ``passmint.InvalidConfigError`` unless
``allow_plaintext=True``; ``require``, and ``verify-ca`` without a CA file of yours
(``sslrootcert=<file>`` or PGSSLROOTCERT), check no server name and raise unless
``allow_unverified_tls=True``. When no ``user`` is given (nor PGUSER), the token's role is used
(``Token.username``, else ``provider.username``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from ._helpers import (
    LibpqLogin,
    TlsPolicy,
    connect_with_token,
    connect_with_token_async,
    require_version,
    version_tuple,
)
from .errors import InvalidConfigError

if TYPE_CHECKING:
    from ._native import Provider, Token

__all__ = ["async_connection_class", "async_kwargs", "connection_class", "kwargs"]

#: The oldest psycopg these helpers are tested with (tests/python-oldest/requirements.txt).
MINIMUM = "3.1"
#: psycopg_pool takes a callable ``kwargs=`` from 3.3 on.
POOL_KWARGS_MINIMUM = "3.3"
require_version("psycopg", psycopg.__version__, MINIMUM, "passmint.psycopg", "the connection classes")


def _pool_takes_callable_kwargs(helper: str) -> None:
    """An older psycopg_pool would pass the callable itself to psycopg.connect as ``**kwargs``."""
    try:
        import psycopg_pool
    except ImportError:
        return
    installed = getattr(psycopg_pool, "__version__", "0")
    if version_tuple(installed) < version_tuple(POOL_KWARGS_MINIMUM):
        raise InvalidConfigError(
            "INVALID_CONFIG",
            f"{helper} is for psycopg_pool >= {POOL_KWARGS_MINIMUM}, which takes a callable kwargs=; this is "
            f"{installed}: pip install -U 'psycopg-pool>={POOL_KWARGS_MINIMUM}', or use "
            "connection_class=passmint.psycopg.connection_class(provider)",
        )

# psycopg's own connect() options: not libpq parameters, so not part of the conninfo.
_PSYCOPG_OPTIONS = frozenset({"autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"})


@functools.lru_cache(maxsize=64)
def _parse(conninfo: str) -> Mapping[str, Any]:
    """The conninfo's keywords. A pool connects with the same conninfo again and again, and
    psycopg's parse costs tens of microseconds: remember the last few."""
    return MappingProxyType(conninfo_to_dict(conninfo))


def _login(conninfo: str, kwargs: dict[str, Any], tls: TlsPolicy) -> LibpqLogin:
    """What one connect adds, decided from the caller's settings before any token is minted."""
    # As conninfo_to_dict(conninfo, **kwargs): keyword arguments win, None ones are dropped.
    params = {**_parse(conninfo)}
    params.update((k, v) for k, v in kwargs.items() if v is not None and k not in _PSYCOPG_OPTIONS)
    return LibpqLogin(params, tls)


def _connection_class(provider: Provider, tls: TlsPolicy,
                      base: type[psycopg.Connection[TupleRow]] = psycopg.Connection) -> type[psycopg.Connection[TupleRow]]:
    """``base`` whose ``connect`` logs in with a token (passmint.django gives its pool's class)."""

    class PassmintConnection(base):  # type: ignore[valid-type,misc]
        passmint_provider = provider

        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> PassmintConnection:
            login = _login(conninfo, kwargs, tls)
            connect = super().connect
            conn = connect_with_token(provider, lambda info: connect(conninfo, **login.apply(kwargs, info, provider)))
            return cast("PassmintConnection", conn)

    return PassmintConnection


def connection_class(
    provider: Provider, *, allow_plaintext: bool = False, allow_unverified_tls: bool = False
) -> type[psycopg.Connection[TupleRow]]:
    """A ``psycopg.Connection`` subclass whose ``connect(conninfo, **kwargs)`` logs in with a token
    from ``provider`` (blocking on a cold cache, with the GIL released). For ``psycopg_pool``
    ``connection_class=`` (any version) and SQLAlchemy ``creator=``. A password the server
    refuses is retried once with a fresh token when the provider's secrets rotate early (see
    the module docstring)."""
    tls = TlsPolicy("passmint.psycopg.connection_class()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    return _connection_class(provider, tls)


def async_connection_class(
    provider: Provider, *, allow_plaintext: bool = False, allow_unverified_tls: bool = False
) -> type[psycopg.AsyncConnection[TupleRow]]:
    """A ``psycopg.AsyncConnection`` subclass whose ``await connect(conninfo, **kwargs)`` logs in
    with a token from ``provider``, awaited without blocking the event loop. For
    ``psycopg_pool.AsyncConnectionPool(connection_class=...)``. A refused password is retried
    once, as by :func:`connection_class`."""
    tls = TlsPolicy("passmint.psycopg.async_connection_class()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)

    class PassmintAsyncConnection(psycopg.AsyncConnection[TupleRow]):
        passmint_provider = provider

        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> PassmintAsyncConnection:
            login = _login(conninfo, kwargs, tls)
            connect = super().connect

            async def attempt(info: Token) -> PassmintAsyncConnection:
                return await connect(conninfo, **login.apply(kwargs, info, provider))

            return await connect_with_token_async(provider, attempt)

    return PassmintAsyncConnection


def kwargs(
    provider: Provider, conninfo: str = "", *, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **base: Any,
) -> Callable[[], dict[str, Any]]:
    """A callable for psycopg_pool >= 3.3 ``ConnectionPool(conninfo, kwargs=...)``: each call
    returns ``base`` plus the token as ``password`` (and the TLS and user defaults). Pass the
    pool's ``conninfo`` here too, so the caller's sslmode and user are seen. A plaintext or
    unverified choice in ``conninfo`` or ``base`` raises here, at once. The pool connects with
    what this returns, so a refused password is not retried here (see the module docstring)."""
    tls = TlsPolicy("passmint.psycopg.kwargs()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    _pool_takes_callable_kwargs("passmint.psycopg.kwargs()")
    _login(conninfo, base, tls)  # fail now, not on the pool's first connect

    def pool_kwargs() -> dict[str, Any]:
        return _login(conninfo, base, tls).apply(base, provider.token_info(), provider)

    return pool_kwargs


def async_kwargs(
    provider: Provider, conninfo: str = "", *, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **base: Any,
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """``kwargs`` for psycopg_pool >= 3.3 ``AsyncConnectionPool(conninfo, kwargs=...)``: an async
    callable, so a cold cache never blocks the event loop. No retry of a refused password, as
    for :func:`kwargs`."""
    tls = TlsPolicy("passmint.psycopg.async_kwargs()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    _pool_takes_callable_kwargs("passmint.psycopg.async_kwargs()")
    _login(conninfo, base, tls)

    async def pool_kwargs() -> dict[str, Any]:
        return _login(conninfo, base, tls).apply(base, await provider.token_info_async(), provider)

    return pool_kwargs
