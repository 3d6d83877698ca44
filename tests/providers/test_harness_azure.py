"""The Azure half of the harness is only worth trusting if Python azure-identity accepts it:
each mocked source must give azure-identity a token, the routes must enforce what the real
services enforce, and the fake az/azd must answer both the Python and the Rust SDK's argv."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
from datetime import datetime

import pytest
from harness import azref
from harness.azure import (
    ASSERTION_TYPE,
    OSSRDBMS_RESOURCE,
    OSSRDBMS_SCOPE,
    decode_claims,
)
from harness.client import control, fetch, post_form
from harness.env import AZURE_SOURCES
from harness.env import hermetic_env as make_hermetic_env
from harness.mock import OMIT

TENANT = "tenant-under-test"
APPSERVICE = "/azure/appservice/token"
IMDS = "/metadata/identity/oauth2/token"
QUERY = f"api-version=2019-08-01&resource={OSSRDBMS_RESOURCE}"


def app_service(mock, query=QUERY, header=...):
    headers = {"X-IDENTITY-HEADER": mock.identity_header if header is ... else header}
    return fetch(f"{mock.http_url}{APPSERVICE}?{query}", headers={k: v for k, v in headers.items() if v})


def imds(mock, query=f"api-version=2018-02-01&resource={OSSRDBMS_RESOURCE}", path=IMDS, metadata="true"):
    return fetch(f"{mock.http_url}{path}?{query}", headers={"Metadata": metadata} if metadata else {})


def token_post(mock, **fields):
    form = {"client_id": mock.azure_client_id, "grant_type": "client_credentials", "scope": OSSRDBMS_SCOPE,
            "client_secret": mock.azure_client_secret, **fields}
    return post_form(f"{mock.http_url}/{TENANT}/oauth2/v2.0/token", {k: v for k, v in form.items() if v is not None})


def ok_json(reply):
    status, body, _ = reply
    assert status == 200, body
    return json.loads(body)


def mirid_name(token):
    return decode_claims(token)["xms_mirid"].rsplit("/", 1)[1]


# --- routes -------------------------------------------------------------------

def test_app_service_enforces_the_identity_header(mock):
    for header in (None, "wrong"):
        status, body, headers = app_service(mock, header=header)
        assert status == 401 and json.loads(body)["statusCode"] == 401
        assert headers["Content-Type"].startswith("application/json")
    doc = ok_json(app_service(mock))
    assert set(doc) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert isinstance(doc["expires_on"], str) and doc["expires_on"].isdigit()
    assert doc["resource"] == OSSRDBMS_RESOURCE and doc["token_type"] == "Bearer"
    assert doc["access_token"] in mock.issued_secrets() and mock.identity_header in mock.issued_secrets()
    assert [r["route"] for r in mock.requests()] == ["azure-appservice"] * 3


def test_app_service_validates_its_query(mock):
    assert app_service(mock, query=f"resource={OSSRDBMS_RESOURCE}")[0] == 400
    assert app_service(mock, query=f"api-version=2017-09-01&resource={OSSRDBMS_RESOURCE}")[0] == 400
    assert app_service(mock, query="api-version=2019-08-01")[0] == 400
    assert fetch(f"{mock.http_url}{APPSERVICE}?{QUERY}", "POST",
                 {"X-IDENTITY-HEADER": mock.identity_header}, b"")[0] == 405


def test_identity_header_is_fresh_per_reset_and_settable(mock):
    first = mock.identity_header
    mock.reset()
    assert mock.identity_header != first and first in mock.issued_secrets()
    mock.configure(identity_header=None)  # None: any header is accepted
    assert app_service(mock, header=None)[0] == 200


@pytest.mark.parametrize("selector", ["", "client_id=c1", "object_id=o1", "principal_id=p1",
                                      "mi_res_id=/subscriptions/s/x", "msi_res_id=/subscriptions/s/x"])
def test_managed_identity_claims_follow_the_selector(mock, selector):
    query = QUERY + ("&" + selector if selector else "")
    expected = "passmint-mock-uami" if selector else "passmint-mock-app"
    for reply in (app_service(mock, query=query), imds(mock, query=query)):
        token = ok_json(reply)["access_token"]
        claims = decode_claims(token)
        assert mirid_name(token) == expected
        assert claims["aud"] == OSSRDBMS_RESOURCE and claims["exp"] > claims["iat"] == claims["nbf"]
        assert {"iss", "tid", "oid"} <= set(claims) and "upn" not in claims
        provider = "userAssignedIdentities" if selector else "Microsoft.Web/sites"
        assert "/resourcegroups/passmint-rg/providers/" in claims["xms_mirid"] and provider in claims["xms_mirid"]
        if selector.startswith("client_id"):
            assert claims["appid"] == "c1"
    assert [i["kind"] for i in mock.issued()[-2:]] == ["user" if selector else "system"] * 2


def test_managed_identity_names_are_settable(mock):
    mock.configure(azure_app_name="web-1", azure_uami_name="id-2")
    assert mirid_name(ok_json(app_service(mock))["access_token"]) == "web-1"
    assert mirid_name(ok_json(app_service(mock, query=QUERY + "&client_id=x"))["access_token"]) == "id-2"


def test_imds_requires_the_metadata_header_and_answers_strings(mock):
    status, body, _ = imds(mock, metadata=None)
    assert status == 400
    assert json.loads(body) == {"error": "invalid_request", "error_description": "Required metadata header not specified"}
    assert imds(mock, query="resource=r")[0] == 400  # no api-version
    for path in (IMDS, IMDS + "/"):  # msal-node adds the slash
        doc = ok_json(imds(mock, path=path))
        fields = ("access_token", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type")
        assert set(fields) <= set(doc) and all(isinstance(doc[f], str) for f in fields)
        assert int(doc["expires_on"]) - int(doc["not_before"]) == 3600 and doc["expires_in"] == "3599"


def test_legacy_msi_endpoint(mock):
    url = f"{mock.http_url}/azure/msi/token"
    assert post_form(url, {"resource": OSSRDBMS_RESOURCE})[0] == 400  # no Metadata header
    doc = ok_json(post_form(url, {"resource": OSSRDBMS_RESOURCE}, {"Metadata": "true"}))
    assert doc["expires_on"].isdigit() and mirid_name(doc["access_token"]) == "passmint-mock-app"
    assert fetch(url, headers={"Metadata": "true"})[0] == 405


def test_oidc_document_points_at_the_https_mock(mock, ca):
    ctx = ssl.create_default_context(cafile=str(ca.ca_pem))
    port = mock.https_url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost"):
        doc = ok_json(fetch(f"https://{host}:{port}/{TENANT}/v2.0/.well-known/openid-configuration", context=ctx))
        base = f"https://{host}:{port}/{TENANT}"
        assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
        assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
        assert doc["issuer"] == f"{base}/v2.0"
    assert [r["route"] for r in mock.requests()] == ["azure-oidc"] * 2


def test_token_endpoint_client_secret(mock):
    doc = ok_json(token_post(mock))
    assert doc["token_type"] == "Bearer" and doc["expires_in"] == 3599 == doc["ext_expires_in"]
    claims = decode_claims(doc["access_token"])
    assert claims["appid"] == mock.azure_client_id and claims["idtyp"] == "app" and claims["tid"] == TENANT
    assert claims["aud"] == OSSRDBMS_RESOURCE and "xms_mirid" not in claims and "upn" not in claims
    issued = mock.issued()[-1]
    assert (issued["route"], issued["tenant"], issued["client_auth"]) == ("azure-token", TENANT, "secret")
    assert mock.azure_client_secret in mock.issued_secrets()
    req = mock.requests()[-1]
    assert req["path"] == f"/{TENANT}/oauth2/v2.0/token" and req["form"]["client_secret"] == mock.azure_client_secret


def test_token_endpoint_refusals(mock):
    status, body, _ = token_post(mock, client_secret="wrong")
    err = json.loads(body)
    assert status == 401 and err["error"] == "invalid_client" and err["error_codes"] == [7000215]
    assert err["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert token_post(mock, client_id="unknown-app")[0] == 400
    for scope in (None, "https://x"):  # missing, or without /.default
        status, body, _ = token_post(mock, scope=scope)
        assert status == 400 and json.loads(body)["error"] == "invalid_scope"
    assert token_post(mock, grant_type="password")[0] == 400
    assert token_post(mock, client_secret=None)[0] == 401
    secret = mock.azure_app("second-app")
    assert token_post(mock, client_id="second-app", client_secret=secret)[0] == 200
    assert mock.azure_app("third-app", "chosen") == "chosen" and "chosen" in mock.issued_secrets()


def test_token_endpoint_client_assertion(mock):
    fed = {"client_secret": None, "client_assertion": mock.federated_assertion,
           "client_assertion_type": ASSERTION_TYPE, "client_id": "any-workload-app"}
    doc = ok_json(token_post(mock, **fed))
    assert decode_claims(doc["access_token"])["appid"] == "any-workload-app"
    assert mock.federated_assertion in mock.issued_secrets()
    status, body, _ = token_post(mock, **{**fed, "client_assertion": "forged"})
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    assert token_post(mock, **{**fed, "client_assertion_type": "bearer"})[0] == 400


def test_claim_overrides_merge_remove_and_reset(mock):
    mock.set_azure_claims("azure-appservice", {"upn": "someone@x", "oid": None})
    mock.set_azure_claims("azure-appservice", {"name": "N"})
    claims = decode_claims(ok_json(app_service(mock))["access_token"])
    assert claims["upn"] == "someone@x" and claims["name"] == "N" and "oid" not in claims
    assert "upn" not in decode_claims(ok_json(imds(mock))["access_token"])  # other routes untouched
    with pytest.raises(ValueError):
        mock.set_azure_claims("container", {"upn": "x"})
    mock.reset()
    assert "upn" not in decode_claims(ok_json(app_service(mock))["access_token"])


def test_lifetime_and_expiry_overrides(mock):
    mock.set_credential_lifetime("azure-appservice", 120)
    doc = ok_json(app_service(mock))
    assert 110 < int(doc["expires_on"]) - time.time() <= 121
    assert decode_claims(doc["access_token"])["exp"] == int(doc["expires_on"])
    for value in (1795996800, "2026-11-24T01:00:00Z"):
        mock.set_expiration("azure-appservice", value)
        assert ok_json(app_service(mock))["expires_on"] == value
        mock.set_expiration("azure-imds", value)
        assert ok_json(imds(mock))["expires_on"] == value
        mock.set_expiration("azure-token", value)
        assert ok_json(token_post(mock))["expires_in"] == value
    for route, reply, field in (("azure-appservice", lambda: app_service(mock), "expires_on"),
                                ("azure-imds", lambda: imds(mock), "expires_on"),
                                ("azure-token", lambda: token_post(mock), "expires_in")):
        mock.set_expiration(route, OMIT)
        doc = ok_json(reply())
        assert field not in doc and "access_token" in doc


def test_queued_tokens_are_issued_in_order_then_fresh_ones(mock):
    mock.configure(azure_app_name="queued-app")
    first = mock.queue_azure_token("azure-appservice")
    second = mock.queue_azure_token("azure-appservice", "opaque-not-a-jwt")
    assert mirid_name(first) == "queued-app"
    assert ok_json(imds(mock))["access_token"] not in (first, second)  # other routes untouched
    assert ok_json(app_service(mock))["access_token"] == first
    assert ok_json(app_service(mock))["access_token"] == second
    third = ok_json(app_service(mock))["access_token"]
    assert third not in (first, second) and mirid_name(third) == "queued-app"
    recs = [r for r in mock.issued() if r["route"] == "azure-appservice"][-3:]
    assert [r["access_token"] for r in recs] == [first, second, third]
    assert recs[0]["claims"] == decode_claims(first)  # what the token carries, not what was computed
    assert {first, second} <= set(mock.issued_secrets())
    status, body, _ = control(mock, "azure-queue", {"route": "azure-imds"})
    assert status == 200 and ok_json(imds(mock))["access_token"] == json.loads(body)["token"]
    mock.queue_azure_token("azure-appservice")
    mock.reset()  # forgets the queue
    assert mirid_name(ok_json(app_service(mock))["access_token"]) == "passmint-mock-app"
    with pytest.raises(ValueError):
        mock.queue_azure_token("container")


@pytest.mark.parametrize(("route", "call", "shape"), [
    ("azure-appservice", app_service, {"statusCode", "message"}),
    ("azure-imds", imds, {"error", "error_description"}),
    ("azure-token", token_post, {"error", "error_description", "error_codes"}),
])
def test_fault_bodies_are_route_typical(mock, route, call, shape):
    for status in (400, 401, 403, 429, 500):
        mock.fault(route, status=status, times=1)
        got, body, headers = call(mock)
        assert got == status and shape <= set(json.loads(body)), body
        assert headers["Content-Type"].startswith("application/json")
    mock.fault(route, status=500, body="", times=1)
    assert call(mock)[:2] == (500, "")
    mock.fault(route, body="<html>not json</html>", times=1)
    assert call(mock)[:2] == (200, "<html>not json</html>")
    assert [r["faulted"] for r in mock.requests()][-3:] == [True, True, True]


def test_http_control_api_for_azure(mock):
    info = json.loads(fetch(f"{mock.http_url}/_mock/azure")[1])
    assert info["identity_header"] == mock.identity_header and info["client_secret"] == mock.azure_client_secret
    assert info["federated_assertion"] == mock.federated_assertion and info["tenant_id"] == mock.azure_tenant_id
    assert control(mock, "azure-claims", {"route": "azure-imds", "claims": {"upn": "u@x"}})[0] == 200
    assert decode_claims(ok_json(imds(mock))["access_token"])["upn"] == "u@x"
    status, body, _ = control(mock, "azure-app", {"client_id": "ctl-app"})
    secret = json.loads(body)["secret"]
    assert status == 200 and token_post(mock, client_id="ctl-app", client_secret=secret)[0] == 200
    assert control(mock, "config", {"identity_header": "hdr"})[0] == 200
    assert app_service(mock, header="hdr")[0] == 200
    assert control(mock, "fault", {"route": "azure-token", "status": 503, "times": 1})[0] == 200
    assert token_post(mock)[0] == 503
    assert control(mock, "expiration", {"route": "azure-appservice", "omit": True})[0] == 200
    assert "expires_on" not in ok_json(app_service(mock, header="hdr"))
    assert control(mock, "azure-claims", {"route": "nope", "claims": {}})[0] == 400


def test_hermetic_env_keeps_azure_closed(tmp_path, monkeypatch):
    for name in AZURE_SOURCES:
        monkeypatch.setenv(name, "leaked-from-the-developer")
    env = make_hermetic_env(tmp_path)
    assert not set(AZURE_SOURCES) & set(env)
    assert env["AZURE_AUTHORITY_HOST"] == "https://127.0.0.1:9"
    assert env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] == "http://127.0.0.1:9"
    env = make_hermetic_env(tmp_path, IDENTITY_ENDPOINT="http://127.0.0.1:1/x", AZURE_AUTHORITY_HOST=None)
    assert env["IDENTITY_ENDPOINT"] == "http://127.0.0.1:1/x" and "AZURE_AUTHORITY_HOST" not in env


# --- azure-identity against the mock and the fakes ------------------------------

def secret_env(mock, hermetic_env):
    return hermetic_env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=mock.azure_client_id,
                        AZURE_CLIENT_SECRET=mock.azure_client_secret, AZURE_AUTHORITY_HOST=mock.https_url)


def assert_reference_token(result, secrets):
    assert "token" in result, result
    assert result["token"] in secrets
    assert result["expires_on"] > time.time() + 3000


def test_azref_client_secret_discovers_then_posts(mock, hermetic_env):
    assert_reference_token(azref.run("environment", secret_env(mock, hermetic_env)), mock.issued_secrets())
    oidc, post = mock.requests()
    assert (oidc["route"], post["route"]) == ("azure-oidc", "azure-token")
    assert post["tls"] and post["form"]["client_info"] == "1"
    assert {k: post["form"][k] for k in ("client_id", "grant_type", "scope", "client_secret")} == {
        "client_id": mock.azure_client_id, "grant_type": "client_credentials", "scope": OSSRDBMS_SCOPE,
        "client_secret": mock.azure_client_secret}


def test_azref_sees_a_wrong_client_secret(mock, hermetic_env):
    env = {**secret_env(mock, hermetic_env), "AZURE_CLIENT_SECRET": "wrong"}
    result = azref.run("environment", env)
    assert result["error"] == "ClientAuthenticationError" and "AADSTS7000215" in result["message"]


def test_azref_workload_identity_posts_the_assertion(mock, hermetic_env, tmp_path):
    token_file = tmp_path / "federated-token"
    token_file.write_text(mock.federated_assertion)
    env = hermetic_env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID="workload-app",
                       AZURE_FEDERATED_TOKEN_FILE=token_file, AZURE_AUTHORITY_HOST=mock.https_url)
    assert_reference_token(azref.run("workload", env), mock.issued_secrets())
    (post,) = mock.requests()
    assert post["form"]["client_assertion"] == mock.federated_assertion
    assert post["form"]["client_assertion_type"] == ASSERTION_TYPE and post["form"]["client_id"] == "workload-app"


@pytest.mark.parametrize(("opts", "param"), [({}, None), ({"client_id": "c-1"}, ("client_id", "c-1")),
                                             ({"object_id": "o-1"}, ("object_id", "o-1")),
                                             ({"resource_id": "/subscriptions/s/u"}, ("mi_res_id", "/subscriptions/s/u"))])
def test_azref_app_service(mock, hermetic_env, opts, param):
    env = hermetic_env(IDENTITY_ENDPOINT=mock.http_url + APPSERVICE, IDENTITY_HEADER=mock.identity_header)
    assert_reference_token(azref.run("managed", env, **opts), mock.issued_secrets())
    (req,) = mock.requests()
    expected = {"api-version": "2019-08-01", "resource": OSSRDBMS_RESOURCE, **dict([param] if param else [])}
    assert req["query_params"] == expected
    assert req["headers"]["x-identity-header"] == mock.identity_header


@pytest.mark.parametrize(("opts", "param"), [({}, None), ({"client_id": "c-1"}, ("client_id", "c-1")),
                                             ({"resource_id": "/subscriptions/s/u"}, ("msi_res_id", "/subscriptions/s/u"))])
def test_azref_imds(mock, hermetic_env, opts, param):
    env = hermetic_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=mock.http_url)
    assert_reference_token(azref.run("managed", env, **opts), mock.issued_secrets())
    (req,) = mock.requests()
    expected = {"api-version": "2018-02-01", "resource": OSSRDBMS_RESOURCE, **dict([param] if param else [])}
    assert req["path"] == IMDS and req["query_params"] == expected and req["headers"]["metadata"] == "true"


def test_azref_legacy_msi(mock, hermetic_env):
    env = hermetic_env(MSI_ENDPOINT=mock.http_url + "/azure/msi/token")
    assert_reference_token(azref.run("managed", env), mock.issued_secrets())
    (req,) = mock.requests()
    assert req["method"] == "POST" and req["form"] == {"resource": OSSRDBMS_RESOURCE}


def cli_env(hermetic_env, clis):
    env = hermetic_env(**clis.env())
    env["PATH"] = clis.bin_dir + ":" + env["PATH"]
    return env


@pytest.mark.parametrize("tenant", [None, "t-42"])
def test_azref_azure_cli(hermetic_env, azure_clis, tenant):
    assert_reference_token(azref.run("cli", cli_env(hermetic_env, azure_clis), tenant_id=tenant),
                           azure_clis.issued_secrets())
    (call,) = azure_clis.calls("az")
    assert call["argv"] == ["account", "get-access-token", "--output", "json", "--resource", OSSRDBMS_RESOURCE,
                            *(["--tenant", tenant] if tenant else [])]
    assert call["cwd"] in ("/bin", "/usr/bin") and call["exit"] == 0


@pytest.mark.parametrize("tenant", [None, "t-42"])
def test_azref_azd(hermetic_env, azure_clis, tenant):
    assert_reference_token(azref.run("azd", cli_env(hermetic_env, azure_clis), tenant_id=tenant),
                           azure_clis.issued_secrets())
    (call,) = azure_clis.calls("azd")
    assert call["argv"] == ["auth", "token", "--output", "json", "--no-prompt", "--scope", OSSRDBMS_SCOPE,
                            *(["--tenant-id", tenant] if tenant else [])]


def test_azref_sees_cli_failures(hermetic_env, azure_clis):
    env = cli_env(hermetic_env, azure_clis)
    azure_clis.fail("az")
    azure_clis.fail("azd")
    cli = azref.run("cli", env)
    assert cli["error"] == "CredentialUnavailableError" and "az login" in cli["message"]
    assert "azd auth login" in azref.run("azd", env)["message"]


# --- the fakes themselves ---------------------------------------------------------

def run_fake(env, *argv, shell=False):
    args = ["/bin/sh", "-c", "cd /bin && " + " ".join(argv)] if shell else list(argv)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_fake_az_answers_both_sdks_argv(hermetic_env, azure_clis):
    assert sorted(os.listdir(azure_clis.bin_dir)) == ["az", "azd"]
    env = cli_env(hermetic_env, azure_clis)
    rust = run_fake(env, "az account get-access-token -o json --scope https://x.example/.default "
                    '--tenant t-1 --subscription "my sub"', shell=True)
    python = run_fake(env, "az", "account", "get-access-token", "--output", "json", "--resource", "https://x.example")
    for proc in (rust, python):
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert set(out) == {"accessToken", "expiresOn", "expires_on", "subscription", "tenant", "tokenType"}
        assert isinstance(out["expires_on"], int)
        # Local time, no zone: with TZ=UTC it is the same instant as expires_on.
        assert datetime.strptime(out["expiresOn"], "%Y-%m-%d %H:%M:%S.%f").timestamp() == out["expires_on"]
        claims = decode_claims(out["accessToken"])
        assert claims["aud"] == "https://x.example" and claims["upn"] == claims["unique_name"] == "dev@passmint.example"
        assert claims["exp"] == out["expires_on"] and {"name", "oid", "tid"} <= set(claims)
    assert json.loads(rust.stdout)["tenant"] == "t-1" == decode_claims(json.loads(rust.stdout)["accessToken"])["tid"]
    assert [c["argv"][-1] for c in azure_clis.calls("az")] == ["my sub", "https://x.example"]
    assert azure_clis.issued_secrets() == [json.loads(p.stdout)["accessToken"] for p in (rust, python)]


def test_fake_azd_output(hermetic_env, azure_clis):
    env = cli_env(hermetic_env, azure_clis)
    proc = run_fake(env, "azd auth token -o json --no-prompt --scope https://x.example/.default --tenant-id t-9",
                    shell=True)
    out = json.loads(proc.stdout)
    assert set(out) == {"token", "expiresOn"} and out["expiresOn"].endswith("Z")
    claims = decode_claims(out["token"])
    assert (claims["aud"], claims["tid"]) == ("https://x.example", "t-9")
    assert datetime.strptime(out["expiresOn"], "%Y-%m-%dT%H:%M:%SZ").timestamp() == claims["exp"]


@pytest.mark.parametrize("argv", [
    ["az", "login"],
    ["az", "account", "get-access-token", "--output", "json"],  # no resource
    ["az", "account", "get-access-token", "--output", "table", "--resource", "r"],
    ["az", "account", "get-access-token", "-o", "json", "--resource", "r", "--scope", "s/.default"],
    ["az", "account", "get-access-token", "-o", "json", "--resource", "r", "--verbose"],
    ["azd", "auth", "token", "-o", "json", "--scope", "s/.default"],  # would prompt
    ["azd", "auth", "token", "-o", "json", "--no-prompt"],
    ["azd", "auth", "login"],
])
def test_fakes_refuse_unknown_invocations_loudly(hermetic_env, azure_clis, argv):
    proc = run_fake(cli_env(hermetic_env, azure_clis), *argv)
    assert proc.returncode == 2 and proc.stdout == "" and "fake" in proc.stderr
    assert azure_clis.calls()[-1]["argv"] == argv[1:]


def test_fake_switches(hermetic_env, azure_clis):
    env = cli_env(hermetic_env, azure_clis)
    az = ["az", "account", "get-access-token", "-o", "json", "--resource", "r"]
    azd = ["azd", "auth", "token", "-o", "json", "--no-prompt", "--scope", "r/.default"]
    azure_clis.fail("az")
    azure_clis.fail("azd")
    proc = run_fake(env, *az)
    assert (proc.returncode, proc.stderr, proc.stdout) == (1, "ERROR: Please run 'az login' to setup account.\n", "")
    proc = run_fake(env, *azd)
    assert proc.returncode == 1 and "azd auth login" in json.loads(proc.stderr)["data"]["message"]
    azure_clis.fail("az", "ERROR: AADSTS70043: The refresh token has expired.")
    assert run_fake(env, *az).stderr == "ERROR: AADSTS70043: The refresh token has expired."
    azure_clis.succeed("az")
    azure_clis.set_claims("az", {"upn": None, "preferred_username": "p@x"})
    azure_clis.set_lifetime("az", 600)
    azure_clis.set_delay("az", 0.4)
    started = time.monotonic()
    out = json.loads(run_fake(env, *az).stdout)
    assert time.monotonic() - started >= 0.4
    claims = decode_claims(out["accessToken"])
    assert "upn" not in claims and claims["preferred_username"] == "p@x" and claims["unique_name"]
    assert 590 < out["expires_on"] - time.time() <= 600
    assert azure_clis.calls("az")[-1]["duration"] >= 0.4
    with pytest.raises(ValueError):
        azure_clis.fail("gcloud")


def test_fakes_start_fast_and_log_concurrent_runs(hermetic_env, azure_clis):
    env = cli_env(hermetic_env, azure_clis)
    argv = ["az", "account", "get-access-token", "-o", "json", "--resource", "r"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(8)]
    tokens = {json.loads(p.communicate(timeout=30)[0])["accessToken"] for p in procs}
    calls = azure_clis.calls("az")
    assert len(tokens) == 8 and len(calls) == 8 and len({c["pid"] for c in calls}) == 8
    assert all(c["exit"] == 0 for c in calls)
    # Alone, a run costs tens of milliseconds (the real az takes ~3 s; identity-endpoints.md §2.6).
    run_fake(env, *argv)
    assert azure_clis.calls("az")[-1]["duration"] < 0.5


def test_fakes_need_their_state(hermetic_env, azure_clis):
    env = cli_env(hermetic_env, azure_clis)
    del env["PASSMINT_FAKE_AZ_STATE"]
    proc = run_fake(env, "az", "account", "get-access-token", "-o", "json", "--resource", "r")
    assert proc.returncode == 2 and "PASSMINT_FAKE_AZ_STATE" in proc.stderr
