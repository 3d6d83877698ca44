"""Review finding 1 from Python, the gunicorn --preload / celery prefork pattern: in a process
where passmint has never run, a thread is inside the first fetch (runtime start, TLS roots, the
SDK's statics, the request) when ``os.fork()`` happens. The child's blocking and async gets must
end within the deadline, and the async future must complete.

    python -m harness.fork_stress URL FORKS WINDOW_MS      prints one JSON line of outcomes

This process never uses passmint itself; each round is a fresh child of it, eight at a time,
forking at a different point 0..WINDOW_MS into its first fetch.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time

import passmint

DEADLINE = 10
OUTCOMES = {0: "ok", 1: "error", 2: "slow", 3: "future-never-done"}


def child(inherited: passmint.Provider, url: str) -> int:
    """0 all tokens, 1 an error, 2 a get past the deadline, 3 a future never completed."""
    signal.alarm(3 * DEADLINE)  # a hang dies of SIGALRM

    async def bounded() -> str:
        return await asyncio.wait_for(inherited.token_async(), DEADLINE + 2)

    code = 0
    for get in (inherited.token, lambda: asyncio.run(bounded()), lambda: passmint.Provider(url).token()):
        started = time.monotonic()
        try:
            get()
        except passmint.Error:
            code = max(code, 1)
        except TimeoutError:  # wait_for gave up: the future never completed
            return 3
        if time.monotonic() - started > DEADLINE + 1:
            return 2
    return code


def reap(pid: int, limit: float) -> int:
    born = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return code if code in OUTCOMES else 4
        if time.monotonic() - born > limit:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 4
        time.sleep(0.002)


def round_(url: str, delay: float) -> int:
    provider = passmint.Provider(url)
    fetcher = threading.Thread(target=provider.token)
    fetcher.start()
    time.sleep(delay)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child(provider, url)
        finally:
            os._exit(code)
    code = reap(pid, 3 * DEADLINE + 5)
    fetcher.join()
    return code


def main() -> None:
    url, forks, window_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    started = time.monotonic()
    counts: dict[str, int] = {}
    running: dict[int, float] = {}
    launched = 0
    while launched < forks or running:
        if launched < forks and len(running) < 8:
            delay = (launched * 7919 % (window_ms * 1000)) / 1e6
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = round_(url, delay)
                finally:
                    os._exit(code)
            running[pid] = time.monotonic()
            launched += 1
            continue
        for pid, born in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() - born < 6 * DEADLINE + 10:
                continue
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                code = 4
            else:
                code = os.waitstatus_to_exitcode(status)
            name = OUTCOMES.get(code, "hung")
            counts[name] = counts.get(name, 0) + 1
            del running[pid]
        time.sleep(0.001)
    print(json.dumps({"forks": forks, **counts, "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
