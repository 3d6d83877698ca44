"""Managed identity on every host azure-identity supports, AZURE_CLIENT_ID, and every answer shape
the official SDKs accept (docs/DESIGN.md §4, docs/CONFORMANCE.md).

Each host is emulated by the mock the way the host's endpoint behaves; passmint's request is
compared with azure-identity's (Python) against the same mock, and each logs into the harness
PostgreSQL. Answer shapes are served as the same bytes to passmint, azure-identity and
@azure/identity, and their outcomes are held to the table in docs/CONFORMANCE.md.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from harness import azref, bins, hygiene
from harness.azure import (
    ARC_KEY_DIR,
    ARC_KEY_FILE,
    jwt,
    system_identity_claims,
)
from harness.conformance import documented, outcome, row_message

UAMI_CLIENT = "11111111-2222-4333-8444-555555555555"
TOP = Path(__file__).resolve().parents[2]
DEADLINE = 10


def arc_wrap(key: str) -> tuple[str, ...]:
    """Runs a command in a private mount namespace where the Arc agent's key file exists."""
    script = (f'mount -t tmpfs none /var/opt && mkdir -p {ARC_KEY_DIR} && '
              f'printf %s "$ARC_TEST_KEY" > {ARC_KEY_FILE} && unset ARC_TEST_KEY && exec "$@"')
    return ("env", f"ARC_TEST_KEY={key}", "unshare", "-m", "sh", "-c", script, "sh")


@dataclass
class Host:
    route: str
    # The variables the host sets (values computed from the mock).
    env: Any
    # Request headers that carry the host's protocol, compared with azure-identity's.
    headers: tuple[str, ...]
    wrap: Any = field(default=lambda mock: ())


def thumbprint(mock) -> str:
    pem = mock.ca.cert_pem.read_text()
    first = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(first)).hexdigest().upper()


HOSTS = {
    "appservice": Host("azure-appservice", lambda m: {"IDENTITY_ENDPOINT": m.http_url + "/azure/appservice/token",
                                                      "IDENTITY_HEADER": m.identity_header},
                       ("x-identity-header", "metadata")),
    "appservice-2017": Host("azure-msi2017", lambda m: {"MSI_ENDPOINT": m.http_url + "/azure/msi2017/token",
                                                        "MSI_SECRET": m.identity_header}, ("secret",)),
    "imds": Host("azure-imds", lambda m: {"AZURE_POD_IDENTITY_AUTHORITY_HOST": m.http_url}, ("metadata",)),
    "arc": Host("azure-arc", lambda m: {"IDENTITY_ENDPOINT": m.http_url + "/azure/arc/token",
                                        "IMDS_ENDPOINT": m.http_url},
                ("metadata", "authorization"), wrap=lambda m: arc_wrap(m.arc_key)),
    "cloudshell": Host("azure-msi", lambda m: {"MSI_ENDPOINT": m.http_url + "/azure/msi/token"}, ("metadata",)),
    "servicefabric": Host("azure-fabric", lambda m: {"IDENTITY_ENDPOINT": m.https_url + "/azure/fabric/token",
                                                     "IDENTITY_HEADER": m.identity_header,
                                                     "IDENTITY_SERVER_THUMBPRINT": thumbprint(m)}, ("secret",)),
}


class Rig:
    def __init__(self, mock, hermetic_env, azure_clis) -> None:
        self.mock, self.hermetic_env, self.clis = mock, hermetic_env, azure_clis

    def env(self, host: str, **extra: str) -> dict[str, str]:
        return self.hermetic_env(**{**HOSTS[host].env(self.mock), **extra})

    def passmint(self, host: str | None, env: dict[str, str], *target: str) -> subprocess.CompletedProcess:
        """`passmint token --json` (default target: managed identity), in ``host``'s namespace if it
        has one (None: none)."""
        wrap = HOSTS[host].wrap(self.mock) if host else ()
        argv = [*wrap, str(bins.PASSMINT), "token", "--json", *(target or ["azure://?credential=managed"])]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=DEADLINE + 10, check=False)

    def reference(self, host: str, env: dict[str, str], js: bool = False, **opts: str) -> dict:
        return azref.run("managed", env, wrap=HOSTS[host].wrap(self.mock), js=js, timeout=60, **opts)

    def requests(self, action) -> tuple[Any, list[dict]]:
        before = len(self.mock.requests())
        result = action()
        return result, self.mock.requests()[before:]


@pytest.fixture
def rig(mock, hermetic_env, azure_clis):
    return Rig(mock, hermetic_env, azure_clis)


def ok(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return json.loads(r.stdout)


def token_request(reqs: list[dict], route: str) -> dict:
    """The request that got the token: the last one to the route (IMDS may be probed and Arc
    challenged first)."""
    mine = [r for r in reqs if r["route"] == route]
    assert mine, [(r["route"], r["path"]) for r in reqs]
    return mine[-1]


# --- every host ----------------------------------------------------------------------------

@pytest.mark.parametrize("host", HOSTS)
def test_each_host_logs_into_postgres(rig, host, pg, pg_role):
    rig.mock.configure(azure_app_name=pg_role)  # the identity is named like its role, as on Azure
    url = "postgresql://srv.postgres.database.azure.com/postgres"
    out = ok(rig.passmint(host, rig.env(host), "--for", url))
    assert out["username"] == pg_role and out["provider"] == "azure"
    assert out["token"] in rig.mock.issued_secrets()
    pg.set_password(pg_role, out["token"])
    row = pg.connect_psql(pg_role, out["token"],
                          sql="select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert row.split("|") == [pg_role, "t"]


@pytest.mark.parametrize("host", HOSTS)
def test_requests_match_azure_identity(rig, host):
    env, route = rig.env(host), HOSTS[host].route
    out, ours = rig.requests(lambda: ok(rig.passmint(host, env)))
    ref, theirs = rig.requests(lambda: rig.reference(host, env))
    assert "token" in ref, ref
    assert abs(out["expires_at"] - ref["expires_on"]) <= 5
    mine, py = token_request(ours, route), token_request(theirs, route)
    assert (mine["method"], mine["path"], mine["tls"]) == (py["method"], py["path"], py["tls"])
    assert mine["query_params"] == py["query_params"]
    for name in HOSTS[host].headers:
        assert mine["headers"].get(name) == py["headers"].get(name), name
    if mine["method"] == "POST":
        assert mine["form"] == py["form"]
    # The Arc key went only into the second request, as azure-identity sends it.
    if host == "arc":
        assert [r["headers"].get("authorization") is None for r in ours] == [True, False]


@pytest.mark.parametrize("host", ["appservice", "imds", "appservice-2017", "arc"])
def test_azure_client_id_selects_the_user_assigned_identity(rig, host):
    env = rig.env(host, AZURE_CLIENT_ID=UAMI_CLIENT)
    out, reqs = rig.requests(lambda: ok(rig.passmint(host, env)))
    req = token_request(reqs, HOSTS[host].route)
    spelled = "clientid" if host == "appservice-2017" else "client_id"
    assert req["query_params"].get(spelled) == UAMI_CLIENT
    issued = {r.get("access_token"): r for r in rig.mock.issued()}[out["token"]]
    assert issued["kind"] == "user" and issued["claims"]["appid"] == UAMI_CLIENT
    # The URL's identity wins over the environment's.
    other = "99999999-2222-4333-8444-555555555555"
    _, reqs = rig.requests(lambda: ok(rig.passmint(host, env, f"azure://?credential=managed&client_id={other}")))
    assert token_request(reqs, HOSTS[host].route)["query_params"].get(spelled) == other


def test_azure_client_id_selects_the_workload_identity(rig, tmp_path):
    token_file = tmp_path / "federated"
    token_file.write_text(rig.mock.federated_assertion)
    env = rig.hermetic_env(AZURE_TENANT_ID="7e57c0de-0000-4000-8000-0000000000aa", AZURE_CLIENT_ID=UAMI_CLIENT,
                           AZURE_FEDERATED_TOKEN_FILE=str(token_file), AZURE_AUTHORITY_HOST=rig.mock.https_url)
    _, reqs = rig.requests(lambda: ok(rig.passmint("imds", env, "azure://?credential=workload")))
    assert token_request(reqs, "azure-token")["form"]["client_id"] == UAMI_CLIENT


@pytest.mark.parametrize("host", ["cloudshell", "servicefabric"])
def test_hosts_with_one_identity_refuse_a_url_identity_and_ignore_the_environments(rig, host):
    r = rig.passmint(host, rig.env(host), f"azure://?credential=managed&client_id={UAMI_CLIENT}")
    assert r.returncode == 2 and "INVALID_CONFIG" in r.stderr and "client_id" in r.stderr, r.stderr
    assert rig.mock.requests() == []
    out = ok(rig.passmint(host, rig.env(host, AZURE_CLIENT_ID=UAMI_CLIENT)))
    assert {r.get("access_token"): r for r in rig.mock.issued()}[out["token"]]["kind"] == "system"


def test_arc_refuses_a_token_for_an_identity_it_did_not_confirm(rig):
    # An old agent ignores the selector and answers for the machine's own identity.
    rig.mock.arc_echoes = False
    r = rig.passmint("arc", rig.env("arc"), f"azure://?credential=managed&client_id={UAMI_CLIENT}")
    assert r.returncode != 0 and "AUTHENTICATION_FAILED" in r.stderr and "did not confirm" in r.stderr, r.stderr
    tokens = [x["access_token"] for x in rig.mock.issued() if x.get("route") == "azure-arc"]
    assert tokens and all(t not in r.stderr for t in tokens)


def test_arc_reads_keys_only_from_the_agents_directory(rig):
    rig.mock.fault("azure-arc", status=401, headers={"WWW-Authenticate": "Basic realm=/etc/passwd"})
    r = rig.passmint("arc", rig.env("arc"))
    assert r.returncode != 0 and "CREDENTIAL_UNAVAILABLE" in r.stderr and "outside" in r.stderr, r.stderr
    assert [x["headers"].get("authorization") for x in rig.mock.requests()] == [None]


def test_service_fabric_pins_the_thumbprint(rig):
    wrong = "AB" * 20
    r = rig.passmint("servicefabric", rig.env("servicefabric", IDENTITY_SERVER_THUMBPRINT=wrong))
    assert r.returncode != 0 and "NETWORK" in r.stderr and "THUMBPRINT" in r.stderr, r.stderr
    assert rig.mock.identity_header not in r.stderr
    assert rig.mock.requests() == []
    plain = rig.env("servicefabric", IDENTITY_ENDPOINT=rig.mock.http_url + "/azure/fabric/token")
    r = rig.passmint("servicefabric", plain)
    assert r.returncode == 2 and "https" in r.stderr, r.stderr


# --- answer shapes: passmint, azure-identity and @azure/identity on the same bytes -----------

NOW_SHAPES = {
    # id: (host, body template). {token}, {exp} (unix seconds, an hour on), {past} (a minute
    # ago), {iso_ms} ({exp} as JavaScript's toISOString), {iso} (the same without milliseconds),
    # {date2017} (App Service 2017's Linux form).
    "appservice-expires_on-string": ("appservice", '{"access_token":"{token}","expires_on":"{exp}","resource":"R","token_type":"Bearer"}'),
    "appservice-expires_on-int": ("appservice", '{"access_token":"{token}","expires_on":{exp},"resource":"R","token_type":"Bearer"}'),
    "appservice-no-resource-no-type": ("appservice", '{"access_token":"{token}","expires_on":"{exp}"}'),
    "appservice-refresh_in": ("appservice", '{"access_token":"{token}","expires_on":{exp},"expires_in":3600,"refresh_in":1800}'),
    "appservice-expires_in-only": ("appservice", '{"access_token":"{token}","expires_in":3600,"token_type":"Bearer"}'),
    "appservice-iso-ms": ("appservice", '{"access_token":"{token}","expires_on":"{iso_ms}"}'),
    "appservice-iso": ("appservice", '{"access_token":"{token}","expires_on":"{iso}"}'),
    "appservice-2017-date": ("appservice", '{"access_token":"{token}","expires_on":"{date2017}"}'),
    "appservice-expired": ("appservice", '{"access_token":"{token}","expires_on":"{past}"}'),
    "appservice-no-expiry": ("appservice", '{"access_token":"{token}","token_type":"Bearer"}'),
    "imds-strings": ("imds", '{"access_token":"{token}","client_id":"c","expires_in":"3599","expires_on":"{exp}","ext_expires_in":"3599","not_before":"0","resource":"R","token_type":"Bearer"}'),
    "imds-expires_in-int": ("imds", '{"access_token":"{token}","expires_in":3600}'),
    "imds-expires_in-string": ("imds", '{"access_token":"{token}","expires_in":"3600"}'),
    "imds-expires_on-only": ("imds", '{"access_token":"{token}","expires_on":"{exp}","resource":"R"}'),
    "imds-expires_in-float-string": ("imds", '{"access_token":"{token}","expires_in":"3600.0"}'),
    "cloudshell-expires_on-string": ("cloudshell", '{"access_token":"{token}","expires_on":"{exp}","resource":"R","token_type":"Bearer"}'),
    "cloudshell-expires_in-only": ("cloudshell", '{"access_token":"{token}","expires_in":"3600"}'),
}


def render(template: str, token: str, now: int) -> tuple[str, int]:
    exp = now + 3600
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(exp))
    values = {"{token}": token, "{exp}": str(exp), "{past}": str(now - 60), "{iso_ms}": iso + ".000Z",
              "{iso}": iso + "Z", "{date2017}": time.strftime("%m/%d/%Y %H:%M:%S +00:00", time.gmtime(exp))}
    for name, value in values.items():
        template = template.replace(name, value)
    return template, exp


def as_reference(r: subprocess.CompletedProcess) -> dict:
    """passmint's CLI result in the references' shape: {token, expires_on} or {error}."""
    if r.returncode != 0:
        return {"error": r.stderr}
    out = json.loads(r.stdout)
    return {"token": out["token"], "expires_on": out["expires_at"]}


@pytest.mark.parametrize("case", NOW_SHAPES)
def test_answer_shapes_conform(rig, case):
    host, template = NOW_SHAPES[case]
    now = int(time.time())
    token = jwt(system_identity_claims("shape", now, now + 3600))
    hygiene.record([token])
    body, exp = render(template, token, now)
    rig.mock.fault(HOSTS[host].route, body=body)
    env = rig.env(host)
    r = rig.passmint(host, env)
    ours = as_reference(r)
    py, js = rig.reference(host, env), rig.reference(host, env, js=True)
    got = (outcome(py, exp), outcome(js, exp), outcome(ours, exp))
    if py.get("token") is not None and outcome(py, exp) == "ok":
        assert got[2] == "ok", (case, got, r.stderr)
    if "token" not in py and "token" not in js:
        assert r.returncode != 0 and "PROVIDER_RESPONSE" in r.stderr and token not in r.stderr, r.stderr
    assert documented().get(case) == got, row_message(case, got)


CLI_SHAPES = {
    # id: (tool, stdout template; see harness.azcli.render). Run with TZ=America/New_York, so a
    # naive local time read as UTC would be five hours off.
    "az-2.54": ("az", '{"accessToken":"{token}","expiresOn":"{local_us}","expires_on":{exp},"subscription":"s","tenant":"t","tokenType":"Bearer"}'),
    "az-expires_on-string": ("az", '{"accessToken":"{token}","expires_on":"{exp}","tokenType":"Bearer"}'),
    "az-no-tokenType": ("az", '{"accessToken":"{token}","expires_on":{exp}}'),
    "az-before-2.54": ("az", '{"accessToken":"{token}","expiresOn":"{local_us}","subscription":"s","tenant":"t","tokenType":"Bearer"}'),
    "az-before-2.54-no-microseconds": ("az", '{"accessToken":"{token}","expiresOn":"{local}","tokenType":"Bearer"}'),
    "azd-utc": ("azd", '{"token":"{token}","expiresOn":"{utc}"}'),
    "azd-7-fractional-digits": ("azd", '{"token":"{token}","expiresOn":"{utc7}"}'),
}


@pytest.mark.parametrize("case", CLI_SHAPES)
def test_cli_output_shapes_conform(rig, case):
    tool, template = CLI_SHAPES[case]
    kind = "cli" if tool == "az" else "azd"
    rig.clis.set_template(tool, template)
    env = rig.hermetic_env(**rig.clis.env(), TZ="America/New_York")
    env["PATH"] = rig.clis.bin_dir + ":" + env["PATH"]
    r = rig.passmint(None, env, f"azure://?credential={kind}")
    ours = as_reference(r)
    py, js = azref.run(kind, env), azref.run(kind, env, js=True)
    issued = {x["token"]: x["expires_on"] for x in rig.clis.issued(tool)}
    # Each run printed its own token: judge each against the expiry it was printed with.
    got = tuple(outcome(res, issued.get(res.get("token"), 0)) for res in (py, js, ours))
    if got[0] == "ok":
        assert got[2] == "ok", (case, got, r.stderr)
    if "token" not in py and "token" not in js:
        assert r.returncode != 0, r.stdout
    assert documented().get(case) == got, row_message(case, got)
