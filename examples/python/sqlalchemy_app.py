"""A SQLAlchemy engine whose every new connection logs in with a passmint token.

    python sqlalchemy_app.py [PROVIDER_URL] [SQLALCHEMY_URL]

PROVIDER_URL defaults to $PASSMINT_PROVIDER; SQLALCHEMY_URL (postgresql+psycopg://,
+psycopg2:// or, for an AsyncEngine, +asyncpg://) to $DATABASE_URL. Without a provider URL,
passmint picks one from the URL's host. Opens two connections at once, runs a query on each and
prints one JSON line: the role, whether TLS is on, and how many server sessions answered.
Exit 2 when passmint cannot give a token.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import passmint
import passmint.sqlalchemy
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

QUERY = text("SELECT current_user, ssl, pid FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
Session = tuple[str, bool, int]  # (role, TLS on, server pid)


def session(row: Sequence[Any]) -> Session:
    return str(row[0]), bool(row[1]), int(row[2])


def sync_rows(provider: passmint.Provider, url: str) -> list[Session]:
    engine = create_engine(url, pool_size=2)
    # A do_connect listener: the password (and TLS and user defaults) for every new connection.
    passmint.sqlalchemy.attach(engine, provider)
    try:
        with engine.connect() as a, engine.connect() as b:
            return [session(conn.execute(QUERY).one()) for conn in (a, b)]
    finally:
        engine.dispose()


async def async_rows(provider: passmint.Provider, url: str) -> list[Session]:
    engine = create_async_engine(url, pool_size=2)
    passmint.sqlalchemy.attach(engine, provider)  # on engine.sync_engine; the token is awaited
    try:
        async with engine.connect() as a, engine.connect() as b:
            return [session((await conn.execute(QUERY)).one()) for conn in (a, b)]
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    provider_url = argv[1] if len(argv) > 1 else os.environ.get("PASSMINT_PROVIDER", "")
    url = argv[2] if len(argv) > 2 else os.environ.get("DATABASE_URL", "")
    try:
        if provider_url:
            provider = passmint.Provider(provider_url)
        else:  # the host (and user, port) from the SQLAlchemy URL, as a plain postgresql:// URL
            provider = passmint.Provider.for_postgres_url(make_url(url).set(drivername="postgresql").render_as_string())
        if make_url(url).get_dialect().is_async:
            rows = asyncio.run(async_rows(provider, url))
        else:
            rows = sync_rows(provider, url)
    except passmint.Error as e:
        print(f"sqlalchemy_app: passmint {e.code}: {e.message}", file=sys.stderr)
        return 2
    print(json.dumps({
        "users": sorted({row[0] for row in rows}),
        "ssl": all(row[1] for row in rows),
        "sessions": len({row[2] for row in rows}),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
