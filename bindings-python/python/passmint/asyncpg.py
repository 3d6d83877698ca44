"""passmint for asyncpg: every new connection logs in with a fresh token, without blocking the loop.

    import passmint, passmint.asyncpg
    provider = passmint.Provider("dsql://abc123.dsql.us-east-1.on.aws?user=app")
    dsn = "postgresql://abc123.dsql.us-east-1.on.aws/postgres"
    conn = await passmint.asyncpg.connect(dsn, provider=provider)
    pool = await passmint.asyncpg.create_pool(dsn, provider=provider, min_size=5)

asyncpg needs no help to take a token: its ``password=`` accepts a coroutine function and
awaits it for every physical connection, so plain
``asyncpg.connect(dsn, password=provider.token_async)`` and
``asyncpg.create_pool(dsn, password=provider.token_async)`` work as they are. These wrappers
pass exactly that, and add the defaults plain asyncpg lacks:

- TLS (docs/DESIGN.md §7): when neither ``ssl=``, the DSN's ``sslmode`` nor PGSSLMODE choose,
  verified TLS: ``ssl="verify-full"`` when you have a CA file (the DSN's ``sslrootcert``,
  PGSSLROOTCERT or ``~/.postgresql/root.crt``, which asyncpg then loads), else an
  ``ssl.SSLContext`` of the system's roots with the host name checked (what Azure's and DSQL's
  servers need; ``sslrootcert=system`` means the same). ``ssl=False`` and disable/allow/prefer raise ``passmint.InvalidConfigError``
  unless ``allow_plaintext=True``; ``ssl="require"``, ``"verify-ca"`` without a CA file of yours
  (``sslrootcert`` in the DSN, or PGSSLROOTCERT) and an ``ssl.SSLContext`` with
  ``check_hostname=False`` or ``CERT_NONE`` check no server name and raise unless
  ``allow_unverified_tls=True``.
- User: when neither ``user=``, the DSN nor PGUSER name one, the token's role
  (``Token.username``, else ``provider.username``).

asyncpg resolves the password once per address attempt: a multi-host DSN may ask the provider
more than once for one connection (a cache hit each time). ``create_pool`` keeps asyncpg's
usage: ``await create_pool(...)`` and ``async with create_pool(...) as pool`` both work; a
``connect=`` you pass (asyncpg >= 0.30) is still called.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from ._helpers import (
    TlsPolicy,
    caller_named_user,
    dsn_settings,
    require_version,
    token_user,
)

if TYPE_CHECKING:
    from asyncpg.pool import Pool

    from ._native import Provider

__all__ = ["connect", "create_pool"]

#: create_pool(connect=) arrived in 0.30 (the pool's per-connection user for Entra tokens).
MINIMUM = "0.30"
require_version("asyncpg", asyncpg.__version__, MINIMUM, "passmint.asyncpg", "create_pool(connect=)")


def _prepare(dsn: str | None, kw: dict[str, Any], tls: TlsPolicy) -> bool:
    """Adds the TLS default to ``kw``; True when a user must be added."""
    settings = dsn_settings(dsn)
    kw.update(tls.asyncpg(kw.get("ssl"), settings))
    return not caller_named_user(kw.get("user") or settings["user"])


async def connect(
    dsn: str | None = None, *, provider: Provider, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **kw: Any,
) -> asyncpg.Connection[asyncpg.Record]:
    """``asyncpg.connect(dsn, password=provider.token_async, **kw)`` with passmint's TLS and
    user defaults (see the module docstring)."""
    tls = TlsPolicy("passmint.asyncpg.connect()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    need_user = _prepare(dsn, kw, tls)
    if need_user:
        user = token_user(await provider.token_info_async(), provider, "passmint.asyncpg")
        if user:
            kw["user"] = user
    kw["password"] = provider.token_async
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(dsn, **kw)
    return conn


def create_pool(
    dsn: str | None = None, *, provider: Provider, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **kw: Any,
) -> Pool[asyncpg.Record]:
    """``asyncpg.create_pool(dsn, password=provider.token_async, **kw)`` with passmint's TLS and
    user defaults; use it like ``asyncpg.create_pool`` (``await`` it, or ``async with``)."""
    tls = TlsPolicy("passmint.asyncpg.create_pool()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    need_user = _prepare(dsn, kw, tls)
    if need_user and provider.username:
        kw["user"] = provider.username
    elif need_user:
        # The role is known only from a token (Entra claims): set it per connection, in the
        # pool's connect hook, where a token can be awaited.
        inner: Callable[..., Awaitable[Any]] = kw.get("connect") or asyncpg.connect

        async def connect_with_user(*args: Any, **ckw: Any) -> Any:
            if not ckw.get("user"):
                user = token_user(await provider.token_info_async(), provider, "passmint.asyncpg")
                if user:
                    ckw["user"] = user
            return await inner(*args, **ckw)

        kw["connect"] = connect_with_user
    kw["password"] = provider.token_async
    pool: Pool[asyncpg.Record] = asyncpg.create_pool(dsn, **kw)
    return pool
