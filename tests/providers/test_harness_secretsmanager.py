"""The Secrets Manager emulator (moto's server, harness.secretsmanager) is only worth comparing
passmint against if boto3, the reference, reads from it what AWS would give: the RDS-shaped
secret under each staging label, a rotation's labels moving, AWS's errors and refusals, and a
record of what a client sent that matches what boto3 says it sent."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

import pytest
from harness import smref
from harness.env import CLOSED
from harness.secretsmanager import (
    ACCOUNT_ID,
    CONTENT_TYPE,
    DEFAULT_REGION,
    GET_SECRET_VALUE,
    SERVICE,
)

DB = {"username": "app_user", "host": "db.internal.example", "port": 5432, "dbname": "app"}


def password():
    # Long enough for the hygiene scan (16+), and new each time so no two tests share one.
    return secrets.token_urlsafe(24)


def make_secret(sm, name="prod/app/db", pw=None):
    pw = pw or password()
    arn = sm.create_rds_secret(name, DB["username"], pw, DB["host"], DB["port"], DB["dbname"])
    return arn, pw


@pytest.fixture
def client_env(secretsmanager, hermetic_env):
    """``client_env(**overrides)``: a clean environment pointed at the emulator."""

    def make(https=False, **overrides):
        return hermetic_env(**{**secretsmanager.env(https=https), **overrides})

    return make


def read(env, secret_id="prod/app/db", **kw):
    answer = smref.run(env, secret_id, **kw)
    assert "error" not in answer, answer
    return answer


# --- the environment a client gets ----------------------------------------------------------

def test_env_points_the_default_chain_at_loopback_only(secretsmanager):
    env = secretsmanager.env()
    assert set(env) == {"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_REGION", "AWS_DEFAULT_REGION"}
    assert urlsplit(env["AWS_ENDPOINT_URL_SECRETS_MANAGER"]).hostname == "127.0.0.1"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == DEFAULT_REGION
    https = secretsmanager.env(https=True)
    assert urlsplit(https["AWS_ENDPOINT_URL_SECRETS_MANAGER"]).scheme == "https"
    assert urlsplit(https["AWS_ENDPOINT_URL_SECRETS_MANAGER"]).hostname == "127.0.0.1"


def test_the_service_endpoint_wins_over_the_global_one(secretsmanager, client_env):
    # tests/run points AWS_ENDPOINT_URL at a closed port: botocore must still reach the emulator.
    make_secret(secretsmanager)
    read(client_env(AWS_ENDPOINT_URL=f"http://{CLOSED}"))
    # And the global one alone is enough when it is the only override.
    only_global = client_env(AWS_ENDPOINT_URL=secretsmanager.url, AWS_ENDPOINT_URL_SECRETS_MANAGER=None)
    read(only_global)


# --- reading and rotating ---------------------------------------------------------------------

def test_create_and_read_awscurrent(secretsmanager, client_env):
    arn, pw = make_secret(secretsmanager)
    assert arn.startswith(f"arn:aws:secretsmanager:{DEFAULT_REGION}:{ACCOUNT_ID}:secret:prod/app/db-")
    answer = read(client_env())
    assert answer["secret"] == {**DB, "password": pw, "engine": "postgres"}
    assert answer["arn"] == arn and answer["name"] == "prod/app/db"
    assert answer["version_stages"] == ["AWSCURRENT"]
    assert secretsmanager.versions("prod/app/db") == {answer["version_id"]: ["AWSCURRENT"]}
    # By ARN too, as a URL may name it.
    assert read(client_env(), arn)["secret"]["password"] == pw


def test_stage_pending_leaves_awscurrent_alone(secretsmanager, client_env):
    _, old = make_secret(secretsmanager)
    new = password()
    pending = secretsmanager.stage_pending("prod/app/db", new)
    env = client_env()
    assert read(env)["secret"]["password"] == old
    staged = read(env, version_stage="AWSPENDING")
    assert staged["secret"] == {**DB, "password": new, "engine": "postgres"}
    assert staged["version_id"] == pending and staged["version_stages"] == ["AWSPENDING"]


def test_rotation_moves_awscurrent_and_awsprevious(secretsmanager, client_env):
    _, first = make_secret(secretsmanager)
    first_id = secretsmanager.versions("prod/app/db").popitem()[0]
    second = password()
    second_id = secretsmanager.rotate("prod/app/db", second, new_username="app_user_2")
    env = client_env()
    current = read(env)
    assert current["version_id"] == second_id
    assert current["secret"] == {**DB, "username": "app_user_2", "password": second, "engine": "postgres"}
    assert "AWSCURRENT" in current["version_stages"]
    previous = read(env, version_stage="AWSPREVIOUS")
    assert previous["version_id"] == first_id and previous["secret"]["password"] == first

    # A second rotation: AWSPREVIOUS follows, the first version keeps no label but stays readable.
    third = password()
    third_id = secretsmanager.rotate("prod/app/db", third)
    assert read(env)["secret"]["password"] == third
    assert read(env, version_stage="AWSPREVIOUS")["secret"]["password"] == second
    labels = secretsmanager.versions("prod/app/db")
    assert "AWSCURRENT" in labels[third_id] and labels[second_id] == ["AWSPREVIOUS"]
    assert labels.get(first_id, []) == []
    assert read(env, version_id=first_id)["secret"]["password"] == first


# --- errors -------------------------------------------------------------------------------------

def test_missing_secret_is_resource_not_found(secretsmanager, client_env):
    answer = smref.run(client_env(), "no/such/secret")
    assert answer["error"] == "ResourceNotFoundException"
    # On the wire: moto's 404 and JSON body (AWS says 400; the type is what clients key on).
    status, headers, body = secretsmanager.raw_call(GET_SECRET_VALUE, {"SecretId": "no/such/secret"})
    assert status == 404
    assert json.loads(body)["__type"] == "ResourceNotFoundException"
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"


def test_secrets_live_in_their_region(secretsmanager, client_env):
    make_secret(secretsmanager)
    answer = smref.run(client_env(), "prod/app/db", region="us-east-1")
    assert answer["error"] == "ResourceNotFoundException"
    assert answer["sent"][-1]["scope"]["region"] == "us-east-1"


def test_deleted_secrets(secretsmanager, client_env):
    make_secret(secretsmanager, "gone")
    make_secret(secretsmanager, "scheduled")
    secretsmanager.delete("gone")
    secretsmanager.delete("scheduled", force=False)
    env = client_env()
    assert smref.run(env, "gone")["error"] == "ResourceNotFoundException"
    assert smref.run(env, "scheduled")["error"] == "InvalidRequestException"


# --- signing --------------------------------------------------------------------------------------

def test_unsigned_and_misscoped_requests_are_refused(secretsmanager):
    make_secret(secretsmanager)
    call = {"SecretId": "prod/app/db", "VersionStage": "AWSCURRENT"}
    cases = [
        ({"sign": False}, 400, "MissingAuthenticationTokenException"),
        ({"headers": {"Authorization": "Bearer something"}}, 400, "IncompleteSignatureException"),
        ({"service": "s3"}, 403, "InvalidSignatureException"),
        ({"headers": {"X-Amz-Date": "20200101T000000Z"}}, 403, "SignatureDoesNotMatch"),
    ]
    for kwargs, status, kind in cases:
        got, headers, body = secretsmanager.raw_call(GET_SECRET_VALUE, call, **kwargs)
        assert (got, json.loads(body)["__type"]) == (status, kind), (kwargs, body)
        assert headers["content-type"] == CONTENT_TYPE
        assert b"SecretString" not in body
    # The same request, properly signed, is answered.
    got, _, body = secretsmanager.raw_call(GET_SECRET_VALUE, call)
    assert got == 200 and "SecretString" in json.loads(body)
    assert [r["status"] for r in secretsmanager.requests()] == [400, 400, 403, 403, 200]


def test_wrong_credentials_are_refused(secretsmanager, client_env):
    make_secret(secretsmanager)
    wrong_secret = smref.run(client_env(AWS_SECRET_ACCESS_KEY=password()), "prod/app/db")
    assert (wrong_secret["error"], wrong_secret["status"]) == ("SignatureDoesNotMatch", 403)
    unknown_key = smref.run(client_env(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE"), "prod/app/db")
    assert (unknown_key["error"], unknown_key["status"]) == ("InvalidClientTokenId", 403)


# --- what the server records ----------------------------------------------------------------------

def test_recorded_request_matches_what_boto3_sent(secretsmanager, client_env):
    make_secret(secretsmanager)
    answer = read(client_env())
    [sent] = answer["sent"]
    [got] = secretsmanager.requests(target=GET_SECRET_VALUE)
    for record in (sent, got):
        assert record["method"] == "POST" and record["path"] == "/" and record["query"] == ""
        assert record["headers"]["x-amz-target"] == GET_SECRET_VALUE
        assert record["headers"]["content-type"] == CONTENT_TYPE
        assert record["json"] == {"SecretId": "prod/app/db", "VersionStage": "AWSCURRENT"}
        scope = record["scope"]
        assert (scope["service"], scope["region"], scope["terminator"]) == (SERVICE, DEFAULT_REGION, "aws4_request")
        assert scope["access_key"] == secretsmanager.access_key_id
        assert {"host", "x-amz-date", "x-amz-target"} <= set(scope["signed_headers"])
    assert got["scope"] == sent["scope"]
    assert got["body"] == sent["body"]
    assert got["status"] == 200 and got["scheme"] == "http"
    # The harness's own calls (create_secret here) are left out unless asked for.
    assert len(secretsmanager.requests()) == 1
    targets = [r["headers"]["x-amz-target"] for r in secretsmanager.requests(include_admin=True)]
    assert targets == ["secretsmanager.CreateSecret", GET_SECRET_VALUE]


def test_https_with_the_harness_ca(secretsmanager, client_env):
    _, pw = make_secret(secretsmanager)
    env = client_env(https=True)
    assert read(env)["secret"]["password"] == pw
    [got] = secretsmanager.requests(target=GET_SECRET_VALUE)
    assert got["scheme"] == "https" and got["status"] == 200


def test_reset_forgets_secrets_requests_and_the_key(secretsmanager, client_env):
    make_secret(secretsmanager)
    before = client_env()
    read(before)
    secretsmanager.reset()
    assert secretsmanager.requests(include_admin=True) == []
    assert smref.run(before, "prod/app/db")["error"] == "InvalidClientTokenId"
    assert smref.run(client_env(), "prod/app/db")["error"] == "ResourceNotFoundException"


# --- hygiene ----------------------------------------------------------------------------------------

def test_every_secret_handed_out_is_in_the_hygiene_record(secretsmanager, tmp_path, monkeypatch):
    record = tmp_path / "secrets.txt"
    monkeypatch.setenv("PASSMINT_SECRETS_FILE", str(record))
    _, first = make_secret(secretsmanager)
    second = password()
    secretsmanager.stage_pending("prod/app/db", second)
    third = password()
    secretsmanager.rotate("prod/app/db", third)
    secretsmanager.reset()
    recorded = set(record.read_text().splitlines())
    assert {first, second, third, secretsmanager.secret_access_key} <= recorded
    # The whole SecretStrings too: a client that logs the JSON it received is caught as well.
    strings = [s for s in recorded if s.startswith("{")]
    assert {json.loads(s)["password"] for s in strings} == {first, second, third}
    assert recorded <= set(secretsmanager.issued_secrets())
