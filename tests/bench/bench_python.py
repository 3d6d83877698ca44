"""Python benchmarks for issue 5, measured in one run (`main()` returns them as a dict; run as a
script it prints them as JSON):

- cached ``p.token()`` (target ≤ 0.5 µs) and ``p.token_info()``;
- ``await p.token_async()`` on a warm cache, inside one running loop (target ≤ 0.7 µs: issue 17's
  "no slower than before it became a native coroutine");
- ``import passmint`` time and peak RSS in a fresh interpreter (targets ≤ 20 ms, ≤ 20 MiB),
  beside ``import azure.identity`` and ``import boto3``;
- azure-identity's cached ``ManagedIdentityCredential.get_token`` (App Service, against the
  harness mock) vs passmint's cached Azure ``token()``;
- google-auth's service-account credentials (``valid`` checked, then ``token``: what a
  per-connection hook does) vs passmint's cached Google ``token()``, against the harness mock;
- boto3 ``generate_db_connect_admin_auth_token`` vs passmint's cached DSQL ``token()``;
- aurora-dsql-python-connector's per-connect work (parse, new boto3 session and client, sign)
  vs passmint.psycopg's (parse the conninfo, cached token), both without the TCP connect;
- django-iam-dbauth's per-connect work (a new boto3 session and client, sign) vs the
  passmint.django backend's (a cached token), both without the driver's connect.

Static AWS credentials come from the environment (a 1.5 KB token with a session token, as
with a role); nothing leaves loopback, so it runs under tests/run:

    tests/run build/venv/bin/python tests/bench/bench_python.py [--quick]

Medians over `repeat` timeit runs, with the median absolute deviation; ratios are peer / passmint.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # harness.mock, when run as a script

DSQL_HOST = "abc123example.dsql.us-east-1.on.aws"
REGION = "us-east-1"
RDS_HOST, RDS_REGION = "mydb.abc123example.eu-west-1.rds.amazonaws.com", "eu-west-1"
SESSION = "IQoJb3JpZ2luX2VjE/+abc==//xyz+def=ghi" * 20  # ~800 characters, like a role's
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         "AWS_SESSION_TOKEN": SESSION, "AWS_REGION": REGION}
SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
TARGETS_NS = {"token_cached": 500, "token_async_warm": 700}
TARGET_IMPORT_MS, TARGET_IMPORT_MIB = 20.0, 20.0


@functools.cache
def shared_ca() -> Any:
    """One CA for every mock of this process: passmint reads PASSMINT_CA_BUNDLE once per process,
    at its first identity request, so the mocks of bench_python and bench_storm (one process under
    bench_report) must share it."""
    from harness.ca import make_ca

    ca = make_ca(tempfile.mkdtemp(prefix="passmint-bench-ca-"))
    os.environ["PASSMINT_CA_BUNDLE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_pem)
    return ca


def google_auth_password(key_file: str) -> Callable[[], str]:
    """google-auth as a per-connection password hook uses it: one service-account credentials
    object, refreshed whenever it is not `valid`, its `token` the password."""
    import google.auth.transport.requests
    from google.oauth2 import service_account
    from harness import gcp

    creds = service_account.Credentials.from_service_account_file(key_file, scopes=[gcp.SQL_LOGIN])
    request = google.auth.transport.requests.Request()

    def password() -> str:
        if not creds.valid:
            creds.refresh(request)
        return creds.token

    return password


def stats(runs_ns: list[float]) -> dict[str, float]:
    med = statistics.median(runs_ns)
    return {"median_ns": round(med, 1), "mad_ns": round(statistics.median(abs(r - med) for r in runs_ns), 1)}


def timed(fn: Callable[[], object], number: int, repeat: int) -> dict[str, float]:
    fn()  # warm: the first call may fetch, compile or import
    return stats([t / number * 1e9 for t in timeit.repeat(fn, number=number, repeat=repeat)])


def with_target(row: dict[str, float], target_ns: float) -> dict[str, Any]:
    return {**row, "target_ns": target_ns, "met": row["median_ns"] <= target_ns}


def ratio(peer: dict[str, float], ours: dict[str, float]) -> float:
    return round(peer["median_ns"] / ours["median_ns"], 1)


def import_cost(module: str | None, runs: int) -> dict[str, float]:
    """Median wall time of ``import module`` and the interpreter's peak RSS (VmHWM) after it, each
    in a fresh interpreter (``None``: the bare interpreter, for the baseline)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec,
    # so every child would report this (large) process's peak.
    code = (
        "import time\n"
        "t = time.perf_counter()\n"
        + (f"import {module}\n" if module else "")
        + "dt = time.perf_counter() - t\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(dt, hwm)\n"
    )
    samples = []
    for i in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=os.environ.copy()).stdout.split()
        if i:  # the first run warms the page cache and writes .pyc files
            samples.append((float(out[0]), int(out[1])))
    return {"ms": round(statistics.median(s[0] for s in samples) * 1000, 2),
            "peak_rss_mib": round(statistics.median(s[1] for s in samples) / 1024, 1)}


def django_per_connect(quick: bool, repeat: int) -> dict[str, Any]:
    """Each Django backend's work for one new connection before the driver's connect (replaced
    here by returning its arguments): ``get_connection_params`` then ``get_new_connection``.
    django-iam-dbauth makes a boto3 session and client and signs, for every connection;
    passmint.django reads its provider's cached token. Both for the same RDS host and user."""
    try:
        import django_iam_dbauth  # noqa: F401 - only whether it is there
    except ImportError as e:
        return {"django_iam_dbauth_per_connect": {"skipped": f"django-iam-dbauth not installed: {e}"}}
    import django
    import passmint.django  # noqa: F401 - the backend module Django loads
    from django.conf import settings
    from django.db.backends.postgresql import base as postgresql

    common = {"HOST": RDS_HOST, "PORT": "5432", "NAME": "app", "USER": "app"}
    settings.configure(DATABASES={
        "default": {**common, "ENGINE": "passmint.django", "OPTIONS": {"provider": f"rds://{RDS_HOST}:5432?user=app"}},
        # No CNAME lookup: the host is an RDS name already (and nothing may leave loopback).
        "peer": {**common, "ENGINE": "django_iam_dbauth.aws.postgresql",
                 "OPTIONS": {"use_iam_auth": True, "region_name": RDS_REGION, "resolve_cname_enabled": False}},
    })
    django.setup()
    from django.db import connections

    driver_connect = postgresql.Database.connect
    postgresql.Database.connect = lambda **kwargs: kwargs  # type: ignore[assignment]
    try:
        def per_connect(alias: str) -> Callable[[], object]:
            wrapper = connections[alias]
            return lambda: wrapper.get_new_connection(wrapper.get_connection_params())

        ours = timed(per_connect("default"), 200 if quick else 20_000, repeat)
        theirs = timed(per_connect("peer"), 3 if quick else 200, repeat)
    finally:
        postgresql.Database.connect = driver_connect
    return {"passmint_django_per_connect": ours,
            "django_iam_dbauth_per_connect": {**theirs, "ratio": ratio(theirs, ours),
                                              "version": metadata.version("django-iam-dbauth")}}


def main(quick: bool = False) -> dict[str, Any]:
    number, repeat = (20_000, 3) if quick else (200_000, 7)
    os.environ.update(CREDS)
    import boto3
    import passmint
    import passmint.psycopg
    from azure.identity import ManagedIdentityCredential
    from harness import gcp
    from harness.mock import MockIdentityServer

    # One mock for the Azure and Google rows, its CA trusted before any identity request.
    mock = MockIdentityServer(shared_ca()).start()

    out: dict[str, Any] = {"meta": {
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "passmint": passmint.__version__,
        "peers": {name: metadata.version(name) for name in ("boto3", "azure-identity", "google-auth", "psycopg")},
        "number": number, "repeat": repeat,
    }}

    # --- passmint's hot paths -----------------------------------------------------------------
    dsql = passmint.dsql(DSQL_HOST)
    token = dsql.token()
    out["meta"]["dsql_token_chars"] = len(token)
    out["token_cached"] = with_target(timed(dsql.token, number, repeat), TARGETS_NS["token_cached"])
    out["token_info_cached"] = timed(dsql.token_info, number, repeat)

    async def in_one_loop() -> list[float]:
        await dsql.token_async()
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(number):
                await dsql.token_async()
            runs.append((time.perf_counter() - started) / number * 1e9)
        return runs

    out["token_async_warm"] = with_target(stats(asyncio.run(in_one_loop())), TARGETS_NS["token_async_warm"])

    # --- azure-identity vs passmint, cached, App Service managed identity -------------------------
    os.environ["IDENTITY_ENDPOINT"] = mock.http_url + "/azure/appservice/token"
    os.environ["IDENTITY_HEADER"] = mock.identity_header
    try:
        credential = ManagedIdentityCredential()
        azure_identity = timed(lambda: credential.get_token(SCOPE), number // 10, repeat)
        azure = passmint.azure(credential="managed")
        ours = timed(azure.token, number, repeat)
        fetched = len(mock.requests("/azure/appservice/token"))
    finally:
        os.environ.pop("IDENTITY_ENDPOINT")
        os.environ.pop("IDENTITY_HEADER")
    out["azure_token_cached"] = ours
    out["azure_identity_get_token_cached"] = {**azure_identity, "ratio": ratio(azure_identity, ours),
                                              "identity_requests": fetched}

    # --- google-auth vs passmint, cached, a service account key -----------------------------------
    key = Path(mock.ca_pem).parent / "google-key.json"
    key.write_text(json.dumps(gcp.service_account(mock)))
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(key)
    try:
        google_auth_token = google_auth_password(str(key))
        theirs = timed(google_auth_token, number // 10, repeat)
        ours = timed(passmint.gcp().token, number, repeat)
    finally:
        os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS")
    out["gcp_token_cached"] = ours
    out["google_auth_token_cached"] = {**theirs, "ratio": ratio(theirs, ours),
                                       "identity_requests": len(mock.requests(gcp.TOKEN_PATH))}
    mock.stop()

    # --- boto3 signing vs passmint's cached DSQL token -------------------------------------------
    client = boto3.Session().client("dsql", region_name=REGION)
    sign = timed(lambda: client.generate_db_connect_admin_auth_token(DSQL_HOST, REGION, 900), number // 100, repeat)
    out["boto3_generate_db_connect_admin_auth_token"] = {**sign, "ratio": ratio(sign, out["token_cached"])}

    # --- per-connect work before the TCP connect: aurora-dsql-python-connector vs passmint ----------
    conninfo = f"host={DSQL_HOST} dbname=postgres user=admin"
    cls = passmint.psycopg.connection_class(dsql)
    from passmint._helpers import TlsPolicy

    tls = TlsPolicy("bench", dsql, allow_plaintext=False, allow_unverified_tls=False)

    def passmint_connect_prep() -> object:
        # What PassmintConnection.connect does before psycopg's own connect.
        return passmint.psycopg._login(conninfo, {}, tls).apply({}, dsql.token_info(), dsql)

    ours = timed(passmint_connect_prep, number // 10, repeat)
    out["passmint_psycopg_per_connect"] = {**ours, "class": cls.__name__}
    try:
        from dsql_core.connection_utils import ConnectionUtilities
    except ImportError as e:
        out["aurora_dsql_connector_per_connect"] = {"skipped": f"aurora-dsql-python-connector not installed: {e}"}
    else:
        def connector_prep() -> object:
            return ConnectionUtilities.parse_properties_and_set_token(
                f"postgresql://admin@{DSQL_HOST}/postgres", {}, driver_name="psycopg")

        theirs = timed(connector_prep, 3 if quick else 20, repeat)
        out["aurora_dsql_connector_per_connect"] = {
            **theirs, "ratio": ratio(theirs, ours), "version": metadata.version("aurora-dsql-python-connector")}

    out.update(django_per_connect(quick, repeat))

    # --- import time and peak RSS, each in a fresh interpreter -----------------------------------
    runs = 3 if quick else 7
    bare = import_cost(None, runs)
    imports: dict[str, Any] = {"bare interpreter": bare}
    for module in ("passmint", "azure.identity", "boto3"):
        cost = import_cost(module, runs)
        imports[module] = {**cost, "rss_over_bare_mib": round(cost["peak_rss_mib"] - bare["peak_rss_mib"], 1)}
    imports["passmint"].update(target_ms=TARGET_IMPORT_MS, target_peak_rss_mib=TARGET_IMPORT_MIB,
                               met=imports["passmint"]["ms"] <= TARGET_IMPORT_MS
                               and imports["passmint"]["peak_rss_mib"] <= TARGET_IMPORT_MIB)
    out["import"] = imports
    return out


if __name__ == "__main__":
    print(json.dumps(main(quick="--quick" in sys.argv[1:]), indent=2))
