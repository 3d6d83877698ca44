"""Identity requests honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), through a real
proxy (proxy.py from PyPI, harness/proxy_server.py) that counts what it forwards; metadata and
managed-identity endpoints never go through it, whatever the variables say.

The services are named under `.passmint.test`, which only the proxy resolves (to the mock on
loopback): the same request fails without the proxy, so a success proves the proxy carried it.
"""

from __future__ import annotations

import json

import pytest
from harness import bins
from harness.ca import make_ca
from harness.mock import MockIdentityServer
from harness.proxy_server import ProxyServer

TENANT = "7e57c0de-0000-4000-8000-0000000000aa"
DSQL = "dsql://abc.dsql.us-east-1.on.aws?user=app"
LOGIN = "login.passmint.test"
STS = "sts.passmint.test"


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """A mock whose certificate also names the test domain's hosts."""
    ca = make_ca(tmp_path_factory.mktemp("proxy-ca"), names=(LOGIN, STS))
    with MockIdentityServer(ca) as server:
        yield server


@pytest.fixture
def proxy(tmp_path):
    with ProxyServer(tmp_path) as p:
        yield p


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


def run(env: dict[str, str], target: str = "azure://") -> dict:
    # --no-cache: each run must take the network path under test, not a token an earlier run shared.
    r = bins.cli(["token", "--json", "--no-cache", target], env, timeout=40)
    if r.returncode == 0:
        return json.loads(r.stdout)
    return {"error": r.stderr.strip()}


def issued_by(mock, out: dict) -> bool:
    return any(out.get("token") == i.get("access_token") for i in mock.issued())


def via(proxy, case: str = "upper", **extra) -> dict[str, str]:
    """Proxy variables in one case; NO_PROXY emptied (the hermetic runner sets it to `*`)."""
    names = {"upper": ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"),
             "lower": ("https_proxy", "http_proxy", "no_proxy")}[case]
    env = {names[0]: proxy.url, names[1]: proxy.url, "NO_PROXY": None, "no_proxy": None}
    env[names[2]] = ""
    return {**env, **extra}


def azure_secret_env(named, hermetic_env, authority: str, **extra) -> dict[str, str]:
    return hermetic_env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=named.azure_client_id,
                        AZURE_CLIENT_SECRET=named.azure_client_secret, AZURE_AUTHORITY_HOST=authority,
                        PASSMINT_CA_BUNDLE=str(named.ca.ca_pem), **extra)


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_entra_requests_go_through_the_proxy(named, proxy, hermetic_env, case):
    authority = f"https://{LOGIN}:{port_of(named.https_url)}"
    out = run(azure_secret_env(named, hermetic_env, authority, **via(proxy, case)))
    assert issued_by(named, out), out
    assert proxy.seen() == [f"CONNECT {LOGIN}:{port_of(named.https_url)}"]


def test_without_the_proxy_the_same_request_fails(named, hermetic_env):
    authority = f"https://{LOGIN}:{port_of(named.https_url)}"
    out = run(azure_secret_env(named, hermetic_env, authority, NO_PROXY=""))
    assert "token" not in out and "(NETWORK)" in out["error"], out


def test_no_proxy_sends_a_matching_host_direct(named, proxy, hermetic_env):
    out = run(azure_secret_env(named, hermetic_env, named.https_url,
                               **via(proxy, NO_PROXY="localhost,127.0.0.1")))
    assert issued_by(named, out), out
    assert proxy.seen() == []


@pytest.mark.parametrize("host", ["imds", "appservice"])
def test_managed_identity_endpoints_are_never_proxied(named, proxy, hermetic_env, host):
    endpoint = ({"AZURE_POD_IDENTITY_AUTHORITY_HOST": named.http_url} if host == "imds" else
                {"IDENTITY_ENDPOINT": named.http_url + "/azure/appservice/token",
                 "IDENTITY_HEADER": named.identity_header})
    out = run(hermetic_env(**endpoint, **via(proxy)), "azure://?credential=managed")
    assert issued_by(named, out), out
    assert proxy.seen() == []


def aws_issued(mock, out: dict) -> bool:
    token = out.get("token", "")
    return any(i.get("AccessKeyId") and f"X-Amz-Credential={i['AccessKeyId']}" in token
               for i in mock.issued())


def web_identity_env(named, hermetic_env, tmp_path, sts: str, **extra) -> dict[str, str]:
    jwt = tmp_path / "web-identity-token"
    jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln")
    return hermetic_env(AWS_WEB_IDENTITY_TOKEN_FILE=str(jwt), AWS_ROLE_ARN="arn:aws:iam::123456789012:role/mock",
                        AWS_ENDPOINT_URL_STS=sts, **extra)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_sts_goes_through_the_proxy(named, proxy, hermetic_env, tmp_path, scheme):
    # https: PASSMINT_CA_BUNDLE replaces the SDK's client, and the proxy still applies.
    port = port_of(named.http_url if scheme == "http" else named.https_url)
    env = web_identity_env(named, hermetic_env, tmp_path, f"{scheme}://{STS}:{port}",
                           PASSMINT_CA_BUNDLE=str(named.ca.ca_pem), **via(proxy))
    out = run(env, DSQL)
    assert aws_issued(named, out), out
    method = "CONNECT" if scheme == "https" else "POST"
    assert proxy.seen() == [f"{method} {STS}:{port}"]
    # Without the proxy the name does not resolve.
    env = web_identity_env(named, hermetic_env, tmp_path, f"{scheme}://{STS}:{port}",
                           PASSMINT_CA_BUNDLE=str(named.ca.ca_pem), NO_PROXY="")
    out = run(env, DSQL)
    assert "token" not in out, out


@pytest.mark.parametrize("endpoint", ["container", "imds"])
def test_aws_metadata_endpoints_are_never_proxied(named, proxy, hermetic_env, endpoint):
    where = ({"AWS_CONTAINER_CREDENTIALS_FULL_URI": named.http_url + "/aws/container-credentials"}
             if endpoint == "container" else
             {"AWS_EC2_METADATA_SERVICE_ENDPOINT": named.http_url, "AWS_EC2_METADATA_DISABLED": None})
    out = run(hermetic_env(**where, **via(proxy)), DSQL)
    assert aws_issued(named, out), out
    assert proxy.seen() == []
