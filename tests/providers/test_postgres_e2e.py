"""End to end: a token from `passmint token --for …` is accepted by a real PostgreSQL over
verified TLS once the server knows it, as the cloud's server would."""

from __future__ import annotations

import pytest
from harness import bins
from harness.pg import PsqlError


def test_cli_token_logs_into_postgres_over_verified_tls(mock, pg, pg_role, hermetic_env):
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")
    url = f"postgresql://{pg_role}@db.abc123.eu-west-1.rds.amazonaws.com:5432/postgres"
    r = bins.cli(["token", "--for", url], env)
    assert r.returncode == 0, r.stderr
    token = r.stdout.rstrip("\n")
    assert len(token) > 500 and "X-Amz-Security-Token=" in token

    pg.set_password(pg_role, token)
    out = pg.connect_psql(pg_role, token, sql="select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert pg_role in out and "t" in out.split("|")[-1]

    # The next token (new credentials from the mock) is a different password: the old one
    # stops working once the server rotates, the new one works.
    mock.reset()
    r2 = bins.cli(["token", "--no-cache", "--for", url], env)
    token2 = r2.stdout.rstrip("\n")
    assert r2.returncode == 0 and token2 != token
    pg.set_password(pg_role, token2)
    assert pg_role in pg.connect_psql(pg_role, token2)
    with pytest.raises(PsqlError):
        pg.connect_psql(pg_role, token)
