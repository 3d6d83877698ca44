"""examples/python (issue 5): each program logs into the harness PostgreSQL over verified TLS with
a passmint token, as a user would run it (a child process with a clean environment).

The programs mint and connect in one go, so the test queues the token the mock will hand out
(``mock.queue_azure_token``) and makes it the role's password first; the managed identity is
named like the role, so the programs find the user in the token.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from harness.bins import TOP
from harness.native import route_requests

EXAMPLES = TOP / "examples" / "python"
APPSERVICE = "azure-appservice"
MANAGED = "azure://?credential=managed"


@pytest.fixture
def app_service_env(mock, hermetic_env):
    return hermetic_env(IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                        IDENTITY_HEADER=mock.identity_header)


def run(program: str, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    r = subprocess.run([sys.executable, str(EXAMPLES / program), *args], env=env, capture_output=True,
                       text=True, timeout=120, check=False)
    return r, (json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None)


def targets(pg) -> dict[str, list[str]]:
    """program -> (connection string, extra env) without user or sslmode: the helpers add them."""
    where = f"localhost:{pg.port}/postgres"
    return {
        "psycopg_pool_app.py": [f"host=localhost port={pg.port} dbname=postgres sslrootcert={pg.ca_pem}"],
        "asyncpg_app.py": [f"postgresql://{where}?sslrootcert={pg.ca_pem}"],
        "sqlalchemy_app.py": [f"postgresql+psycopg://{where}?sslrootcert={pg.ca_pem}"],
        "sqlalchemy_app.py+asyncpg": [f"postgresql+asyncpg://{where}", f"PGSSLROOTCERT={pg.ca_pem}"],
    }


@pytest.mark.parametrize("case", ["psycopg_pool_app.py", "asyncpg_app.py", "sqlalchemy_app.py",
                                  "sqlalchemy_app.py+asyncpg"])
def test_example_logs_in_with_a_token(case, mock, pg, pg_role, app_service_env):
    mock.configure(azure_app_name=pg_role)
    token = mock.queue_azure_token(APPSERVICE)
    pg.set_password(pg_role, token)
    conn, *extra = targets(pg)[case]
    env = {**app_service_env, **dict(e.split("=", 1) for e in extra)}
    r, out = run(case.split("+")[0], env, MANAGED, conn)
    assert r.returncode == 0, r.stderr
    sessions = 2 if case.startswith("sqlalchemy") else 4
    assert out == {"users": [pg_role], "ssl": True, "sessions": sessions}
    assert len(route_requests(mock, APPSERVICE)) == 1  # every connection of the pool shared it
    assert token not in r.stdout + r.stderr


@pytest.mark.parametrize("program", ["psycopg_pool_app.py", "asyncpg_app.py", "sqlalchemy_app.py"])
def test_example_reports_passmint_errors(program, pg, hermetic_env):
    conn = targets(pg)[program][0]
    r, _ = run(program, hermetic_env(), MANAGED, conn)  # no managed identity here
    assert r.returncode == 2 and r.stdout == ""
    assert f"{program[:-3]}: passmint CREDENTIAL_UNAVAILABLE: " in r.stderr, r.stderr


def test_exiting_while_passmint_hands_results_to_the_loop_never_crashes(pg, hermetic_env):
    """Regression: a fetch failing for several waiters as ``asyncio.run`` returned crashed the
    interpreter's exit in about 1 run in 5 (a passmint thread inside Python when finalization
    began). An atexit hook now lets such calls finish first and stops new ones."""
    conn = targets(pg)["asyncpg_app.py"][0]
    codes = [run("asyncpg_app.py", hermetic_env(), MANAGED, conn)[0].returncode for _ in range(25)]
    assert codes == [2] * 25, codes
