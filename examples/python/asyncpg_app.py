"""An asyncpg pool whose every new connection logs in with a passmint token, without blocking
the event loop.

    python asyncpg_app.py [PROVIDER_URL] [DSN]

PROVIDER_URL defaults to $PASSMINT_PROVIDER; DSN (a postgresql:// URL) to $DATABASE_URL. Without
a provider URL, passmint picks one from the DSN's host. Opens a pool of 4 concurrently, runs a
query on each connection and prints one JSON line: the role, whether TLS is on, and how many
server sessions answered. Exit 2 when passmint cannot give a token.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import passmint
import passmint.asyncpg

QUERY = "SELECT current_user, ssl, pid FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


async def run(provider: passmint.Provider, dsn: str) -> dict[str, object]:
    # passmint.asyncpg.create_pool passes password=provider.token_async (asyncpg awaits it for
    # each new connection) and adds ssl="verify-full" and the token's user unless the DSN or
    # the keywords choose. Plain asyncpg.create_pool(dsn, password=provider.token_async) works too.
    async with passmint.asyncpg.create_pool(dsn, provider=provider, min_size=4, max_size=4) as pool:
        held = [await pool.acquire() for _ in range(4)]
        try:
            rows = [await conn.fetchrow(QUERY) for conn in held]
        finally:
            for conn in held:
                await pool.release(conn)
    present = [row for row in rows if row is not None]
    return {
        "users": sorted({str(row["current_user"]) for row in present}),
        "ssl": len(present) == len(rows) and all(bool(row["ssl"]) for row in present),
        "sessions": len({int(row["pid"]) for row in present}),
    }


def main(argv: list[str]) -> int:
    provider_url = argv[1] if len(argv) > 1 else os.environ.get("PASSMINT_PROVIDER", "")
    dsn = argv[2] if len(argv) > 2 else os.environ.get("DATABASE_URL", "")
    try:
        provider = passmint.Provider(provider_url) if provider_url else passmint.Provider.for_postgres_url(dsn)
        result = asyncio.run(run(provider, dsn))
    except passmint.Error as e:
        print(f"asyncpg_app: passmint {e.code}: {e.message}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
