"""examples/c/connect.c (issue 4): built with its own Makefile against the installed
libpassmint (build/install) and libpq, it mints a token from the mock's App Service identity
and logs into the harness PostgreSQL over verified TLS with it.

The program mints and connects in one go, so the test queues the token the mock will hand
out (``mock.queue_azure_token``) and makes it the role's password first, as the cloud would
already accept it.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from harness.bins import TOP
from harness.cloudauth import CloudAuthFront
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


# --- sources of the caller's own: a token callback and an AWS credentials callback --------------

def test_token_file_through_a_c_token_callback(connect, mock, pg, pg_role, pg_env, tmp_path):
    """--token-file: passmint_provider_from_callback over a file a sidecar keeps fresh."""
    token = "sidecar-token-" + "x" * 40
    path = tmp_path / "db-token"
    path.write_text(token + "\n")
    pg.set_password(pg_role, token)
    r = run(connect, pg_env(PGUSER=pg_role), "--token-file", str(path))
    assert_logged_in(r, pg_role, token)
    assert fields(r.stdout)["token"].startswith("callback, for (role not known), expires in 1")
    # The callback's own error, with its kind, and no connection attempt.
    r = run(connect, pg_env(PGUSER=pg_role), "--token-file", str(tmp_path / "missing"))
    assert r.returncode == 3 and r.stdout == ""
    assert r.stderr == ("connect: passmint token: PASSMINT_CREDENTIAL_UNAVAILABLE: "
                        "the token file is missing or empty\n"), r.stderr
    assert mock.requests() == []


@pytest.mark.parametrize("kind", ["dsql", "rds"])
def test_aws_keys_through_a_c_credentials_callback(connect, mock, pg, pg_role, pg_env, ca, kind):
    """--aws-keys: passmint_provider_with_aws_credentials signs with the caller's keys. The
    front door checks the SigV4 signature against exactly those keys, as the cloud would, and
    the keys' expiry bounds the token."""
    keys = {"AccessKeyId": "AKIACALLERC000000001", "SecretAccessKey": "callerSecret/abc+1",
            "Token": "caller-session-token", "expires_at": time.time() + 600}
    user = "admin" if kind == "dsql" else pg_role
    pg.create_login_role("admin")  # idempotent
    url = ("dsql://abc123example.dsql.us-east-1.on.aws?user=admin" if kind == "dsql"
           else f"rds://db.abc123example.eu-west-1.rds.amazonaws.com?user={pg_role}")
    env = {"APP_ACCESS_KEY_ID": keys["AccessKeyId"], "APP_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
           "APP_SESSION_TOKEN": keys["Token"], "APP_EXPIRES_AT": str(int(keys["expires_at"]))}
    with CloudAuthFront(pg, ca, lambda: [keys], list) as front:
        r = run(connect, pg_env(PGUSER=user, PGPORT=str(front.port), **env), "--aws-keys", "APP_", url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert fields(r.stdout)["current_user"] == user
        assert [(e["ok"], e.get("kind")) for e in front.log] == [(True, kind)], front.log
        expires_in = int(fields(r.stdout)["token"].rsplit("expires in ", 1)[1].split()[0])
        assert expires_in <= 600, "the keys' expiry bounds the token"
        # Other keys than the ones the cloud knows: refused by the server, not by passmint.
        r = run(connect, pg_env(PGUSER=user, PGPORT=str(front.port), **{**env, "APP_SECRET_ACCESS_KEY": "wrong"}),
                "--aws-keys", "APP_", url)
        assert r.returncode == 4 and "password authentication failed" in r.stderr, r.stderr
    # No keys: the callback's error, before any connection.
    r = run(connect, pg_env(PGUSER=user), "--aws-keys", "NONE_", url)
    assert r.returncode == 3
    assert "PASSMINT_CREDENTIAL_UNAVAILABLE: the AWS keys are not in the environment" in r.stderr, r.stderr
    # Credentials are for dsql and rds only.
    r = run(connect, pg_env(PGUSER=user, **env), "--aws-keys", "APP_", "azure://?credential=managed")
    assert r.returncode == 3 and "PASSMINT_INVALID_ARGUMENT" in r.stderr, r.stderr
    assert keys["SecretAccessKey"] not in r.stdout + r.stderr
    assert mock.requests() == []
