"""The harness is only worth trusting if real clients accept it: boto3 must get
credentials from each mocked AWS source, faults must be what they claim, and
the PostgreSQL fixture must enforce passwords over verified TLS."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from harness.ca import make_ca
from harness.client import control, fetch
from harness.mock import OMIT
from harness.pg import PostgresServer, PsqlError, _children

TESTS_DIR = Path(__file__).resolve().parents[1]

needs_boto3 = pytest.mark.skipif(
    importlib.util.find_spec("boto3") is None, reason="boto3 not installed in this Python"
)

# Secrets the way tokens look: long, and full of characters that break naive
# quoting in SQL, URLs, forms and DSNs.
NASTY = "Action=x&X-Amz-Signature=ab%2F+/:=;'\"\\ " * 60

BOTO3_CREDS = """
import json, boto3
c = boto3.Session().get_credentials()
f = c.get_frozen_credentials()
print(json.dumps({"method": c.method, "access_key": f.access_key,
                  "secret_key": f.secret_key, "token": f.token}))
"""


def boto3_creds(env):
    proc = subprocess.run([sys.executable, "-c", BOTO3_CREDS], env=env, check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def boto3_fails(env):
    proc = subprocess.run([sys.executable, "-c", BOTO3_CREDS], env=env, check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def assert_matches_issued(creds, issued):
    assert creds["access_key"] == issued["AccessKeyId"]
    assert creds["secret_key"] == issued["SecretAccessKey"]
    assert creds["token"] == issued["Token"]


# --- CA ---------------------------------------------------------------------

def test_ca_is_idempotent_and_names_localhost(ca):
    before = ca.cert_pem.read_bytes()
    again = make_ca(ca.dir)
    assert again.cert_pem.read_bytes() == before
    assert oct(ca.key_pem.stat().st_mode & 0o777) == "0o600"
    for check in (["-verify_hostname", "localhost"], ["-verify_ip", "127.0.0.1"]):
        out = subprocess.run(["openssl", "verify", "-CAfile", str(ca.ca_pem), *check, str(ca.cert_pem)],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr


# --- boto3 against each AWS source ------------------------------------------

@needs_boto3
def test_boto3_container_credentials(mock, hermetic_env):
    mock.configure(container_token="Bearer mock/auth+tok=")
    env = hermetic_env(
        AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{mock.http_url}/aws/container-credentials",
        AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer mock/auth+tok=",
    )
    creds = boto3_creds(env)
    assert creds["method"] == "container-role"
    assert_matches_issued(creds, mock.issued()[-1])
    (req,) = mock.requests("/aws/")
    assert req["method"] == "GET" and not req["tls"]
    assert req["headers"]["authorization"] == "Bearer mock/auth+tok="


@needs_boto3
def test_boto3_web_identity_via_sts_override(mock, hermetic_env, tmp_path):
    token_file = tmp_path / "web-identity-token"
    token_file.write_text("eyJhbGciOi.mock-jwt.sig")
    env = hermetic_env(
        AWS_WEB_IDENTITY_TOKEN_FILE=token_file,
        AWS_ROLE_ARN="arn:aws:iam::123456789012:role/mock",
        AWS_ROLE_SESSION_NAME="passmint-test",
        AWS_ENDPOINT_URL_STS=mock.http_url,
        AWS_REGION="us-east-1",
    )
    creds = boto3_creds(env)
    assert creds["method"] == "assume-role-with-web-identity"
    issued = mock.issued()[-1]
    assert_matches_issued(creds, issued)
    (req,) = mock.requests()
    assert (req["method"], req["path"], req["route"]) == ("POST", "/", "sts")
    assert req["form"]["Action"] == "AssumeRoleWithWebIdentity"
    assert req["form"]["RoleArn"] == issued["RoleArn"] == "arn:aws:iam::123456789012:role/mock"
    assert req["form"]["RoleSessionName"] == "passmint-test"
    assert req["form"]["WebIdentityToken"] == "eyJhbGciOi.mock-jwt.sig"
    assert "authorization" not in req["headers"]  # the call is unsigned


@needs_boto3
def test_boto3_imdsv2(mock, hermetic_env):
    env = hermetic_env(
        AWS_EC2_METADATA_DISABLED=None,
        AWS_EC2_METADATA_SERVICE_ENDPOINT=f"{mock.http_url}/",
    )
    creds = boto3_creds(env)
    assert creds["method"] == "iam-role"
    assert_matches_issued(creds, mock.issued()[-1])
    reqs = mock.requests("/latest/")
    assert [r["route"] for r in reqs][:3] == ["imds-token", "imds-role", "imds-creds"]
    assert reqs[0]["method"] == "PUT"
    assert reqs[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"].isdigit()
    token = reqs[1]["headers"]["x-aws-ec2-metadata-token"]
    assert token in mock.issued_secrets()
    assert reqs[2]["path"].endswith("/" + mock.role_name)


@needs_boto3
def test_boto3_retries_through_a_transient_container_fault(mock, hermetic_env):
    mock.fault("container", status=500, times=1)
    env = hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{mock.http_url}/aws/container-credentials")
    assert boto3_creds(env)["method"] == "container-role"
    assert [r["faulted"] for r in mock.requests()] == [True, False]


@needs_boto3
def test_boto3_sees_sts_access_denied(mock, hermetic_env, tmp_path):
    mock.fault("sts", status=403)
    (tmp_path / "tok").write_text("mock-jwt")
    env = hermetic_env(
        AWS_WEB_IDENTITY_TOKEN_FILE=tmp_path / "tok",
        AWS_ROLE_ARN="arn:aws:iam::123456789012:role/mock",
        AWS_ENDPOINT_URL_STS=mock.http_url,
        AWS_REGION="us-east-1",
    )
    assert "AccessDenied" in boto3_fails(env)


# --- mock behaviour ---------------------------------------------------------

def test_credentials_are_distinct_and_encoding_hostile(mock):
    seen = []
    for _ in range(3):
        status, body, _ = fetch(f"{mock.http_url}/aws/container-credentials")
        assert status == 200
        seen.append(json.loads(body))
    assert len({c["AccessKeyId"] for c in seen}) == 3
    assert len({c["SecretAccessKey"] for c in seen}) == 3
    ids = [int(c["AccessKeyId"][len("ASIAMOCK"):]) for c in seen]
    assert ids == sorted(ids) and all(c["AccessKeyId"].startswith("ASIAMOCK") for c in seen)
    for c in seen:
        assert all(ch in c["Token"] for ch in "/+=")
        assert c["Expiration"].endswith("Z")
        assert c["SecretAccessKey"] in mock.issued_secrets()
        assert c["Token"] in mock.issued_secrets()


def test_https_is_verifiable_by_name_and_ip(mock):
    ctx = ssl.create_default_context(cafile=str(mock.ca_pem))
    port = mock.https_url.rsplit(":", 1)[1]
    for host in ("localhost", "127.0.0.1"):
        status, _, _ = fetch(f"https://{host}:{port}/aws/container-credentials", context=ctx)
        assert status == 200
    assert [r["tls"] for r in mock.requests()] == [True, True]
    with pytest.raises(urllib.error.URLError):
        fetch(f"{mock.https_url}/aws/container-credentials", context=ssl.create_default_context())


def test_container_token_is_enforced(mock):
    mock.configure(container_token="secret-tok")
    url = f"{mock.http_url}/aws/container-credentials"
    assert fetch(url)[0] == 401
    assert fetch(url, headers={"Authorization": "wrong"})[0] == 401
    assert fetch(url, headers={"Authorization": "secret-tok"})[0] == 200


def test_imds_requires_a_session_token(mock):
    base = f"{mock.http_url}/latest"
    creds_path = f"{base}/meta-data/iam/security-credentials/"
    assert fetch(creds_path)[0] == 401
    assert fetch(f"{base}/api/token", "PUT")[0] == 400  # no TTL header
    status, token, headers = fetch(
        f"{base}/api/token", "PUT", {"x-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200 and headers["x-aws-ec2-metadata-token-ttl-seconds"] == "60"
    auth = {"x-aws-ec2-metadata-token": token}
    assert fetch(creds_path, headers={"x-aws-ec2-metadata-token": "forged"})[0] == 401
    assert fetch(creds_path, headers=auth)[1] == mock.role_name
    status, body, _ = fetch(creds_path + mock.role_name, headers=auth)
    doc = json.loads(body)
    assert status == 200 and doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC"
    assert set(doc) >= {"LastUpdated", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert fetch(creds_path + "other-role", headers=auth)[0] == 404
    assert fetch(f"{base}/meta-data/instance-id", headers=auth)[0] == 404


def test_sts_rejects_bad_requests(mock):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body, _ = fetch(mock.http_url + "/", "POST", form, b"Action=GetCallerIdentity")
    assert status == 400 and "<Code>InvalidAction</Code>" in body
    status, body, _ = fetch(mock.http_url + "/", "POST", form,
                            b"Action=AssumeRoleWithWebIdentity&RoleArn=a&RoleSessionName=s")
    assert status == 400 and "WebIdentityToken" in body


def test_fault_status_body_times_and_headers(mock):
    url = f"{mock.http_url}/aws/container-credentials"
    mock.fault("container", status=503, body="down", headers={"Retry-After": "1"}, times=2)
    for _ in range(2):
        status, body, headers = fetch(url)
        assert (status, body, headers["Retry-After"]) == (503, "down", "1")
    assert fetch(url)[0] == 200


def test_fault_default_bodies_look_like_the_service(mock):
    mock.fault("sts", status=400)
    status, body, headers = fetch(mock.http_url + "/", "POST",
                                  {"Content-Type": "application/x-www-form-urlencoded"},
                                  b"Action=AssumeRoleWithWebIdentity")
    assert status == 400 and "<ErrorResponse" in body and headers["Content-Type"] == "text/xml"


def test_fault_malformed_body(mock):
    mock.fault("container", body='{"AccessKeyId": ')
    status, body, _ = fetch(f"{mock.http_url}/aws/container-credentials")
    assert (status, body) == (200, '{"AccessKeyId": ')
    assert mock.requests()[-1]["faulted"]


def test_fault_delay_and_hang(mock):
    url = f"{mock.http_url}/aws/container-credentials"
    mock.fault("container", delay=0.3, times=1)
    started = time.monotonic()
    assert fetch(url)[0] == 200
    assert time.monotonic() - started >= 0.3
    mock.fault("container", hang=True)
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        fetch(url, timeout=0.5)


def test_fault_on_unknown_route_is_an_error(mock):
    with pytest.raises(ValueError):
        mock.fault("contianer", status=500)
    assert control(mock, "fault", {"route": "nope", "status": 500})[0] == 400


def test_lifetime_and_expiration_overrides(mock):
    url = f"{mock.http_url}/aws/container-credentials"
    mock.set_credential_lifetime(None, 120)
    exp = json.loads(fetch(url)[1])["Expiration"]
    remaining = time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())
    assert 100 < remaining <= 121
    mock.set_expiration("container", 1795996800)
    assert json.loads(fetch(url)[1])["Expiration"] == 1795996800
    mock.set_expiration("container", OMIT)
    assert "Expiration" not in json.loads(fetch(url)[1])
    mock.reset()
    assert json.loads(fetch(url)[1])["Expiration"].endswith("Z")


def test_http_control_api(mock):
    url = f"{mock.http_url}/aws/container-credentials"
    assert control(mock, "fault", {"route": "container", "status": 429, "times": 1})[0] == 200
    assert fetch(url)[0] == 429
    assert fetch(url)[0] == 200
    assert control(mock, "expiration", {"route": "container", "value": "2026-11-24 00:00:00+00:00"})[0] == 200
    assert json.loads(fetch(url)[1])["Expiration"] == "2026-11-24 00:00:00+00:00"
    assert control(mock, "lifetime", {"route": None, "seconds": 5})[0] == 200
    assert control(mock, "config", {"container_token": "t"})[0] == 200
    assert fetch(url)[0] == 401
    status, body, _ = fetch(f"{mock.http_url}/_mock/requests?prefix=/aws/")
    recorded = json.loads(body)
    assert status == 200 and len(recorded) == 4
    assert all(r["path"] == "/aws/container-credentials" for r in recorded)
    issued = json.loads(fetch(f"{mock.http_url}/_mock/issued")[1])
    assert issued["secrets"] == mock.issued_secrets()
    assert control(mock, "reset")[0] == 200
    assert mock.requests() == [] and fetch(url)[0] == 200


def test_mock_runs_as_a_module(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "harness.mock", "--ready-file", str(ready),
                             "--ca-dir", str(tmp_path / "ca")], cwd=TESTS_DIR)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert proc.poll() is None, "mock exited early"
            assert time.monotonic() < deadline, "mock never became ready"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert Path(info["ca_pem"]).is_file()
        ctx = ssl.create_default_context(cafile=info["ca_pem"])
        assert fetch(f"{info['https_url']}/aws/container-credentials", context=ctx)[0] == 200
        assert len(json.loads(fetch(f"{info['http_url']}/_mock/requests")[1])) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not ready.exists()


# --- PostgreSQL ---------------------------------------------------------------

def test_pg_accepts_the_password_that_was_set(pg, pg_role):
    assert len(NASTY) > 1000 and all(c in NASTY for c in "&=%/+:")
    pg.set_password(pg_role, NASTY)
    assert pg.connect_psql(pg_role, NASTY) == pg_role
    ssl_used = pg.connect_psql(pg_role, NASTY, "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert ssl_used == "t"


def test_pg_refuses_a_wrong_or_rotated_password(pg, pg_role):
    pg.set_password(pg_role, "first-token")
    with pytest.raises(PsqlError, match="password authentication failed"):
        pg.connect_psql(pg_role, "not-the-token")
    pg.set_password(pg_role, "second-token")
    with pytest.raises(PsqlError, match="password authentication failed"):
        pg.connect_psql(pg_role, "first-token")
    assert pg.connect_psql(pg_role, "second-token") == pg_role


def test_pg_refuses_plaintext_and_unverified_servers(pg, pg_role, tmp_path):
    pg.set_password(pg_role, "tok")
    with pytest.raises(PsqlError, match="no encryption"):
        pg.connect_psql(pg_role, "tok", sslmode="disable")
    stranger = make_ca(tmp_path / "other-ca")
    with pytest.raises(PsqlError, match="certificate verify failed"):
        pg.connect_psql(pg_role, "tok", sslrootcert=stranger.ca_pem)
    assert "scram-sha-256" in pg.sql("show password_encryption")
    stored = pg.sql("select rolpassword from pg_authid where rolname = :'r'", r=pg_role)
    assert stored.startswith("SCRAM-SHA-256$")


def test_pg_dsn_quotes_values(pg):
    dsn = pg.dsn("u", password="it's a \\ test")
    assert "password='it\\'s a \\\\ test'" in dsn
    assert "sslmode='verify-full'" in dsn and f"port='{pg.port}'" in dsn


def test_pg_stop_leaves_no_process(ca):
    server = PostgresServer(ca).start()
    pid, data_dir = server.pid, server.dir
    children = [c.pid for c in _children(pid)]
    assert children, "postmaster should have background workers"
    server.stop()
    for p in [pid, *children]:
        stat = Path(f"/proc/{p}/stat")
        # Gone, or a zombie waiting for init to reap it: nothing is running.
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert not os.path.exists(data_dir)
