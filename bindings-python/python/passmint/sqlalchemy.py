"""passmint for SQLAlchemy 2.x: every new DBAPI connection of an engine logs in with a fresh token.

    import passmint, passmint.sqlalchemy
    from sqlalchemy import create_engine
    provider = passmint.Provider.for_postgres_url("postgresql://app@myserver.postgres.database.azure.com/app")
    engine = create_engine("postgresql+psycopg://app@myserver.postgres.database.azure.com/app")
    passmint.sqlalchemy.attach(engine, provider)      # also an AsyncEngine (asyncpg, psycopg async)

``attach`` adds a ``do_connect`` listener (SQLAlchemy's documented place for dynamic
authentication tokens) to the engine, or to ``AsyncEngine.sync_engine``. The URL, the query
string and ``connect_args`` keep working; for each new connection the pool opens, the listener
connects with the token as ``password`` (``dialect.connect``, what SQLAlchemy itself would call)
and returns the connection, as ``do_connect`` allows. ``do_connect`` listeners run in the order
they were added and the first to return a connection ends the round: add yours before
``attach`` (or with ``insert=True``), or it is not called. Supported dialects:
``postgresql+psycopg``, ``+psycopg2`` (libpq) and ``+asyncpg``, and ``+psycopg`` under
``create_async_engine``.

Rotation: when the server answers ``password authentication failed``, the listener tells the
provider (``provider.password_refused``). For a source whose secrets rotate before any expiry
passmint knew (vault, awssm, file, exec) it connects once more with a fresh token (and its
username); a second refusal is raised, as SQLAlchemy's ``OperationalError`` (or ``DBAPIError``).
IAM tokens and callbacks are never retried. libpq reports a refused connection as text only, so
on the libpq dialects this is recognised by the server's English message.

On an ``AsyncEngine`` the token is awaited (``provider.token_info_async()``, through SQLAlchemy's
greenlet bridge), so a cold cache never blocks the event loop; on a sync engine
``provider.token_info()`` blocks the connecting thread with the GIL released.

Defaults (docs/DESIGN.md §7): when the caller chose no TLS (libpq dialects: no ``sslmode`` in the URL,
``connect_args`` or PGSSLMODE; asyncpg: no ``ssl``/``sslmode`` there or PGSSLMODE), verified TLS
is added (``sslmode=verify-full``; asyncpg as ``passmint.asyncpg`` adds it: ``"verify-full"`` with
your CA file, else the system's roots). A plaintext-capable choice
(``disable``, ``allow``, ``prefer``, asyncpg ``ssl=False``) raises ``passmint.InvalidConfigError``
on connect unless ``allow_plaintext=True``; TLS that checks no server name (``require``,
``verify-ca`` without a CA file of yours, an ``SSLContext`` with ``check_hostname=False``) unless
``allow_unverified_tls=True``. When the URL names no user (nor PGUSER), the role of the token
each connection logs in with is used (``Token.username``, else ``provider.username``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import sqlalchemy
from sqlalchemy import event

from ._helpers import (
    TlsPolicy,
    caller_named_user,
    connect_with_token,
    dsn_settings,
    require_version,
    token_user,
)
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import ConnectionPoolEntry

    from ._native import Provider, Token

__all__ = ["attach"]

#: do_connect for AsyncEngine and the greenlet bridge as these helpers use them.
MINIMUM = "2.0"
require_version("SQLAlchemy", sqlalchemy.__version__, MINIMUM, "passmint.sqlalchemy", "AsyncEngine.sync_engine events")

_LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg2cffi"})
_HELPER = "passmint.sqlalchemy.attach()"


def _parse_libpq(conninfo: str) -> dict[str, Any]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        from psycopg2.extensions import parse_dsn

        return dict(parse_dsn(conninfo))
    return dict(conninfo_to_dict(conninfo))


def _async_token(provider: Provider) -> Token | None:
    """The token, awaited through SQLAlchemy's greenlet bridge when called under an AsyncEngine;
    None elsewhere (the caller then blocks, with the GIL released)."""
    try:
        from sqlalchemy.util.concurrency import in_greenlet
    except ImportError:  # pragma: no cover - SQLAlchemy without the asyncio extra
        return None
    if not in_greenlet():
        return None
    from sqlalchemy import util

    await_ = getattr(util, "await_", None) or util.await_only  # 2.1 name, then 2.0's
    info: Token = await_(provider.token_info_async())
    return info


def attach(
    engine: Engine | AsyncEngine, provider: Provider, *, allow_plaintext: bool = False,
    allow_unverified_tls: bool = False,
) -> None:
    """Make every new connection of ``engine`` (an ``Engine`` or ``AsyncEngine``) log in with a
    token from ``provider``, with passmint's TLS and user defaults (see the module docstring)."""
    sync_engine = cast("Engine", getattr(engine, "sync_engine", engine))  # AsyncEngine's, or engine
    dialect = sync_engine.dialect
    driver = dialect.driver
    if dialect.name != "postgresql" or (driver not in _LIBPQ_DRIVERS and driver != "asyncpg"):
        raise InvalidArgumentError(
            "INVALID_ARGUMENT",
            f"{_HELPER} supports the postgresql+psycopg, +psycopg2 and +asyncpg dialects, not "
            f"{dialect.name}+{driver}; for another driver set the password in a do_connect "
            "listener from provider.token()",
        )
    is_asyncpg = driver == "asyncpg"
    tls = TlsPolicy(_HELPER, provider, allow_plaintext=allow_plaintext, allow_unverified_tls=allow_unverified_tls)

    def token() -> Token:
        return _async_token(provider) or provider.token_info()

    def do_connect(
        dialect: Dialect, conn_rec: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any],
    ) -> DBAPIConnection:
        # A copy: SQLAlchemy 2.0.0 hands every connect the same dict, and a user set here for one
        # token must not read as the caller's choice on the next connect.
        params = dict(cparams)
        if is_asyncpg:
            dsn = cargs[0] if cargs and isinstance(cargs[0], str) else params.get("dsn")
            settings = dsn_settings(dsn)
            if params.get("ssl") is None and params.get("sslmode") is not None:
                # ?sslmode= in the URL: asyncpg takes no such keyword, its value is the ssl choice.
                params["ssl"] = params.pop("sslmode")
            settings["sslrootcert"] = settings["sslrootcert"] or params.get("sslrootcert")
            params.update(tls.asyncpg(params.get("ssl"), settings))
            need_user = not caller_named_user(params.get("user") or settings["user"])
        else:
            chosen: dict[str, Any] = {}
            for conninfo in (cargs[0] if cargs and isinstance(cargs[0], str) else None, params.get("dsn")):
                if conninfo:
                    chosen.update(_parse_libpq(conninfo))
            chosen.update({k: v for k, v in params.items() if v is not None})
            params.update(tls.libpq(chosen))
            need_user = not caller_named_user(chosen.get("user"))

        def attempt(info: Token) -> DBAPIConnection:
            with_token = {**params, "password": info.secret}
            if need_user:
                with_token["user"] = token_user(info, provider, "passmint.sqlalchemy")
            return dialect.connect(*cargs, **with_token)

        return connect_with_token(provider, attempt, token)

    event.listen(sync_engine, "do_connect", do_connect)
