"""`awssm://` against moto's Secrets Manager (harness.secretsmanager), with boto3's
`get_secret_value` as the reference: the same request, the same secret; a rotation seen by new
connections within the refresh interval, or at once after a refused password; typed errors."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import pytest
from harness import bins, smref
from harness.secretsmanager import (
    CONTENT_TYPE,
    DEFAULT_REGION,
    GET_SECRET_VALUE,
    SERVICE,
)

NAME = "prod/app/db"


def password() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def sm_env(secretsmanager, hermetic_env):
    def make(**overrides):
        return hermetic_env(**{**secretsmanager.env(), **overrides})

    return make


def cli_token(url: str, env: dict[str, str]) -> dict:
    r = bins.cli(["token", "--json", "--no-cache", url], env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cli_error(url: str, env: dict[str, str]) -> str:
    r = bins.cli(["token", "--no-cache", url], env)
    assert r.returncode != 0, r.stdout
    return r.stderr


def test_the_request_and_the_secret_are_boto3s(secretsmanager, sm_env):
    pw = password()
    secretsmanager.create_rds_secret(NAME, "app_user", pw, "db.internal", 5432, "app")
    env = sm_env()
    got = cli_token(f"awssm://{NAME}", env)
    theirs = smref.run(env, NAME)
    assert (got["token"], got["username"], got["provider"]) == (theirs["secret"]["password"], "app_user", "awssm")
    ours, ref = secretsmanager.requests(target=GET_SECRET_VALUE)
    for record in (ours, ref):
        assert (record["method"], record["path"], record["query"]) == ("POST", "/", "")
        assert record["headers"]["x-amz-target"] == GET_SECRET_VALUE
        assert record["headers"]["content-type"] == CONTENT_TYPE
        assert record["json"] == {"SecretId": NAME, "VersionStage": "AWSCURRENT"}
        assert (record["scope"]["service"], record["scope"]["region"]) == (SERVICE, DEFAULT_REGION)
        assert record["status"] == 200
    assert set(ours["scope"]["signed_headers"]) >= {"host", "x-amz-date", "x-amz-target", "content-type"}


def test_a_pending_version_and_an_arn(secretsmanager, sm_env):
    current, pending = password(), password()
    arn = secretsmanager.create_rds_secret(NAME, "app_user", current, "db", 5432, "app")
    secretsmanager.stage_pending(NAME, pending, "app_user_2")
    env = sm_env()
    got = cli_token(f"awssm://{NAME}?version_stage=AWSPENDING", env)
    assert (got["token"], got["username"]) == (pending, "app_user_2")
    assert secretsmanager.requests(target=GET_SECRET_VALUE)[-1]["json"]["VersionStage"] == "AWSPENDING"
    # The ARN names the region: no AWS_REGION needed, and one that contradicts it is an error.
    env.pop("AWS_REGION")
    env.pop("AWS_DEFAULT_REGION")
    assert cli_token(f"awssm://{arn}", env)["token"] == current
    assert "contradicts" in cli_error(f"awssm://{arn}?region=us-west-1", env)


def test_a_rotation_is_seen_within_the_refresh_interval_or_at_once_when_refused(secretsmanager, sm_env, monkeypatch):
    import passmint

    old, new, newer = password(), password(), password()
    secretsmanager.create_rds_secret(NAME, "app_user", old, "db", 5432, "app")
    for k, v in sm_env().items():
        monkeypatch.setenv(k, v)
    provider = passmint.Provider(f"awssm://{NAME}?refresh=2")
    assert provider.token() == old
    secretsmanager.rotate(NAME, new)
    assert provider.token() == old, "cached until the refresh"
    time.sleep(2.2)
    deadline = time.monotonic() + 5
    while provider.token() != new:
        assert time.monotonic() < deadline, "the rotation was not seen after the refresh interval"
        time.sleep(0.05)
    # A rotation the server applied before passmint's next read: a refused password reads at once.
    slow = passmint.awssm(NAME, refresh=3600)
    assert slow.token() == new
    secretsmanager.rotate(NAME, newer)
    assert slow.token() == new
    assert slow.password_refused(new) is True
    assert slow.token() == newer
    assert slow.status()["credential"].startswith("AWS credentials")


def test_boto3_session_credentials(secretsmanager, sm_env, monkeypatch):
    import boto3
    import passmint

    pw = password()
    secretsmanager.create_rds_secret(NAME, "app_user", pw, "db", 5432, "app")
    env = sm_env()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", env["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k, raising=False)
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=DEFAULT_REGION)
    provider = passmint.awssm(NAME, region=DEFAULT_REGION, credentials=session)
    token = provider.token_info()
    assert (token.secret, token.username) == (pw, "app_user")


def test_errors_are_typed_and_name_the_fix(secretsmanager, sm_env):
    env = sm_env()
    err = cli_error("awssm://missing/secret", env)
    assert "CREDENTIAL_UNAVAILABLE" in err and "missing/secret" in err and "ResourceNotFoundException" in err
    secretsmanager.create_rds_secret(NAME, "app_user", password(), "db", 5432, "app")
    bad = sm_env(AWS_SECRET_ACCESS_KEY="x" * 40)
    err = cli_error(f"awssm://{NAME}", bad)
    assert "AUTHENTICATION_FAILED" in err and "secretsmanager:GetSecretValue" in err
    err = cli_error(f"awssm://{NAME}", sm_env(AWS_ENDPOINT_URL_SECRETS_MANAGER="http://sm.example.com"))
    assert "INVALID_CONFIG" in err and "https://" in err
    no_region = sm_env()
    no_region.pop("AWS_REGION")
    no_region.pop("AWS_DEFAULT_REGION")
    assert "AWS_REGION" in cli_error(f"awssm://{NAME}", no_region)
    for url, says in [("awssm://", "name or ARN"), (f"awssm://{NAME}?refresh=0", "refresh"),
                      ("awssm://arn:aws:s3:::bucket", "ARN")]:
        assert says in cli_error(url, env), url


LOGIN = """
import os, sys, passmint, passmint.psycopg
Connection = passmint.psycopg.connection_class(passmint.Provider(sys.argv[1]))
with Connection.connect(os.environ["CONNINFO"]) as conn:
    print(conn.execute("select current_user").fetchone()[0])
"""


def test_the_secret_logs_into_postgres_as_its_user(secretsmanager, sm_env, pg, pg_role):
    pw = password()
    pg.set_password(pg_role, pw)
    secretsmanager.create_rds_secret(NAME, pg_role, pw, "localhost", pg.port, "postgres")
    env = sm_env(CONNINFO=f"host=localhost port={pg.port} dbname=postgres sslrootcert={pg.ca_pem}")
    r = subprocess.run([sys.executable, "-c", LOGIN, f"awssm://{NAME}"], env=env, capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == pg_role
