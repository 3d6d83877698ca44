"""passmint for psycopg2: every new connection logs in with a fresh token.

    import passmint, passmint.psycopg2, psycopg2.pool
    provider = passmint.Provider("rds://mydb.abc123.eu-west-1.rds.amazonaws.com:5432?user=app")
    factory = passmint.psycopg2.connection_factory(provider)
    conn = psycopg2.connect("host=mydb.abc123.eu-west-1.rds.amazonaws.com dbname=app", connection_factory=factory)
    pool = psycopg2.pool.ThreadedConnectionPool(1, 10, "host=... dbname=app", connection_factory=factory)

psycopg2 has no password callback (a callable ``password=`` is silently sent as ``str(fn)``).
``connection_factory(provider)`` returns a ``psycopg2.extensions.connection`` subclass that
rewrites the DSN it is given (``psycopg2.extensions.make_dsn``) with the token as ``password``.
``psycopg2.connect`` and every ``psycopg2.pool`` class pass ``connection_factory=`` through, so
each physical connection (including a pool replacing a closed one) asks the provider; the
cache makes that a memory read and concurrent connects share one identity request.

Rotation: when the server answers ``password authentication failed``, the factory tells the
provider (``provider.password_refused``). For a source whose secrets rotate before any expiry
passmint knew (vault, awssm, file, exec) it connects once more with a fresh token (and its
username); a second refusal is raised. IAM tokens and callbacks are never retried. libpq
reports a refused connection as text only, so this is recognised by the server's English
message. The connection is made when the object is created (``__new__``), so that the retry is
a new object: psycopg2 cannot set one up twice. An asynchronous connection (``async_=True``)
fails later, in ``poll()``, and is not retried.

Defaults (docs/DESIGN.md §7): when neither the DSN nor PGSSLMODE choose an sslmode,
``sslmode=verify-full`` is added (give libpq the server's CA with ``sslrootcert=``,
PGSSLROOTCERT, ``~/.postgresql/root.crt``, or ``sslrootcert=system`` on libpq >= 16).
``sslmode=disable``, ``allow`` or ``prefer`` raise ``passmint.InvalidConfigError`` unless
``allow_plaintext=True``; ``require``, and ``verify-ca`` without a CA file of yours, check no
server name and raise unless ``allow_unverified_tls=True``. When no ``user`` is given (nor
PGUSER), the token's role is used (``Token.username``, else ``provider.username``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import psycopg2
import psycopg2.extensions

from ._helpers import LibpqLogin, TlsPolicy, connect_with_token, require_version

if TYPE_CHECKING:
    from typing import Self

    from ._native import Provider, Token

__all__ = ["connection_factory"]

#: The oldest psycopg2 these helpers are tested with (tests/python-oldest/requirements.txt).
MINIMUM = "2.9"
# (types-psycopg2 declares no __version__; psycopg2 has had one since 2.0.)
require_version("psycopg2", getattr(psycopg2, "__version__", "0"), MINIMUM, "passmint.psycopg2", "parse_dsn and make_dsn")


def connection_factory(
    provider: Provider, *, allow_plaintext: bool = False, allow_unverified_tls: bool = False
) -> type[psycopg2.extensions.connection]:
    """A ``psycopg2.extensions.connection`` subclass for ``connection_factory=`` whose connections
    log in with a token from ``provider`` (blocking on a cold cache, with the GIL released). A
    password the server refuses is retried once with a fresh token when the provider's secrets
    rotate early (see the module docstring)."""
    tls = TlsPolicy("passmint.psycopg2.connection_factory()", provider, allow_plaintext=allow_plaintext,
                    allow_unverified_tls=allow_unverified_tls)

    class PassmintConnection(psycopg2.extensions.connection):
        passmint_provider = provider

        def __new__(cls, dsn: str, *args: Any, **kwargs: Any) -> Self:
            # Connected here rather than in __init__: a retry needs a new object.
            login = LibpqLogin(psycopg2.extensions.parse_dsn(dsn), tls)
            base = psycopg2.extensions.connection

            def attempt(info: Token) -> PassmintConnection:
                conn = base.__new__(cls)
                base.__init__(conn, psycopg2.extensions.make_dsn(dsn, **login.apply({}, info, provider)), *args, **kwargs)
                return conn

            return cast("Self", connect_with_token(provider, attempt))

        def __init__(self, dsn: str, *args: Any, **kwargs: Any) -> None:
            """Already connected, by ``__new__``."""

    return PassmintConnection
