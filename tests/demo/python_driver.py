"""`make demo`: one Python driver logs in through passmint's helper and prints one JSON line.

    python python_driver.py psycopg|psycopg_pool|asyncpg|sqlalchemy|django

The provider URL is $PASSMINT_PROVIDER; the server the usual PG* variables. No user is given:
the helpers take the role from the token. Prints {"user", "ms"}: the role the server says this
session is, and the milliseconds from building the provider to the answer (the token included).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import passmint
import passmint.asyncpg
import passmint.psycopg
import passmint.sqlalchemy

QUERY = "SELECT current_user"


def conninfo() -> str:
    return f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} dbname={os.environ['PGDATABASE']}"


def psycopg_(provider: passmint.Provider) -> str:
    with passmint.psycopg.connection_class(provider).connect(conninfo()) as conn:
        return conn.execute(QUERY).fetchone()[0]


def psycopg_pool_(provider: passmint.Provider) -> str:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(conninfo(), connection_class=passmint.psycopg.connection_class(provider), min_size=2) as pool, \
            pool.connection() as conn:
        return conn.execute(QUERY).fetchone()[0]


def asyncpg_(provider: passmint.Provider) -> str:
    async def run() -> str:
        conn = await passmint.asyncpg.connect(host=os.environ["PGHOST"], port=int(os.environ["PGPORT"]),
                                              database=os.environ["PGDATABASE"], provider=provider)
        try:
            return await conn.fetchval(QUERY)
        finally:
            await conn.close()

    return asyncio.run(run())


def sqlalchemy_(provider: passmint.Provider) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg://{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}")
    passmint.sqlalchemy.attach(engine, provider)
    try:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(QUERY)).scalar_one()
    finally:
        engine.dispose()


def django_(provider: passmint.Provider) -> str:
    import django
    from django.conf import settings

    settings.configure(DATABASES={"default": {
        "ENGINE": "passmint.django", "HOST": os.environ["PGHOST"], "PORT": os.environ["PGPORT"],
        "NAME": os.environ["PGDATABASE"], "OPTIONS": {"provider": provider}}})
    django.setup()
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(QUERY)
            return cursor.fetchone()[0]
    finally:
        connection.close()


DRIVERS = {"psycopg": psycopg_, "psycopg_pool": psycopg_pool_, "asyncpg": asyncpg_, "sqlalchemy": sqlalchemy_,
           "django": django_}


def main(driver: str) -> int:
    started = time.perf_counter()
    try:
        user = DRIVERS[driver](passmint.Provider(os.environ["PASSMINT_PROVIDER"]))
    except Exception as e:  # noqa: BLE001 - any failure is a cell of the demo's table
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps({"user": user, "ms": round((time.perf_counter() - started) * 1000, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
