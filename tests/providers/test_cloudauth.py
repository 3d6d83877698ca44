"""The demo's cloud-style token check (harness/cloudauth.py): it must accept exactly what the
cloud would, or `make demo`'s table proves nothing. Tokens come from passmint itself (the CLI
against the mock), and are then tampered with."""

from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import quote

import pytest
from harness import bins
from harness.azcli import FakeAzureClis
from harness.cloudauth import CloudAuthFront, check_aws, check_azure
from harness.pg import find_psql

DSQL = "dsql://abc123example.dsql.us-east-1.on.aws"
RDS = "rds://db.abc123example.eu-west-1.rds.amazonaws.com:5432?user=app"


@pytest.fixture
def aws_env(mock, hermetic_env):
    return hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")


def mint(url: str, env: dict[str, str]) -> str:
    r = bins.cli(["token", "--json", url], env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["token"]


def replace_param(token: str, name: str, value: str) -> str:
    host, _, query = token.partition("/?")
    pairs = [p.split("=", 1) for p in query.split("&")]
    return host + "/?" + "&".join(f"{k}={quote(value, safe='') if k == name else v}" for k, v in pairs)


def test_aws_tokens_pass_and_every_tampering_fails(mock, aws_env):
    now = time.time()
    admin, user = mint(DSQL, aws_env), mint(DSQL + "?user=app", aws_env)
    rds = mint(RDS, aws_env)
    creds = mock.issued()
    assert check_aws(admin, "admin", creds, now) == (None, "dsql")
    assert check_aws(user, "app", creds, now) == (None, "dsql")
    assert check_aws(rds, "app", creds, now) == (None, "rds")

    refusals = {
        "admin token for another role": check_aws(admin, "app", creds, now),
        "DbConnect for admin": check_aws(user, "admin", creds, now),
        "RDS token for another user": check_aws(rds, "other", creds, now),
        "signature changed": check_aws(admin[:-1] + ("0" if admin[-1] != "0" else "1"), "admin", creds, now),
        "user changed": check_aws(replace_param(rds, "DBUser", "other"), "other", creds, now),
        "session token swapped": check_aws(replace_param(admin, "X-Amz-Security-Token", "x"), "admin", creds, now),
        "unknown key": check_aws(admin, "admin", [], now),
        "expired": check_aws(admin, "admin", creds, now + 901),
        "from the future": check_aws(admin, "admin", creds, now - 400),
        "credentials expired": check_aws(admin, "admin", [{**c, "expires_at": now - 1} for c in creds], now),
        "not a token": check_aws("hunter2", "admin", creds, now),
    }
    assert all(reason for reason, _ in refusals.values()), refusals
    assert refusals["expired"][0] == "Signature expired"  # DSQL's own words


def test_azure_tokens_must_be_issued_unexpired_and_for_the_role(mock, hermetic_env):
    mock.configure(azure_app_name="web-app")
    env = hermetic_env(IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token", IDENTITY_HEADER=mock.identity_header)
    token = mint("azure://?credential=managed", env)
    issued, now = mock.issued_secrets(), time.time()
    assert check_azure(token, "web-app", issued, now) is None
    assert "not role" in check_azure(token, "other", issued, now)
    assert check_azure(token, "web-app", [], now) == "not a token Entra ID issued"
    assert check_azure(token, "web-app", issued, now + 7200) == "the token has expired"


def test_azure_cli_tokens_name_the_user(tmp_path, hermetic_env):
    clis = FakeAzureClis(tmp_path / "clis")
    clis.set_claims("az", {"upn": "dev@contoso.example"})
    env = hermetic_env(**clis.env())
    env["PATH"] = f"{clis.bin_dir}:{env['PATH']}"
    token = mint("azure://?credential=cli", env)
    assert check_azure(token, "dev@contoso.example", clis.issued_secrets(), time.time()) is None


def test_the_front_logs_in_only_with_a_valid_token_over_tls(mock, pg, ca, aws_env):
    pg.create_login_role("front_app")
    with CloudAuthFront(pg, ca, mock.issued, mock.issued_secrets) as front:
        good = mint(DSQL + "?user=front_app", aws_env)
        base = ["-X", "-w", "-A", "-t", "-c", "select current_user"]

        def psql(password: str, sslmode: str = "verify-full") -> subprocess.CompletedProcess:
            conninfo = (f"host=localhost port={front.port} dbname=postgres user=front_app sslmode={sslmode} "
                        f"sslrootcert={ca.ca_pem}")
            return subprocess.run([find_psql(), *base, "-d", conninfo], env={**aws_env, "PGPASSWORD": password},
                                  capture_output=True, text=True, timeout=60, check=False)

        ok = psql(good)
        assert ok.returncode == 0 and ok.stdout.strip() == "front_app", ok.stderr
        bad = psql(good[:-2] + "00")
        assert bad.returncode != 0 and 'password authentication failed for user "front_app"' in bad.stderr
        plain = psql(good, sslmode="disable")
        assert plain.returncode != 0 and "no encryption" in plain.stderr
        assert [e["ok"] for e in front.log] == [True, False, False]
        assert front.log[1]["reason"] == "signature mismatch"
        assert not any(good in json.dumps(e) for e in front.log)
