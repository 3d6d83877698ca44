"""Runs a command with the harness up: the test CA, the mock identity server and a TLS PostgreSQL.

    tests/run build/venv/bin/python tests/harness/serve.py node --test tests/node/

For suites written in other languages (the Node suite, the Node benchmarks). The command gets a
hermetic environment (harness.env) whose AWS container credentials and Azure App Service point
at the mock, plus where to find the harness:

    PASSMINT_TEST_MOCK        the mock's http URL (its control API is under /_mock/)
    PASSMINT_TEST_PG_PORT     PostgreSQL's loopback TCP port (TLS; token roles log in here)
    PASSMINT_TEST_PG_SOCKET   its unix socket directory (the superuser logs in here, trusted)
    PASSMINT_TEST_PG_SUPERUSER
    PASSMINT_TEST_CA          the CA that signed the server's and the mock's certificates

Everything is stopped when the command ends; the exit code is the command's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.ca import make_ca
from harness.env import hermetic_env
from harness.mock import MockIdentityServer
from harness.pg import PostgresServer

# Passed through from tests/run: where the toolchains keep their caches.
PASSTHROUGH = ("PASSMINT_TOP", "PASSMINT_LOG", "PASSMINT_NODE_DRIVERS", "CARGO_TARGET_DIR", "CARGO_HOME", "RUSTUP_HOME",
               "CARGO_NET_OFFLINE", "RUST_BACKTRACE", "CI", "TERM")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="passmint-serve-") as work:
        ca = make_ca(Path(work) / "ca")
        with MockIdentityServer(ca) as mock, PostgresServer(ca) as pg:
            env = hermetic_env(
                Path(work) / "env", ca.ca_pem,
                AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                IDENTITY_HEADER=mock.identity_header,
                PASSMINT_TEST_MOCK=mock.http_url,
                PASSMINT_TEST_PG_PORT=str(pg.port),
                PASSMINT_TEST_PG_SOCKET=str(pg.dir),
                PASSMINT_TEST_PG_SUPERUSER=pg.superuser,
                PASSMINT_TEST_CA=str(pg.ca_pem),
            )
            env.update({k: os.environ[k] for k in PASSTHROUGH if os.environ.get(k)})
            try:
                return subprocess.run(argv, env=env, check=False).returncode
            except KeyboardInterrupt:
                return 130


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
