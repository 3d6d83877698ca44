"""`gcp://`: Google Application Default Credentials for Cloud SQL and AlloyDB IAM users.

Each credential type is compared with google-auth's requests against the same mock (method,
path, query, the headers that matter, form fields, JWT claims), minted by the CLI, and logged
into the harness PostgreSQL through the cloud-style front door, which checks Google tokens as
Cloud SQL does (issued, unexpired, the role is the principal). Bad files get typed errors that
name what to fix and quote no secret."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from harness import bins, gcp, gcpref
from harness.cloudauth import CloudAuthFront, check_gcp

SA_USER = f"passmint-app@{gcp.PROJECT}.iam"
TARGET = f"passmint-target@{gcp.PROJECT}.iam.gserviceaccount.com"


def write(tmp_path: Path, name: str, content: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.fixture
def google_env(mock, hermetic_env):
    """An environment with Google's fixed endpoints on the mock; `adc=` names the file."""
    def make(adc: Path | None = None, **extra: str) -> dict[str, str]:
        env = hermetic_env(PASSMINT_GCP_TOKEN_URL=f"{mock.https_url}{gcp.TOKEN_PATH}",
                           PASSMINT_GCP_IAM_ENDPOINT=f"{mock.https_url}{gcp.IAM_PREFIX}", **extra)
        if adc is not None:
            env["GOOGLE_APPLICATION_CREDENTIALS"] = str(adc)
        return env
    return make


def token(url: str, env: dict[str, str]) -> dict:
    r = bins.cli(["token", "--json", "--no-cache", url], env, timeout=40)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def failure(url: str, env: dict[str, str]) -> tuple[int, str]:
    r = bins.cli(["token", "--json", "--no-cache", url], env, timeout=40)
    assert r.returncode != 0, r.stdout
    return r.returncode, r.stderr


def requests_of(mock, during) -> list[dict]:
    before = len(mock.requests())
    during()
    return [r for r in mock.requests()[before:] if str(r["route"]).startswith("gcp-")]


def jwt(assertion: str) -> tuple[dict, dict]:
    def part(p: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    head, body, _ = assertion.split(".")
    return part(head), part(body)


def shape(req: dict) -> dict:
    """What must be equal between passmint's request and google-auth's."""
    out = {"route": req["route"], "method": req["method"], "path": req["path"],
           "query": req["query_params"], "content-type": req["headers"].get("content-type", "").split(";")[0],
           "flavor": req["headers"].get("metadata-flavor"),
           "authorization": req["headers"].get("authorization", "").split(" ")[0],
           "user-project": req["headers"].get("x-goog-user-project")}
    form = dict(req["form"] or {})
    if "assertion" in form:
        header, claims = jwt(form.pop("assertion"))
        out["jwt"] = {"header": header, "claims": sorted(claims), "aud": claims["aud"], "iss": claims["iss"],
                      "scope": claims["scope"], "life": claims["exp"] - claims["iat"]}
    if req["route"] == "gcp-iam":
        body = json.loads(req["body"])
        out["body"] = body
    out["form"] = form
    return out


def same_requests(mock, ours_fn, theirs_fn) -> list[dict]:
    ours = [shape(r) for r in requests_of(mock, ours_fn)]
    reference: dict = {}
    theirs = [shape(r) for r in requests_of(mock, lambda: reference.update(theirs_fn()))]
    assert "token" in reference, reference
    assert len(ours) == len(theirs), ([r["route"] for r in ours], [r["route"] for r in theirs])
    for mine, ref in zip(ours, theirs):
        differ = {k: (mine.get(k), ref.get(k)) for k in set(mine) | set(ref) if mine.get(k) != ref.get(k)}
        assert not differ, differ
    return ours


# --- each credential, beside google-auth ------------------------------------------------


def test_service_account_key_matches_google_auth(mock, tmp_path, google_env):
    key = gcp.service_account(mock)
    env = google_env(write(tmp_path, "sa.json", key))
    got: dict = {}
    [req] = same_requests(mock, lambda: got.update(token("gcp://", env)),
                          lambda: gcpref.run("adc", env))
    assert req["form"] == {"grant_type": gcp.JWT_BEARER}
    assert req["jwt"]["aud"] == gcp.GOOGLE_AUDIENCE and req["jwt"]["iss"] == key["client_email"]
    assert req["jwt"]["header"]["kid"] == key["private_key_id"] and req["jwt"]["scope"] == gcp.SQL_LOGIN
    assert got["username"] == SA_USER and got["provider"] == "gcp"
    assert got["token"] in {i.get("access_token") for i in mock.issued()}


def test_authorized_user_matches_google_auth(mock, tmp_path, google_env):
    user = gcp.authorized_user(mock, "ana@example.com")
    # gcloud's own file, found through CLOUDSDK_CONFIG as gcloud and google-auth find it.
    env = google_env(None)
    Path(env["CLOUDSDK_CONFIG"]).mkdir(parents=True, exist_ok=True)
    write(Path(env["CLOUDSDK_CONFIG"]), "application_default_credentials.json", user)
    got: dict = {}
    [req] = same_requests(mock, lambda: got.update(token("gcp://", env)), lambda: gcpref.run("adc", env))
    assert req["form"] == {"grant_type": "refresh_token", "client_id": user["client_id"],
                           "client_secret": user["client_secret"], "refresh_token": user["refresh_token"],
                           "scope": gcp.SQL_LOGIN}
    # A user credential names no e-mail: the role must be given.
    assert got["username"] is None
    assert token("gcp://?user=ana@example.com", env)["username"] == "ana@example.com"


@pytest.mark.parametrize("source", ["file", "url"])
def test_workload_identity_federation_matches_google_auth(mock, tmp_path, google_env, source):
    mock.gcp.federated_user = "federated-app"
    if source == "file":
        subject = write(tmp_path, "subject.jwt", mock.gcp.subject_token)
        config = gcp.external_account(mock, file=str(subject))
    else:
        config = gcp.external_account(mock, url=f"{mock.http_url}{gcp.SUBJECT_PATH}", json_field="access_token")
    env = google_env(write(tmp_path, "wif.json", config))
    reqs = same_requests(mock, lambda: token("gcp://?user=federated-app", env), lambda: gcpref.run("adc", env))
    sts = next(r for r in reqs if r["route"] == "gcp-sts")
    assert sts["form"] == {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                           "audience": gcp.POOL_AUDIENCE, "scope": gcp.SQL_LOGIN,
                           "requested_token_type": gcp.ACCESS_TOKEN_TYPE,
                           "subject_token": mock.gcp.subject_token, "subject_token_type": gcp.JWT_TOKEN_TYPE}
    if source == "url":
        assert reqs[0]["route"] == "gcp-subject"


def _aws_subject(reqs: list[dict]) -> tuple[dict, dict, str]:
    """The STS form less its subject token, the decoded subject, and the subject as sent."""
    [sts] = [r for r in reqs if r["route"] == "gcp-sts"]
    form = dict(sts["form"])
    raw = form.pop("subject_token")
    return form, json.loads(unquote(raw)), raw


def _aws_shape(subject: dict) -> dict:
    auth = next(h["value"] for h in subject["headers"] if h["key"] == "Authorization")
    scope = auth.split("Credential=")[1].split(",")[0].split("/", 2)[2]  # region/service/aws4_request
    return {"url": subject["url"], "method": subject["method"], "keys": [h["key"] for h in subject["headers"]],
            "scope": scope, "signed": auth.split("SignedHeaders=")[1].split(",")[0],
            "target": next(h["value"] for h in subject["headers"] if h["key"] == "x-goog-cloud-target-resource")}


@pytest.mark.parametrize("keys", ["instance role (IMDSv2)", "environment"])
def test_aws_federation_matches_google_auth(mock, tmp_path, google_env, keys):
    mock.gcp.federated_user = "aws-app"
    extra = {}
    if keys == "environment":
        extra = {"AWS_ACCESS_KEY_ID": "AKIAMOCKENV000000001", "AWS_SECRET_ACCESS_KEY": "env/Secret+Key=0000000000000000000000",
                 "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjEnv/Session+Token==", "AWS_REGION": "eu-west-3"}
        mock.gcp.aws_keys[extra["AWS_ACCESS_KEY_ID"]] = extra["AWS_SECRET_ACCESS_KEY"]
    env = google_env(write(tmp_path, "aws.json", gcp.aws_external_account(mock)), **extra)

    def run(fn) -> list[dict]:
        before = len(mock.requests())
        fn()
        return mock.requests()[before:]

    got, reference = {}, {}
    ours = run(lambda: got.update(token("gcp://?user=aws-app", env)))
    theirs = run(lambda: reference.update(gcpref.run("adc", env)))
    assert "token" in reference, reference

    def sequence(reqs: list[dict]) -> list[tuple]:
        return [(r["route"], r["method"], r["path"], r["headers"].get("x-aws-ec2-metadata-token-ttl-seconds"),
                 "x-aws-ec2-metadata-token" in r["headers"]) for r in reqs]

    assert sequence(ours) == sequence(theirs)
    if keys == "environment":
        assert [r["route"] for r in ours] == ["gcp-sts"]
    else:
        # A session token for the region, another for the role and its keys, as google-auth asks.
        assert [r["route"] for r in ours] == ["imds-token", "imds-other", "imds-token", "imds-role", "imds-creds", "gcp-sts"]
    (form, subject, raw), (their_form, their_subject, _) = _aws_subject(ours), _aws_subject(theirs)
    assert form == their_form and form["subject_token_type"] == gcp.AWS_TOKEN_TYPE
    assert _aws_shape(subject) == _aws_shape(their_subject)
    # Serialized as google-auth serializes it: compact JSON with sorted keys, then quote().
    assert raw == quote(json.dumps(subject, separators=(",", ":"), sort_keys=True))
    assert got["username"] == "aws-app"


def test_aws_federation_errors(mock, tmp_path, google_env):
    config = gcp.aws_external_account(mock, region_url=False)
    env = google_env(write(tmp_path, "aws.json", config))
    _, err = failure("gcp://?user=x", env)
    assert "CREDENTIAL_UNAVAILABLE" in err and "AWS_REGION" in err
    mock.configure(role_name="")
    env = google_env(write(tmp_path, "aws.json", gcp.aws_external_account(mock)))
    _, err = failure("gcp://?user=x", env)
    assert "PROVIDER_RESPONSE" in err and "role" in err
    # Keys AWS never issued: Google's STS refuses the signature.
    env.update(AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000", AWS_SECRET_ACCESS_KEY="unknown-secret-value-00000000000000000")
    _, err = failure("gcp://?user=x", env)
    assert "AUTHENTICATION_FAILED" in err and "does not know the access key" in err
    assert "unknown-secret-value" not in err


def test_federation_with_impersonation_matches_google_auth(mock, tmp_path, google_env):
    subject = write(tmp_path, "subject.jwt", mock.gcp.subject_token)
    env = google_env(write(tmp_path, "wif.json", gcp.external_account(mock, file=str(subject), impersonate=TARGET)))
    got: dict = {}
    reqs = same_requests(mock, lambda: got.update(token("gcp://", env)), lambda: gcpref.run("adc", env))
    assert [r["route"] for r in reqs] == ["gcp-sts", "gcp-iam"]
    # The exchange asks for what impersonation needs; generateAccessToken for the login scope.
    assert reqs[0]["form"]["scope"] == gcp.SQL_LOGIN or reqs[0]["form"]["scope"] == gcp.IAM_SCOPE
    assert reqs[1]["body"] == {"delegates": None, "scope": [gcp.SQL_LOGIN], "lifetime": "3600s"}
    assert reqs[1]["authorization"] == "Bearer"
    assert got["username"] == f"passmint-target@{gcp.PROJECT}.iam"


def test_impersonate_parameter_matches_google_auth(mock, tmp_path, google_env):
    key = gcp.service_account(mock)
    env = google_env(write(tmp_path, "sa.json", key))
    iam = f"{mock.https_url}{gcp.IAM_PREFIX}"
    got: dict = {}
    reqs = same_requests(mock, lambda: got.update(token(f"gcp://?impersonate={TARGET}", env)),
                         lambda: gcpref.run("adc", env, impersonate=TARGET, iam_endpoint=iam))
    assert [r["route"] for r in reqs] == ["gcp-token", "gcp-iam"]
    assert reqs[0]["jwt"]["scope"] == gcp.IAM_SCOPE
    assert got["username"] == f"passmint-target@{gcp.PROJECT}.iam"


def test_impersonation_from_the_metadata_server(mock, google_env):
    host = mock.http_url.removeprefix("http://")
    env = google_env(None, GCE_METADATA_HOST=host)
    reqs = requests_of(mock, lambda: token(f"gcp://?credential=metadata&impersonate={TARGET}", env))
    # The source token is asked for with the IAM scope, as google-auth scopes its source.
    assert [r["route"] for r in reqs] == ["gcp-metadata", "gcp-metadata", "gcp-iam"]
    assert reqs[1]["query_params"] == {"scopes": gcp.IAM_SCOPE}


def test_impersonated_service_account_file(mock, tmp_path, google_env):
    user = gcp.authorized_user(mock, "ana@example.com")
    env = google_env(write(tmp_path, "imp.json", gcp.impersonated(user, TARGET, mock)))
    reqs = requests_of(mock, lambda: token("gcp://", env))
    assert [r["route"] for r in reqs] == ["gcp-token", "gcp-iam"]
    # A user's refresh token keeps its own scopes (google-auth leaves user credentials unscoped).
    assert "scope" not in reqs[0]["form"]
    assert json.loads(reqs[1]["body"])["scope"] == [gcp.SQL_LOGIN]
    assert reqs[1]["path"].endswith(f"/serviceAccounts/{TARGET}:generateAccessToken")


def test_metadata_server_matches_google_auth(mock, google_env):
    env = google_env(None, GCE_METADATA_HOST=mock.http_url.removeprefix("http://"),
                     GCE_METADATA_IP=mock.http_url.removeprefix("http://"))
    got: dict = {}
    reqs = same_requests(mock, lambda: got.update(token("gcp://?credential=metadata", env)),
                         lambda: gcpref.run("metadata", env))
    assert [r["path"] for r in reqs] == [gcp.METADATA_PREFIX + "/", gcp.METADATA_PREFIX + "/token"]
    assert reqs[0]["query"] == {"recursive": "true"} and reqs[1]["query"] == {"scopes": gcp.SQL_LOGIN}
    assert all(r["flavor"] == "Google" for r in reqs)
    assert got["username"] == gcp.db_user(gcp.METADATA_EMAIL)
    # auto: the probe first (its answer must carry Metadata-Flavor), unless NO_GCE_CHECK=true.
    env.pop("NO_GCE_CHECK")
    probe = requests_of(mock, lambda: token("gcp://", env))
    assert probe[0]["route"] == "gcp-metadata-ping" and probe[0]["headers"]["metadata-flavor"] == "Google"
    env["NO_GCE_CHECK"] = "true"
    _code, err = failure("gcp://", env)
    assert "NO_GCE_CHECK=true" in err and "CREDENTIAL_UNAVAILABLE" in err


def test_a_probe_answered_by_something_else_is_not_google(mock, google_env):
    env = google_env(None, GCE_METADATA_IP=mock.http_url.removeprefix("http://"))
    env.pop("NO_GCE_CHECK")
    mock.fault("gcp-metadata-ping", headers={"Metadata-Flavor": "NotGoogle"})
    _, err = failure("gcp://", env)
    assert "without `Metadata-Flavor: Google`" in err and "gcloud auth application-default login" in err


# --- the database ---------------------------------------------------------------------

LOGIN = """
import os, sys, passmint, passmint.psycopg
Connection = passmint.psycopg.connection_class(passmint.Provider(sys.argv[1]))
with Connection.connect(os.environ["CONNINFO"]) as conn:
    print(conn.execute("select current_user").fetchone()[0])
"""


@pytest.mark.parametrize("kind", ["service_account", "authorized_user", "external_account", "aws_external_account",
                                  "impersonated", "metadata"])
def test_each_credential_logs_in_through_the_front_door(mock, pg, ca, tmp_path, google_env, kind):
    url, env = "gcp://", None
    if kind == "service_account":
        role, env = SA_USER, google_env(write(tmp_path, "a.json", gcp.service_account(mock)))
    elif kind == "authorized_user":
        role = "ana@example.com"
        env = google_env(write(tmp_path, "a.json", gcp.authorized_user(mock, role)))
        url = f"gcp://?user={role}"
    elif kind == "external_account":
        role = f"passmint-target@{gcp.PROJECT}.iam"
        subject = write(tmp_path, "s.jwt", mock.gcp.subject_token)
        env = google_env(write(tmp_path, "a.json", gcp.external_account(mock, file=str(subject), impersonate=TARGET)))
    elif kind == "aws_external_account":
        role = f"passmint-target@{gcp.PROJECT}.iam"
        env = google_env(write(tmp_path, "a.json", gcp.aws_external_account(mock, impersonate=TARGET)))
    elif kind == "impersonated":
        role = f"passmint-target@{gcp.PROJECT}.iam"
        env = google_env(write(tmp_path, "a.json", gcp.impersonated(gcp.service_account(mock), TARGET, mock)))
    else:
        role = gcp.db_user(gcp.METADATA_EMAIL)
        host = mock.http_url.removeprefix("http://")
        env = google_env(None, GCE_METADATA_HOST=host, GCE_METADATA_IP=host)
        url = "gcp://?credential=metadata"
    pg.create_login_role(role)
    with CloudAuthFront(pg, ca, mock.issued, mock.issued_secrets) as front:
        env.update(CONNINFO=f"host=localhost port={front.port} dbname=postgres sslrootcert={ca.ca_pem}")
        r = subprocess.run([sys.executable, "-c", LOGIN, url], env=env, capture_output=True, text=True, timeout=60,
                           check=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == role
        [login] = [e for e in front.log if e["user"] == role]
        assert login["ok"] and login["kind"] == "gcp" and login["tls"]


def test_the_front_door_checks_google_tokens(mock, tmp_path, google_env):
    env = google_env(write(tmp_path, "sa.json", gcp.service_account(mock)))
    t = token("gcp://", env)["token"]
    now = time.time()
    assert check_gcp(t, SA_USER, mock.issued(), now) is None
    assert "is not role" in check_gcp(t, "someone", mock.issued(), now)
    assert check_gcp(t, SA_USER, mock.issued(), now + 7200) == "the token has expired"
    assert check_gcp("ya29.forged", SA_USER, mock.issued(), now) == "not a token Google issued"


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("content,kind,words", [
    ("{not json", "INVALID_CONFIG", "is not JSON"),
    ('{"type": "gremlin"}', "INVALID_CONFIG", "unknown credential type `gremlin`"),
    ('{"client_email": "a@b.c"}', "INVALID_CONFIG", "has no `type`"),
    ('{"type": "service_account", "client_email": "x@p.iam.gserviceaccount.com", "private_key": "not-a-key-SECRETBITS"}',
     "INVALID_CONFIG", "is not a PEM private key"),
    ('{"type": "authorized_user", "client_id": "c", "refresh_token": "1//SECRETBITS"}', "INVALID_CONFIG",
     "no `client_secret`"),
    (('{"type": "external_account", "audience": "a", "subject_token_type": "t", '
     '"credential_source": {"environment_id": "aws1", "region_url": "http://x"}}'), "INVALID_CONFIG",
     "regional_cred_verification_url"),
    (('{"type": "external_account", "audience": "a", "subject_token_type": "t", '
      '"credential_source": {"executable": {"command": "/bin/true"}}}'), "INVALID_CONFIG", "executable credential_source"),
])
def test_bad_credential_files_are_typed_errors_naming_the_fix(tmp_path, google_env, content, kind, words):
    env = google_env(write(tmp_path, "bad.json", content))
    _, err = failure("gcp://", env)
    assert kind in err and words in err, err
    assert "SECRETBITS" not in err


def test_a_missing_file_a_wrong_type_and_a_missing_user(mock, tmp_path, google_env, pg, ca):
    env = google_env(tmp_path / "nope.json")
    _, err = failure("gcp://", env)
    assert "CREDENTIAL_UNAVAILABLE" in err and "nope.json cannot be read" in err
    env = google_env(write(tmp_path, "sa.json", gcp.service_account(mock)))
    _, err = failure("gcp://?credential=authorized_user", env)
    assert "holds a service_account credential" in err
    # An authorized user names no role: the driver helper refuses to connect as the OS user.
    env = google_env(write(tmp_path, "u.json", gcp.authorized_user(mock)))
    env["CONNINFO"] = f"host=localhost port=9 dbname=postgres sslrootcert={ca.ca_pem}"
    r = subprocess.run([sys.executable, "-c", LOGIN, "gcp://"], env=env, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode != 0 and "gcloud sql users list" in r.stderr, r.stderr


@pytest.mark.parametrize("url,words", [
    ("gcp://?scope=cloud-platform", "allow_custom_scope"),
    ("gcp://?credential=gce", "unknown credential `gce`"),
    ("gcp://?impersonate=nobody", "not a service account e-mail"),
    ("gcp://host?user=a", "takes no host"),
])
def test_bad_urls(google_env, url, words):
    _, err = failure(url, google_env(None))
    assert "INVALID_CONFIG" in err and words in err, err


def test_endpoint_refusals_are_typed_and_quote_no_secret(mock, tmp_path, google_env):
    user = gcp.authorized_user(mock)
    env = google_env(write(tmp_path, "u.json", user))
    mock.fault("gcp-token", status=400,
               body=json.dumps({"error": "invalid_grant", "error_description": f"bad {user['refresh_token']}"}))
    _, err = failure("gcp://?user=ana@example.com", env)
    assert "AUTHENTICATION_FAILED" in err and "invalid_grant" in err
    assert user["refresh_token"] not in err and user["client_secret"] not in err
    mock.fault("gcp-token", body=b'{"access_token": "ya29.x", "expires_in": "soon"}', times=1)
    _, err = failure("gcp://?user=ana@example.com", env)
    assert "PROVIDER_RESPONSE" in err and "expires_in" in err


# --- the cache rules, for Google tokens -------------------------------------------------


@pytest.mark.parametrize("kind", ["service_account", "metadata"])
def test_a_storm_of_1000_cold_callers_makes_one_request(mock, tmp_path, google_env, kind):
    if kind == "metadata":
        host = mock.http_url.removeprefix("http://")
        url, env, route = "gcp://?credential=metadata", google_env(None, GCE_METADATA_HOST=host), "gcp-metadata"
    else:
        url, env, route = "gcp://", google_env(write(tmp_path, "sa.json", gcp.service_account(mock))), "gcp-token"
    lines = bins.mint(url, env, count=1, threads=1000, timeout=120)
    assert len(lines) == 1000 and all("token" in line for line in lines), lines[:3]
    assert len({line["token"] for line in lines}) == 1
    tokens = [r for r in mock.requests() if r["route"] == route and r["path"].endswith(("/token", "token"))]
    assert len(tokens) == 1, len(tokens)


def test_a_token_with_under_30_s_left_is_never_served(mock, tmp_path, google_env):
    env = google_env(write(tmp_path, "sa.json", gcp.service_account(mock)))
    mock.set_credential_lifetime("gcp-token", 20)
    _, err = failure("gcp://", env)
    assert "PROVIDER_RESPONSE" in err and "expires in 19 s" in err


def test_a_silent_metadata_server_is_not_waited_for(mock, google_env):
    host = mock.http_url.removeprefix("http://")
    env = google_env(None, GCE_METADATA_IP=host, GCE_METADATA_HOST=host)
    env.pop("NO_GCE_CHECK")
    mock.fault("gcp-metadata-ping", hang=True)
    started = time.monotonic()
    _, err = failure("gcp://", env)
    assert time.monotonic() - started < 8
    assert "CREDENTIAL_UNAVAILABLE" in err and "no answer from" in err
    # Named, the metadata server is asked without a probe; a hung one ends at the deadline.
    mock.clear_fault("gcp-metadata-ping")
    mock.fault("gcp-metadata", hang=True)
    started = time.monotonic()
    _, err = failure("gcp://?credential=metadata", env)
    assert "TIMEOUT" in err and time.monotonic() - started < 13
