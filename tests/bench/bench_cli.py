"""The `passmint` CLI as a token command (issue 18): the wall time of one run, 100 runs in a
row, with the shared token cache (the default) and without it, beside runs that start the
harness's fake `az` each time. Counted at the mock: the identity requests the runs made.

    tests/run build/venv/bin/python tests/bench/bench_cli.py

Uses the release binary (`make bench` builds it); nothing leaves loopback.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the harness, as a script

from harness.azcli import FakeAzureClis
from harness.env import hermetic_env
from harness.mock import MockIdentityServer
from harness.native import route_requests

TOP = Path(os.environ.get("PASSMINT_TOP", Path(__file__).resolve().parents[2]))
CLI = Path(os.environ.get("CARGO_TARGET_DIR", TOP / "target")) / "release" / "passmint"
RUNS = 100
TARGET_CACHED_MS = 5.0
#: The real Azure CLI, when `make bench` could install it from PyPI (build/venv-azcli).
REAL_AZ = Path(os.environ.get("PASSMINT_BENCH_AZ", TOP / "build" / "venv-azcli" / "bin" / "az"))
AZ_RUNS = 10


def timed_runs(args: list[str], env: dict[str, str], runs: int, exe: Path = CLI) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        r = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
        if r.returncode != 0:
            raise RuntimeError(f"{exe.name} {' '.join(args)}: {r.stderr}")
    med = statistics.median(times)
    return {"median_ms": round(med, 2), "mad_ms": round(statistics.median(abs(t - med) for t in times), 2)}


def main(runs: int = RUNS) -> dict:
    out: dict = {"runs": runs}
    with tempfile.TemporaryDirectory() as tmp, MockIdentityServer() as mock:
        clis = FakeAzureClis(Path(tmp) / "clis")
        cases = [
            ("managed identity, shared cache (default)", ["token", "azure://?credential=managed"], "azure-appservice"),
            ("managed identity, `--no-cache`", ["token", "--no-cache", "azure://?credential=managed"], "azure-appservice"),
            ("`credential=cli`, shared cache (default)", ["token", "azure://?credential=cli"], None),
            ("`credential=cli`, `--no-cache` (starts the fake `az` each run)",
             ["token", "--no-cache", "azure://?credential=cli"], None),
        ]
        rows = {}
        for i, (name, args, route) in enumerate(cases):
            mock.reset()  # draws a new App Service header: the environment follows it
            env = hermetic_env(Path(tmp) / f"env{i}", None, **{
                "IDENTITY_ENDPOINT": mock.http_url + "/azure/appservice/token",
                "IDENTITY_HEADER": mock.identity_header,
                "PATH": f"{clis.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                **clis.env(),
            })
            before = len(clis.calls("az")) if route is None else 0
            row = timed_runs(args, env, runs)
            row["identity_requests"] = (len(route_requests(mock, route)) if route
                                        else len(clis.calls("az")) - before)
            rows[name] = row
        if REAL_AZ.exists():
            # Its own start-up, offline (no login, no update check reaches anything here).
            env = hermetic_env(Path(tmp) / "env-az", None, AZURE_CONFIG_DIR=str(Path(tmp) / "azure"),
                               AZURE_CORE_COLLECT_TELEMETRY="false")
            row = timed_runs(["version", "--output", "json"], env, AZ_RUNS, REAL_AZ)
            rows[f"the real Azure CLI: `az version` ({AZ_RUNS} runs; its start-up, no token)"] = {
                **row, "identity_requests": 0}
        out["rows"] = rows
        cached = rows["managed identity, shared cache (default)"]
        out["target_ms"], out["met"] = TARGET_CACHED_MS, cached["median_ms"] <= TARGET_CACHED_MS
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS), indent=1))
