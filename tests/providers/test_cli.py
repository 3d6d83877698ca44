"""The `passmint` CLI: only the token on stdout, one clear line on stderr on failure."""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

from harness import aws, bins, hygiene

RDS_PG_URL = "postgresql://app%40corp@db.abc123.eu-west-1.rds.amazonaws.com:6432/app"


def env_creds(hermetic_env, **extra):
    return hermetic_env(AWS_ACCESS_KEY_ID="AKIACLITEST", AWS_SECRET_ACCESS_KEY="clisecret", **extra)


def test_token_prints_only_the_token(hermetic_env):
    r = bins.cli(["token", "dsql://abc.dsql.us-east-1.on.aws"], env_creds(hermetic_env))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.split("\n")
    assert lines[1:] == [""], "exactly one line"
    assert lines[0].startswith("abc.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&X-Amz-Algorithm=")


def test_for_postgres_url_and_json(hermetic_env):
    before = int(time.time())
    r = bins.cli(["token", "--json", "--for", RDS_PG_URL], env_creds(hermetic_env))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"token", "expires_at", "username", "provider"}
    assert out["provider"] == "rds" and out["username"] == "app@corp"
    assert out["token"].startswith("db.abc123.eu-west-1.rds.amazonaws.com:6432/?Action=connect&DBUser=app%40corp&")
    assert before + 895 <= out["expires_at"] <= before + 905
    cred = unquote(out["token"].split("X-Amz-Credential=")[1].split("&")[0])
    assert cred.startswith("AKIACLITEST/") and cred.endswith("/eu-west-1/rds-db/aws4_request")


def test_bad_url_is_exit_2_with_one_line(hermetic_env):
    r = bins.cli(["token", "rds://db.example.com?user=app"], env_creds(hermetic_env))
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "region" in r.stderr and "INVALID_CONFIG" in r.stderr


def test_usage_errors(hermetic_env):
    env = env_creds(hermetic_env)
    for args in (["token"], ["token", "--for"], ["frobnicate"], ["token", "--bogus", "dsql://x"],
                 ["token", "dsql://a?region=us-east-1", "--for", RDS_PG_URL]):
        r = bins.cli(args, env)
        assert r.returncode == 2, args
        assert r.stdout == "" and r.stderr.startswith("passmint: "), args
    r = bins.cli(["--help"], env)
    assert r.returncode == 0 and "passmint token" in r.stdout
    r = bins.cli(["--version"], env)
    assert r.returncode == 0 and r.stdout.startswith("passmint ")


def test_missing_credentials_is_exit_3_and_names_the_fix(hermetic_env):
    r = bins.cli(["token", "dsql://abc.dsql.us-east-1.on.aws"], hermetic_env())
    assert r.returncode == 3
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "CREDENTIAL_UNAVAILABLE" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr


def test_errors_never_contain_secrets(mock, hermetic_env):
    mock.fault("container", status=500, body='{"AccessKeyId":"AKIALEAK","SecretAccessKey":"leaked-secret"}')
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN="very-secret-auth")
    mock.configure(container_token="very-secret-auth")
    r = bins.cli(["token", "dsql://abc.dsql.us-east-1.on.aws"], env)
    assert r.returncode != 0
    for secret in ["leaked-secret", "very-secret-auth", *mock.issued_secrets()]:
        assert secret not in r.stderr


def test_provider_from_passmint_provider_env(hermetic_env):
    env = env_creds(hermetic_env, PASSMINT_PROVIDER="rds://db.internal:5433?user=svc&region=ap-south-1")
    r = bins.cli(["token", "--json"], env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["token"].startswith("db.internal:5433/?Action=connect&DBUser=svc&")
    assert "%2Fap-south-1%2Frds-db%2F" in out["token"]
    r = bins.cli(["token"], env_creds(hermetic_env, PASSMINT_PROVIDER="rds://db.internal?user=svc"))
    assert r.returncode == 2 and "region" in r.stderr


def test_passmint_log_shows_fetches_and_failures_never_secrets(mock, hermetic_env):
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                       PASSMINT_LOG="passmint=debug")
    r = bins.cli(["token", "--no-cache", "dsql://abc.dsql.us-east-1.on.aws"], env)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert "passmint: fetching" in r.stderr and "passmint: fetched" in r.stderr
    assert "AWS credentials" in r.stderr and "refresh_in_s=" in r.stderr
    for secret in [token, *mock.issued_secrets()]:
        assert secret not in r.stderr

    mock.fault("container", status=500)
    r = bins.cli(["token", "--no-cache", "dsql://abc.dsql.us-east-1.on.aws"], env)
    assert r.returncode != 0
    assert "passmint: fetch failed" in r.stderr and "retry_in_ms=" in r.stderr
    for secret in mock.issued_secrets():
        assert secret not in r.stderr

    # Off by default: one line on failure, nothing else.
    r = bins.cli(["token", "--no-cache", "dsql://abc.dsql.us-east-1.on.aws"], {**env, "PASSMINT_LOG": ""})
    assert r.stderr.count("\n") == 1


def test_trace_level_logs_carry_no_secret(mock, hermetic_env, tmp_path):
    """Review finding 6: at PASSMINT_LOG=trace aws-sigv4 logged its canonical request, the session
    token in its query string. Every source at trace, and a failing credential_process printing
    its answer (PHP-escaped) on stderr: the SDKs' events arrive scrubbed as passmint::sdk, and no
    form of any secret is in the output. The output is kept in build/logs/cli-trace.log, which
    the hygiene scan of tests/all reads too."""
    secret_key = aws.new_secret_key()
    answer = {"Version": 1, "AccessKeyId": "ASIAPROCESSTRACE01", "SecretAccessKey": secret_key,
              "SessionToken": aws.new_session_token()}
    hygiene.record([secret_key, answer["SessionToken"]])
    process = tmp_path / "credential-process"
    escaped = json.dumps(answer).replace("/", "\\/")
    process.write_text(f"#!/bin/sh\necho 'failed; last answer: {escaped}' >&2\nexit 1\n")
    process.chmod(0o755)
    config = tmp_path / "aws-config-proc"
    config.write_text(f"[profile proc]\ncredential_process = {process}\nregion = us-east-1\n")
    container = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": mock.http_url + "/aws/container-credentials"}
    runs = [
        (["token", "dsql://abc.dsql.us-east-1.on.aws?user=app"], container, 0),
        (["token", "rds://db.abc.eu-west-1.rds.amazonaws.com:5432?user=app"], container, 0),
        (["token", "azure://?credential=managed"],
         {"IDENTITY_ENDPOINT": mock.http_url + "/azure/appservice/token", "IDENTITY_HEADER": mock.identity_header}, 0),
        (["token", "dsql://abc.dsql.us-east-1.on.aws?profile=proc"], {"AWS_CONFIG_FILE": str(config)}, 1),
    ]
    log = []
    for args, extra, fails in runs:
        r = bins.cli(args, hermetic_env(PASSMINT_LOG="trace", **extra))
        assert (r.returncode != 0) == bool(fails), r.stderr
        assert "passmint::sdk" in r.stderr, "the SDKs' events are passed on"
        log.append(f"$ PASSMINT_LOG=trace passmint {' '.join(args)}\n{r.stderr}")
        for secret in [r.stdout.strip(), secret_key, answer["SessionToken"], *mock.issued_secrets()]:
            leaked = [f for f in hygiene.forms(secret) if len(f) >= 16 and f in r.stderr]
            assert not leaked, f"{args}: a secret is in the trace log"
    logs = bins.TOP / "build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "cli-trace.log").write_text("\n".join(log))


def test_passmint_log_with_a_bad_filter_is_a_config_error(hermetic_env):
    r = bins.cli(["token", "dsql://abc.dsql.us-east-1.on.aws"], env_creds(hermetic_env, PASSMINT_LOG="passmint=loud"))
    assert r.returncode == 2 and "PASSMINT_LOG" in r.stderr and r.stdout == ""


STATUS_KEYS = {"cached", "expires_at", "next_refresh_at", "consecutive_failures", "last_error_kind",
               "last_error_message", "credential"}


def test_status_checks_the_provider_and_prints_its_health_never_the_token(hermetic_env):
    env = env_creds(hermetic_env)
    r = bins.cli(["status", "--json", "dsql://abc.dsql.us-east-1.on.aws"], env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = json.loads(r.stdout)
    assert set(out) == STATUS_KEYS
    assert out["cached"] is True and out["consecutive_failures"] == 0 and out["last_error_kind"] is None
    assert out["credential"] == "AWS credentials (EnvironmentVariable)"
    assert time.time() < out["next_refresh_at"] < out["expires_at"] <= time.time() + 901
    assert "X-Amz" not in r.stdout and "clisecret" not in r.stdout
    text = bins.cli(["status", "--for", RDS_PG_URL], env)
    assert text.returncode == 0, text.stderr
    assert "credential:           AWS credentials (EnvironmentVariable)" in text.stdout
    assert "cached:               yes" in text.stdout and "X-Amz" not in text.stdout


def test_status_of_a_failing_provider_prints_the_error_and_exits_as_token_would(hermetic_env):
    r = bins.cli(["status", "--json", "dsql://abc.dsql.us-east-1.on.aws"], hermetic_env())
    assert r.returncode == 3, r
    out = json.loads(r.stdout)
    assert (out["cached"], out["consecutive_failures"], out["last_error_kind"]) == (False, 1, "CREDENTIAL_UNAVAILABLE")
    assert r.stderr.startswith("passmint: ") and r.stderr.rstrip().endswith("(CREDENTIAL_UNAVAILABLE)")
