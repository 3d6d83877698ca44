"""Connection storms and first tokens, passmint beside the alternatives, in one run (issue 7).

Storm: 200 callers ask for a password at the same moment on a cold cache, as a pool does when
it opens 200 connections at once. The count that matters is the identity requests that reach
the (mock) identity endpoint, each delayed by 50 ms as a real one would be:

- Azure App Service managed identity:
  - passmint's `token()` from 200 threads;
  - azure-identity's `ManagedIdentityCredential`, shared, sync from 200 threads and `aio`
    from 200 tasks;
  - from Node (tests/bench/bench_storm.mjs): passmint and `@azure/identity`.
- Google (a service account key, the token endpoint):
  - passmint's `token()`;
  - google-auth's shared service-account credentials, refreshed when not `valid`, as a
    per-connection password hook uses them;
  - from Node: passmint and google-auth-library's shared client (`getAccessToken()`).
- Aurora DSQL (container credentials):
  - passmint's `token()`;
  - aurora-dsql-python-connector's per-connect token step, which builds a boto3 session each
    time;
  - from Node: passmint and `@aws-sdk/dsql-signer` as the DSQL node-postgres connector uses it
    (a new signer on the default chain per connection).

First token: for each library, the time and resident memory of a fresh process that imports
it and gets one token.

    tests/run build/venv/bin/python tests/bench/bench_storm.py       (make bench runs it via bench_report)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import gcp
from harness.mock import MockIdentityServer

TOP = Path(__file__).resolve().parents[2]
CALLERS = 200
LATENCY = 0.05  # seconds each identity request takes at the mock
DSQL_HOST = "abc123example.dsql.us-east-1.on.aws"
SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
APPSERVICE, CONTAINER = "/azure/appservice/token", "/aws/container-credentials"
GOOGLE = "/gcp/oauth2/token"


def storm_threads(call: Callable[[], object]) -> tuple[float, int]:
    """Runs `call` from CALLERS threads released together: (seconds until the last returned,
    how many failed)."""
    barrier = threading.Barrier(CALLERS + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - counted and reported
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - started, len(errors)


def counted(mock: MockIdentityServer, path: str, run: Callable[[], tuple[float, int]]) -> dict[str, Any]:
    before = len(mock.requests(path))
    seconds, failed = run()
    return {"requests": len(mock.requests(path)) - before, "seconds": round(seconds, 3), "failed": failed}


def python_storms(mock: MockIdentityServer) -> dict[str, Any]:
    import passmint
    from azure.identity import ManagedIdentityCredential
    from azure.identity.aio import (
        ManagedIdentityCredential as AioManagedIdentityCredential,
    )
    from bench_python import google_auth_password

    out: dict[str, Any] = {}
    out["passmint (Python) Azure"] = counted(mock, APPSERVICE, lambda: storm_threads(
        passmint.azure(credential="managed").token))
    shared = ManagedIdentityCredential()
    out["azure-identity (sync, shared credential)"] = counted(mock, APPSERVICE, lambda: storm_threads(
        lambda: shared.get_token(SCOPE)))

    async def aio_storm() -> tuple[float, int]:
        async with AioManagedIdentityCredential() as credential:
            started = time.perf_counter()
            results = await asyncio.gather(*(credential.get_token(SCOPE) for _ in range(CALLERS)), return_exceptions=True)
            return time.perf_counter() - started, sum(isinstance(r, BaseException) for r in results)

    out["azure-identity (aio, shared credential)"] = counted(mock, APPSERVICE, lambda: asyncio.run(aio_storm()))

    out["passmint (Python) Google"] = counted(mock, GOOGLE, lambda: storm_threads(passmint.gcp().token))
    google_auth_token = google_auth_password(os.environ["GOOGLE_APPLICATION_CREDENTIALS"])
    out["google-auth (shared credentials)"] = counted(mock, GOOGLE, lambda: storm_threads(google_auth_token))

    out["passmint (Python) DSQL"] = counted(mock, CONTAINER, lambda: storm_threads(passmint.dsql(DSQL_HOST).token))
    try:
        from dsql_core.connection_utils import ConnectionUtilities
    except ImportError as e:
        out["aurora-dsql-python-connector"] = {"skipped": str(e)}
    else:
        out["aurora-dsql-python-connector"] = counted(mock, CONTAINER, lambda: storm_threads(
            lambda: ConnectionUtilities.parse_properties_and_set_token(
                f"postgresql://admin@{DSQL_HOST}/postgres", {}, driver_name="psycopg")))
    return out


FIRST_TOKEN_PY = {
    "passmint (Python), DSQL": "import passmint; passmint.dsql({host!r}).token()",
    "passmint (Python), Azure": "import passmint; passmint.azure(credential='managed').token()",
    "boto3, DSQL": "import boto3; boto3.Session().client('dsql', region_name='us-east-1')"
                   ".generate_db_connect_admin_auth_token({host!r}, 'us-east-1')",
    "azure-identity, Azure": "from azure.identity import ManagedIdentityCredential; "
                             "ManagedIdentityCredential().get_token({scope!r})",
}


def first_token_py(env: dict[str, str], runs: int) -> dict[str, Any]:
    """Milliseconds from interpreter start to the first token, and RSS then (medians)."""
    out: dict[str, Any] = {}
    for name, stmt in FIRST_TOKEN_PY.items():
        code = ("import time; t = time.perf_counter()\n" + stmt.format(host=DSQL_HOST, scope=SCOPE) + "\n"
                "ms = (time.perf_counter() - t) * 1000\n"
                "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]\n"
                "print(ms, rss)\n")
        samples = []
        for _ in range(runs):
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            ms, rss = r.stdout.split()
            samples.append((float(ms), int(rss)))
        samples.sort()
        mid = samples[len(samples) // 2]
        out[name] = {"ms": round(mid[0], 1), "rss_mib": round(sorted(s[1] for s in samples)[len(samples) // 2] / 1024, 1)}
    return out


def main(quick: bool = False) -> dict[str, Any]:
    from bench_python import shared_ca

    with MockIdentityServer(shared_ca()) as mock:
        for route in ("azure-appservice", "container", "gcp-token"):
            mock.fault(route, delay=LATENCY)
        key = Path(tempfile.mkdtemp()) / "google-key.json"
        key.write_text(json.dumps(gcp.service_account(mock)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))}
        env.update(IDENTITY_ENDPOINT=mock.http_url + APPSERVICE, IDENTITY_HEADER=mock.identity_header,
                   AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + CONTAINER, AWS_REGION="us-east-1",
                   GOOGLE_APPLICATION_CREDENTIALS=str(key), PASSMINT_CA_BUNDLE=str(mock.ca_pem),
                   REQUESTS_CA_BUNDLE=str(mock.ca_pem), NODE_EXTRA_CA_CERTS=str(mock.ca_pem))
        saved = os.environ.copy()
        os.environ.clear()
        os.environ.update(env)
        try:
            storms = python_storms(mock)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        node = subprocess.run(["node", str(TOP / "tests" / "bench" / "bench_storm.mjs"), str(CALLERS)],
                              env={**env, "PASSMINT_TEST_MOCK": mock.http_url, "PASSMINT_TEST_MOCK_HTTPS": mock.https_url},
                              capture_output=True, text=True,
                              check=True)
        node_out = json.loads(node.stdout)
        storms.update(node_out["storms"])
        runs = 3 if quick else 7
        first = first_token_py(env, runs)
        first.update(node_out["first_token"])
    return {"callers": CALLERS, "latency_ms": LATENCY * 1000, "storms": storms, "first_token": first}


if __name__ == "__main__":
    print(json.dumps(main(quick="--quick" in sys.argv[1:]), indent=2))
