"""passmint for asyncpg: every new connection logs in with a fresh token, without blocking the loop.

    import passmint, passmint.asyncpg
    provider = passmint.Provider("dsql://abc123.dsql.us-east-1.on.aws?user=app")
    dsn = "postgresql://abc123.dsql.us-east-1.on.aws/postgres"
    conn = await passmint.asyncpg.connect(dsn, provider=provider)
    pool = await passmint.asyncpg.create_pool(dsn, provider=provider, min_size=5)

asyncpg takes a coroutine function as ``password=`` and awaits it for every physical
connection, so plain ``asyncpg.connect(dsn, password=provider.token_async)`` and
``asyncpg.create_pool(dsn, password=provider.token_async)`` work as they are. These wrappers
instead connect with the token themselves (``create_pool`` through asyncpg's ``connect=``
hook, once per physical connection), which lets them add what plain asyncpg lacks:

- TLS (docs/DESIGN.md §7): when neither ``ssl=``, the DSN's ``sslmode`` nor PGSSLMODE choose,
  verified TLS: ``ssl="verify-full"`` when you have a CA file (the DSN's ``sslrootcert``,
  PGSSLROOTCERT or ``~/.postgresql/root.crt``, which asyncpg then loads), else an
  ``ssl.SSLContext`` of the system's roots with the host name checked (what Azure's and DSQL's
  servers need; ``sslrootcert=system`` means the same). ``ssl=False`` and disable/allow/prefer raise ``passmint.InvalidConfigError``
  unless ``allow_plaintext=True``; ``ssl="require"``, ``"verify-ca"`` without a CA file of yours
  (``sslrootcert`` in the DSN, or PGSSLROOTCERT) and an ``ssl.SSLContext`` with
  ``check_hostname=False`` or ``CERT_NONE`` check no server name and raise unless
  ``allow_unverified_tls=True``.
- User: when neither ``user=``, the DSN nor PGUSER name one, the role of the token each
  connection logs in with (``Token.username``, else ``provider.username``): a new Vault lease's
  username is used from the next connection on.
- Rotation: when the server refuses the password (``InvalidPasswordError``, SQLSTATE 28P01),
  the provider is told (``provider.password_refused``). For a source whose secrets rotate
  before any expiry passmint knew (vault, awssm, file, exec) the connection is tried once more
  with a fresh token and its username; a second refusal is raised. IAM tokens and callbacks
  are never retried. The plain ``password=provider.token_async`` route does neither.

One token serves every address of a multi-host DSN. ``create_pool`` keeps asyncpg's usage:
``await create_pool(...)`` and ``async with create_pool(...) as pool`` both work; a
``connect=`` you pass (asyncpg >= 0.30) is still called, with the token as ``password``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from ._helpers import (
    TlsPolicy,
    caller_named_user,
    connect_with_token_async,
    dsn_settings,
    require_version,
    token_user,
)

if TYPE_CHECKING:
    from asyncpg.pool import Pool

    from ._native import Provider, Token

__all__ = ["connect", "create_pool"]

#: create_pool(connect=) arrived in 0.30 (the pool's per-connection user for Entra tokens).
MINIMUM = "0.30"
require_version("asyncpg", asyncpg.__version__, MINIMUM, "passmint.asyncpg", "create_pool(connect=)")


def _prepare(dsn: str | None, kw: dict[str, Any], tls: TlsPolicy) -> bool:
    """Adds the TLS default to ``kw``; True when a user must be added."""
    settings = dsn_settings(dsn)
    kw.update(tls.asyncpg(kw.get("ssl"), settings))
    return not caller_named_user(kw.get("user") or settings["user"])


def _with_token(
    provider: Provider, need_user: bool, inner: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """``inner`` (asyncpg's connect, or the caller's ``connect=``) called with a token as
    ``password`` and, when the caller named no role, the token's; retried once with a fresh
    token after a refused password when the provider's secrets rotate early."""

    async def connect_hook(*args: Any, **kw: Any) -> Any:
        async def attempt(info: Token) -> Any:
            with_token = {**kw, "password": info.secret}
            if need_user and not kw.get("user"):
                with_token["user"] = token_user(info, provider, "passmint.asyncpg")
            return await inner(*args, **with_token)

        return await connect_with_token_async(provider, attempt)

    return connect_hook


async def connect(
    dsn: str | None = None, *, provider: Provider, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **kw: Any,
) -> asyncpg.Connection[asyncpg.Record]:
    """``asyncpg.connect(dsn, **kw)`` with a token as the password, passmint's TLS and user
    defaults, and one retry after a refused password (see the module docstring)."""
    tls = TlsPolicy("passmint.asyncpg.connect()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    need_user = _prepare(dsn, kw, tls)
    # Looked up at each call, not bound at import: asyncpg.connect may be wrapped (tests, APMs).
    conn: asyncpg.Connection[asyncpg.Record] = await _with_token(provider, need_user, asyncpg.connect)(dsn, **kw)
    return conn


def create_pool(
    dsn: str | None = None, *, provider: Provider, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
    **kw: Any,
) -> Pool[asyncpg.Record]:
    """``asyncpg.create_pool(dsn, **kw)`` whose every physical connection logs in with a token,
    with passmint's TLS and user defaults and one retry after a refused password; use it like
    ``asyncpg.create_pool`` (``await`` it, or ``async with``)."""
    tls = TlsPolicy("passmint.asyncpg.create_pool()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)
    need_user = _prepare(dsn, kw, tls)
    # The token, and the role it names, are taken per connection in the pool's connect hook,
    # where a token can be awaited: a rotated secret or a new lease's username is used by the
    # next connection, not fixed when the pool was made.
    kw["connect"] = _with_token(provider, need_user, kw.get("connect") or asyncpg.connect)
    kw.pop("password", None)
    pool: Pool[asyncpg.Record] = asyncpg.create_pool(dsn, **kw)
    return pool
