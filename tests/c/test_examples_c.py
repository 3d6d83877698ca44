"""examples/c/connect.c (issue 4): built with its own Makefile against the installed
libpassmint (build/install) and libpq, it mints a token from the mock's App Service identity
and logs into the harness PostgreSQL over verified TLS with it.

The program mints and connects in one go, so the test queues the token the mock will hand
out (``mock.queue_azure_token``) and makes it the role's password first, as the cloud would
already accept it.
"""

from __future__ import annotations

import subprocess

import pytest
from harness.bins import TOP
from harness.native import PKG_CONFIG_PATH, need_install, route_requests, tool

MANAGED = "azure://?credential=managed"
APPSERVICE = "azure-appservice"


@pytest.fixture(scope="module")
def connect(tmp_path_factory) -> str:
    need_install()
    tool("pkg-config")
    out = tmp_path_factory.mktemp("example-c")
    r = subprocess.run([tool("make"), "-C", str(TOP / "examples" / "c"), f"BUILD={out}",
                        f"PKG_CONFIG_PATH={PKG_CONFIG_PATH}", "CFLAGS=-O2 -g -Werror -pedantic"],
                       capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(out / "connect")


@pytest.fixture
def pg_env(mock, pg, hermetic_env):
    """App Service identity, and libpq's variables for the harness server (no PGSSLMODE)."""

    def make(**overrides):
        return hermetic_env(**{
            "IDENTITY_ENDPOINT": mock.http_url + "/azure/appservice/token",
            "IDENTITY_HEADER": mock.identity_header,
            "PGHOST": "localhost", "PGPORT": str(pg.port), "PGDATABASE": "postgres",
            "PGSSLROOTCERT": str(pg.ca_pem), "PGCONNECT_TIMEOUT": "10",
            **overrides})

    return make


def run(connect: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([connect, *args], env=env, capture_output=True, text=True, check=False, timeout=60)


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def assert_logged_in(r: subprocess.CompletedProcess, role: str, token: str) -> None:
    assert r.returncode == 0, r.stdout + r.stderr
    out = fields(r.stdout)
    assert out["current_user"] == role
    assert out["ssl"].startswith("on (TLSv1.") and out["ssl"].endswith("server says on)"), out["ssl"]
    assert token not in r.stdout + r.stderr


def test_provider_url_and_pg_environment(connect, mock, pg, pg_role, pg_env):
    token = mock.queue_azure_token(APPSERVICE)
    pg.set_password(pg_role, token)
    r = run(connect, pg_env(PGUSER=pg_role), MANAGED)  # PGSSLMODE unset: verify-full
    assert_logged_in(r, pg_role, token)
    assert fields(r.stdout)["token"].startswith("azure, for passmint-mock-app, expires in ")
    assert len(route_requests(mock, APPSERVICE)) == 1
    assert [i["access_token"] for i in mock.issued() if i["route"] == APPSERVICE][-1] == token


def test_user_comes_from_the_token_when_pguser_is_unset(connect, mock, pg, pg_role, pg_env):
    mock.configure(azure_app_name=pg_role)  # the managed identity is named like the role, as on Azure
    token = mock.queue_azure_token(APPSERVICE)
    pg.set_password(pg_role, token)
    assert_logged_in(run(connect, pg_env(), MANAGED), pg_role, token)


def test_for_postgres_url_picks_azure_and_connects_there(connect, mock, pg, pg_role, pg_env):
    """--for: the provider from the host name, the role from the URL. PGHOSTADDR stands in for DNS;
    the certificate is for localhost, so this run verifies the chain only (PGSSLMODE=verify-ca)."""
    token = mock.queue_azure_token(APPSERVICE)
    pg.set_password(pg_role, token)
    env = pg_env(PGHOST=None, PGHOSTADDR="127.0.0.1", PGSSLMODE="verify-ca")
    r = run(connect, env, "--for", f"postgresql://{pg_role}@srv.postgres.database.azure.com/postgres")
    assert_logged_in(r, pg_role, token)
    assert fields(r.stdout)["token"].startswith(f"azure, for {pg_role}, ")


def test_tls_is_verified_by_default(connect, mock, pg, pg_role, pg_env):
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    r = run(connect, pg_env(PGUSER=pg_role, PGSSLROOTCERT=None), MANAGED)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "root certificate file" in r.stderr and "certificate verification" in r.stderr, r.stderr


def test_no_identity_is_one_clear_line_and_no_connection(connect, mock, pg, pg_role, pg_env):
    r = run(connect, pg_env(IDENTITY_ENDPOINT=None, IDENTITY_HEADER=None, PGUSER=pg_role), MANAGED)
    assert r.returncode == 3 and r.stdout == ""
    assert r.stderr.startswith("connect: passmint token: PASSMINT_CREDENTIAL_UNAVAILABLE: ")
    assert r.stderr.count("\n") == 1


def test_a_token_the_server_does_not_know_is_refused(connect, mock, pg, pg_role, pg_env):
    r = run(connect, pg_env(PGUSER=pg_role), MANAGED)
    assert r.returncode == 4
    assert "password authentication failed" in r.stderr, r.stderr
    assert not any(s in r.stderr + r.stdout for s in mock.issued_secrets())
