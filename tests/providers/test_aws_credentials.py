"""AWS credentials reach passmint from each common source, served by the mock, and are cached:
many tokens from one provider cost one credential fetch while the credentials are valid."""

from __future__ import annotations

import calendar
import sys
import textwrap
import time
from urllib.parse import unquote

from harness import bins

DSQL = "dsql://abc.dsql.us-east-1.on.aws?user=app"


def token_params(tok: str) -> dict:
    q = tok.partition("/?")[2]
    return {unquote(k): unquote(v) for k, v in (p.split("=", 1) for p in q.split("&"))}


def expiration_epoch(s: str) -> int:
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def issued_during(mock, action):
    """Credentials the mock issued while ``action`` ran (its log spans the whole session)."""
    before = len(mock.issued())
    result = action()
    return result, mock.issued()[before:]


def assert_signed_by(lines, issued):
    for line in lines:
        assert "token" in line, line
        p = token_params(line["token"])
        assert p["X-Amz-Credential"].startswith(issued["AccessKeyId"] + "/")
        assert p["X-Amz-Security-Token"] == issued["Token"]
        assert line["expires_at"] <= expiration_epoch(issued["Expiration"])


def test_environment_credentials(hermetic_env):
    env = hermetic_env(AWS_ACCESS_KEY_ID="AKIAENVIRONMENT", AWS_SECRET_ACCESS_KEY="envsecret",
                       AWS_SESSION_TOKEN="env/session+token=")
    lines = bins.mint(DSQL, env, count=3)
    for line in lines:
        p = token_params(line["token"])
        assert p["X-Amz-Credential"].startswith("AKIAENVIRONMENT/")
        assert p["X-Amz-Security-Token"] == "env/session+token="
        assert p["Action"] == "DbConnect" and line["username"] == "app"


def test_container_credentials_are_fetched_once_for_ten_tokens(mock, hermetic_env):
    mock.configure(container_token="container-auth")
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN="container-auth")
    lines, [issued] = issued_during(mock, lambda: bins.mint(DSQL, env, count=10))
    reqs = mock.requests("/aws/container-credentials")
    assert len(reqs) == 1, reqs
    assert reqs[0]["headers"].get("authorization") == "container-auth"
    assert_signed_by(lines, issued)
    assert len({line["token"] for line in lines}) == 1, "the token itself is cached too"


def test_web_identity_via_sts_override(mock, hermetic_env, tmp_path):
    jwt = tmp_path / "web-identity-token"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln")
    env = hermetic_env(AWS_WEB_IDENTITY_TOKEN_FILE=str(jwt),
                       AWS_ROLE_ARN="arn:aws:iam::123456789012:role/mock",
                       AWS_ROLE_SESSION_NAME="passmint-test",
                       AWS_ENDPOINT_URL_STS=mock.http_url)
    lines, [issued] = issued_during(
        mock, lambda: bins.mint("rds://db.abc.eu-west-1.rds.amazonaws.com:5432?user=app", env, count=10))
    reqs = mock.requests("/")
    sts = [r for r in reqs if r["method"] == "POST"]
    assert len(sts) == 1, reqs
    body = sts[0]["body"]
    assert "Action=AssumeRoleWithWebIdentity" in body
    assert "WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln" in body
    assert_signed_by(lines, issued)


def test_imds_v2_via_endpoint_override(mock, hermetic_env):
    env = hermetic_env(AWS_EC2_METADATA_DISABLED="false",
                       AWS_EC2_METADATA_SERVICE_ENDPOINT=mock.http_url + "/")
    lines, [issued] = issued_during(mock, lambda: bins.mint(DSQL, env, count=10))
    creds_reqs = [r for r in mock.requests("/latest/meta-data/iam/security-credentials/")
                  if r["path"].rstrip("/") != "/latest/meta-data/iam/security-credentials"]
    assert len(creds_reqs) == 1, mock.requests()
    assert_signed_by(lines, issued)


def test_credential_process_profile_runs_once(hermetic_env, tmp_path):
    runs = tmp_path / "runs"
    script = tmp_path / "fake-creds.py"
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    script.write_text(textwrap.dedent(f"""\
        import json, sys
        with open({str(runs)!r}, "a") as f:
            f.write(" ".join(sys.argv[1:]) + "\\n")
        print(json.dumps({{"Version": 1, "AccessKeyId": "AKIAPROCESS", "SecretAccessKey": "procsecret",
                          "SessionToken": "proc/token+1=", "Expiration": {expiry!r}}}))
        """))
    config = tmp_path / "aws-config"
    config.write_text(f"[profile mockproc]\ncredential_process = {sys.executable} {script} --profile-arg\n")
    env = hermetic_env(AWS_CONFIG_FILE=str(config))
    # Both ways of naming the profile: the URL parameter and AWS_PROFILE.
    for url, extra in ((DSQL + "&profile=mockproc", {}), (DSQL, {"AWS_PROFILE": "mockproc"})):
        runs.write_text("")
        lines = bins.mint(url, {**env, **extra}, count=10)
        assert runs.read_text().splitlines() == ["--profile-arg"], url
        for line in lines:
            p = token_params(line["token"])
            assert p["X-Amz-Credential"].startswith("AKIAPROCESS/")
            assert p["X-Amz-Security-Token"] == "proc/token+1="
            assert line["expires_at"] <= expiration_epoch(expiry)


def test_credentials_bound_the_token_and_are_never_used_in_their_last_30_s(mock, hermetic_env):
    # 600 s credentials sign a 900 s token: it lives only as long as they do.
    mock.set_credential_lifetime("container", 600)
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")
    lines, issued = issued_during(mock, lambda: bins.mint(DSQL, env, count=2))
    assert len(issued) == 1, issued
    for line in lines:
        assert "token" in line, line
        p = token_params(line["token"])
        assert p["X-Amz-Expires"] == "900"
        assert line["expires_at"] == expiration_epoch(issued[0]["Expiration"])
    # 20 s credentials could only sign tokens with under 30 s to live (docs/DESIGN.md §2 rule 4).
    mock.set_credential_lifetime("container", 20)
    [line] = bins.mint(DSQL, env)
    assert line["kind"] == "PROVIDER_RESPONSE", line
    assert "about to expire" in line["error"] and "clock" in line["error"], line


def test_no_credentials_is_credential_unavailable_with_the_fix(hermetic_env):
    [line] = bins.mint(DSQL, hermetic_env())
    assert line["kind"] == "CREDENTIAL_UNAVAILABLE"
    assert "AWS_ACCESS_KEY_ID" in line["error"] and "Environment" in line["error"]


def test_refused_credential_endpoint_is_an_error_not_a_hang(mock, hermetic_env):
    mock.fault("container", status=403, body='{"message":"denied"}')
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")
    started = time.monotonic()
    [line] = bins.mint(DSQL, env)
    assert line["kind"] in ("AUTHENTICATION_FAILED", "CREDENTIAL_UNAVAILABLE"), line
    assert time.monotonic() - started < 11


def test_hung_credential_endpoint_times_out_within_the_deadline(mock, hermetic_env):
    mock.fault("container", hang=True)
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")
    started = time.monotonic()
    [line] = bins.mint(DSQL, env, timeout=30)
    elapsed = time.monotonic() - started
    assert line["kind"] == "TIMEOUT", line
    assert elapsed < 12.5, elapsed


def _web_identity_env(mock, hermetic_env, tmp_path, **extra):
    jwt = tmp_path / "web-identity-token"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln")
    # Only PASSMINT_CA_BUNDLE may make the test CA trusted here: drop every other CA variable.
    untrusted = {"SSL_CERT_FILE": None, "SSL_CERT_DIR": None, "AWS_CA_BUNDLE": None,
                 "REQUESTS_CA_BUNDLE": None, "PASSMINT_CA_BUNDLE": None}
    return hermetic_env(AWS_WEB_IDENTITY_TOKEN_FILE=str(jwt),
                        AWS_ROLE_ARN="arn:aws:iam::123456789012:role/mock",
                        AWS_ENDPOINT_URL_STS=mock.https_url, **{**untrusted, **extra})


def test_https_sts_is_trusted_through_passmint_ca_bundle(mock, hermetic_env, tmp_path, ca):
    env = _web_identity_env(mock, hermetic_env, tmp_path, PASSMINT_CA_BUNDLE=str(ca.ca_pem))
    lines, [issued] = issued_during(mock, lambda: bins.mint(DSQL, env, count=3))
    assert [r["tls"] for r in mock.requests("/") if r["method"] == "POST"] == [True]
    assert_signed_by(lines, issued)


def test_https_sts_with_an_unknown_ca_is_refused(mock, hermetic_env, tmp_path):
    env = _web_identity_env(mock, hermetic_env, tmp_path)
    [line] = bins.mint(DSQL, env)
    assert "error" in line, "an untrusted certificate must not be accepted"
    assert line["kind"] == "NETWORK" and "certificate" in line["error"], line


def test_unreadable_ca_bundle_is_a_config_error(mock, hermetic_env, tmp_path):
    env = _web_identity_env(mock, hermetic_env, tmp_path, PASSMINT_CA_BUNDLE=str(tmp_path / "missing.pem"))
    [line] = bins.mint(DSQL, env)
    assert line["kind"] == "INVALID_CONFIG" and "PASSMINT_CA_BUNDLE" in line["error"]
