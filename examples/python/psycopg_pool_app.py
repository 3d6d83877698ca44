"""A psycopg_pool pool whose every new connection logs in with a passmint token.

    python psycopg_pool_app.py [PROVIDER_URL] [CONNINFO]

PROVIDER_URL defaults to $PASSMINT_PROVIDER; CONNINFO (libpq keywords or a postgresql:// URL) to
$DATABASE_URL. Without a provider URL, passmint picks one from CONNINFO's host (a URL then).
Opens a pool of 4, runs a query on each connection and prints one JSON line: the role, whether
TLS is on, and how many server sessions answered. Exit 2 when passmint cannot give a token.
"""

from __future__ import annotations

import json
import os
import sys

import passmint
import passmint.psycopg
from psycopg_pool import ConnectionPool

QUERY = "SELECT current_user, ssl, pid FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def main(argv: list[str]) -> int:
    provider_url = argv[1] if len(argv) > 1 else os.environ.get("PASSMINT_PROVIDER", "")
    conninfo = argv[2] if len(argv) > 2 else os.environ.get("DATABASE_URL", "")
    try:
        # One provider per database target, shared by the whole process: its cache makes the
        # pool's four connects cost one identity request.
        provider = passmint.Provider(provider_url) if provider_url else passmint.Provider.for_postgres_url(conninfo)
        # psycopg_pool retries failed connects in the background until its timeout: mint once
        # first, so a credential problem is a passmint error now rather than a PoolTimeout later.
        provider.token()
        # verify-full unless conninfo chooses an sslmode; the user from the token unless named.
        # (psycopg_pool >= 3.3 also takes kwargs=passmint.psycopg.kwargs(provider, conninfo).)
        connection_class = passmint.psycopg.connection_class(provider)
        with ConnectionPool(conninfo, connection_class=connection_class, min_size=4, open=True) as pool:
            pool.wait(timeout=30)
            held = [pool.getconn() for _ in range(4)]
            rows = [conn.execute(QUERY).fetchone() for conn in held]
            for conn in held:
                pool.putconn(conn)
    except passmint.Error as e:
        print(f"psycopg_pool_app: passmint {e.code}: {e.message}", file=sys.stderr)
        return 2
    users = sorted({row[0] for row in rows if row is not None})
    ssl = all(row is not None and row[1] for row in rows)
    sessions = len({row[2] for row in rows if row is not None})
    print(json.dumps({"users": users, "ssl": ssl, "sessions": sessions}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
