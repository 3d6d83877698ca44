"""`manage.py drive`: the test's hands inside a running Django process.

It reads one command per line on stdin and answers each with one JSON line on stdout, so the
test can act between steps (rotate a password, stop a backend) while this process keeps its
connections, its pool and its provider's cache, as a server would:

    request ALIAS                one request through the test client, as the handler runs it
    requests COUNT THREADS ALIAS COUNT requests spread over THREADS threads
    session ALIAS                who this thread's connection is (opened if needed, then kept)
    thread ALIAS                 the same from a new thread, whose connection is then closed
    pool ALIAS SIZE              fill ALIAS's pool, hold SIZE connections and say who they are
    copy ALIAS                   who a copy of ALIAS's wrapper (DatabaseWrapper.copy()) logs in as
    token ALIAS                  which token ALIAS's provider hands out now (a digest)
    quit
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections
from django.test import Client

from notes.views import session


def request(client: Client, alias: str) -> dict:
    # The handler's request_started/request_finished both run close_old_connections (which
    # applies CONN_MAX_AGE and CONN_HEALTH_CHECKS); the test client holds that back for test
    # transactions, so it is run here, where the handler would.
    close_old_connections()
    try:
        response = client.get("/who/", {"alias": alias})
        return json.loads(response.content)
    finally:
        close_old_connections()


def in_thread(work):
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = work()
        except Exception as e:  # noqa: BLE001 - reported to the test
            out["value"] = failure(e)
        finally:
            connections.close_all()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["value"]


def thread_session(alias: str) -> dict:
    return in_thread(lambda: session(connections[alias]))


def failure(e: BaseException) -> dict:
    chain = e.__cause__ or e.__context__
    return {"error": type(e).__name__, "module": type(e).__module__, "message": str(e),
            "cause": None if chain is None else f"{type(chain).__name__}: {chain}"}


def many(count: int, threads: int, alias: str) -> dict:
    results: list[dict] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        client = Client()
        for _ in range(n):
            try:
                r = request(client, alias)
            except Exception as e:  # noqa: BLE001
                r = failure(e)
            with lock:
                results.append(r)
        connections.close_all()

    share = [count // threads + (i < count % threads) for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(n,)) for n in share]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    errors = [r for r in results if "error" in r]
    ok = [r for r in results if "error" not in r]
    return {"ok": len(ok), "errors": errors[:3], "users": sorted({r["user"] for r in ok}),
            "pids": len({r["pid"] for r in ok}), "ssl": sorted({r["ssl"] for r in ok}),
            "sslmodes": sorted({str(r["sslmode"]) for r in ok}), "drivers": sorted({r["driver"] for r in ok}),
            "notes": max((r["notes"] for r in ok), default=0)}


def fill_pool(alias: str, size: int) -> dict:
    conn = connections[alias]
    conn.ensure_connection()  # opens the pool
    conn.close()  # back to the pool: every connection is free
    pool = conn.pool
    pool.wait(timeout=30)
    stats = pool.get_stats()
    held = [pool.getconn(timeout=10) for _ in range(size)]
    try:
        rows = [c.execute("SELECT current_user, pg_backend_pid()").fetchone() for c in held]
        ssl = {c.pgconn.ssl_in_use for c in held}
    finally:
        for c in held:
            pool.putconn(c)
    return {"connections": stats.get("connections_num"), "users": sorted({r[0] for r in rows}),
            "pids": len({r[1] for r in rows}), "ssl": sorted(ssl)}


def copied(alias: str) -> dict:
    original = connections[alias]
    # copy() deep-copies the settings, a passmint.Provider in OPTIONS included.
    duplicate = original.copy()
    try:
        return {**session(duplicate), "same_provider": duplicate.passmint_provider is original.passmint_provider}
    finally:
        duplicate.close()


def token_digest(alias: str) -> dict:
    # A digest (as the door logs it), never the token: this answer goes to the test's log.
    token = connections[alias].passmint_provider.token()
    return {"digest": hashlib.sha256(token.encode()).hexdigest()[:16]}


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        client = Client()
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            name, rest = words[0], words[1:]
            if name == "quit":
                break
            try:
                if name == "request":
                    answer = request(client, rest[0])
                elif name == "requests":
                    answer = many(int(rest[0]), int(rest[1]), rest[2])
                elif name == "session":
                    answer = session(connections[rest[0]])
                elif name == "thread":
                    answer = thread_session(rest[0])
                elif name == "pool":
                    answer = fill_pool(rest[0], int(rest[1]))
                elif name == "copy":
                    answer = copied(rest[0])
                elif name == "token":
                    answer = token_digest(rest[0])
                else:
                    answer = {"error": "UnknownCommand", "message": name}
            except Exception as e:  # noqa: BLE001 - reported to the test
                answer = failure(e)
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
        connections.close_all()
