"""passmint for Django: a PostgreSQL database backend whose every new connection logs in with a
fresh token.

    DATABASES = {
        "default": {
            "ENGINE": "passmint.django",
            "HOST": "abc123.dsql.us-east-1.on.aws",
            "NAME": "postgres",
            "OPTIONS": {"provider": "dsql://abc123.dsql.us-east-1.on.aws?user=app", "sslrootcert": "system"},
        }
    }

The backend is Django's own ``django.db.backends.postgresql`` (psycopg 3 or psycopg2, as Django
selects) with the password supplied per connection. The provider comes from, in order:

1. ``OPTIONS["provider"]``: a provider URL or a ``passmint.Provider``;
2. ``PASSMINT_PROVIDER``;
3. the database settings themselves, as ``Provider.for_postgres_url`` reads a postgres URL
   (an Azure, DSQL or RDS host name says which cloud).

One provider serves every connection of the process with the same URL, so its cache is shared
by all threads and aliases: with ``CONN_MAX_AGE = 0`` each request opens a connection, and the
token is a memory read after the first.

Every new connection asks the provider: a request's connection, a reconnect after
``CONN_HEALTH_CHECKS`` found one broken, and each connection Django 5.1+'s pool
(``OPTIONS["pool"]``, psycopg_pool) opens, grows or recycles. A credential problem is raised
as a ``passmint.Error`` at the first connect, before the pool would retry it into a timeout.

Defaults, as the other helpers (docs/DESIGN.md §7): without an ``sslmode`` in ``OPTIONS`` (or
PGSSLMODE), ``verify-full`` is used. ``disable``, ``allow`` and ``prefer`` raise
``passmint.InvalidConfigError`` unless ``OPTIONS["allow_plaintext"] = True``; ``require``, and
``verify-ca`` without a CA file of yours, unless ``OPTIONS["allow_unverified_tls"] = True``.
Without ``USER`` (or PGUSER), the role the token names is used. ``PASSWORD`` is refused: the
token is the password.

Rotation: when the server refuses a password, the provider is told; for a source whose secrets
rotate early (vault, awssm, file, exec) the connection is made once more with a fresh token.

``manage.py dbshell`` runs psql with a token in PGPASSWORD and the same TLS default and user.

dj-database-url: importing this module registers the ``postgres+passmint`` scheme, so
``dj_database_url.parse("postgres+passmint://app@abc123.dsql.us-east-1.on.aws/postgres")``
gives this backend; the URL's query becomes ``OPTIONS`` (``?provider=`` with a percent-encoded
provider URL, ``sslrootcert=system``...).
"""

from __future__ import annotations

#: The scheme dj-database-url maps to this backend.
DJ_DATABASE_URL_SCHEME = "postgres+passmint"


def _register_dj_database_url() -> None:
    try:
        import dj_database_url
    except ImportError:
        return
    register = getattr(dj_database_url, "register", None)
    if register is None:  # dj-database-url < 2.0 has no registry of schemes
        return
    adds_schema = register(DJ_DATABASE_URL_SCHEME, "passmint.django")
    # The postgres schemes' own step (``?currentSchema=`` -> search_path), where this version has it.
    current_schema = getattr(dj_database_url, "apply_current_schema", None)
    if current_schema is not None:
        adds_schema(current_schema)


_register_dj_database_url()
