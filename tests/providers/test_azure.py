"""Azure Entra tokens from passmint (docs/DESIGN.md §3, §4, §6): every credential kind, sent the way
Python azure-identity sends it (harness.azref against the same mock), picked in the chain's
order, quick when IMDS is absent, cached, with usernames from claims, sovereign clouds,
malformed answers mapped to the right error kind without leaking secrets, and a real
PostgreSQL login.

passmint is driven only through its CLI (`bins.cli`) and the mint example (`bins.mint`).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from harness import azref, bins
from harness.azure import (
    ASSERTION_TYPE,
    OSSRDBMS_RESOURCE,
    OSSRDBMS_SCOPE,
    jwt,
    resource_of,
)
from harness.mock import OMIT

TENANT = "7e57c0de-0000-4000-8000-0000000000aa"
WORKLOAD_CLIENT = "a0a0a0a0-0000-4000-8000-00000000a0a0"
UAMI_CLIENT = "11111111-2222-4333-8444-555555555555"
UAMI_OBJECT = "22222222-3333-4444-8555-666666666666"
UAMI_RESOURCE = ("/subscriptions/5ab5c41b-0000-4000-8000-0000000005ab/resourcegroups/passmint-rg/providers/"
                 "Microsoft.ManagedIdentity/userAssignedIdentities/passmint-mock-uami")
CLI_TENANT = "c11c11c1-0000-4000-8000-00000000c11c"
IMDS_API_VERSIONS = {"2018-02-01", "2019-08-01"}  # Python (MSAL) / the Rust SDK's constant
DEADLINE = 10  # docs/DESIGN.md §2: every fetch's deadline
SLACK = 3


def azure_url(**params: str) -> str:
    return "azure://" + ("?" + urlencode(params) if params else "")


@dataclass
class Failure:
    exit: int
    code: str
    line: str
    elapsed: float


class AzureRig:
    """The mock, the fake az/azd and the environments that expose each credential source."""

    def __init__(self, mock, hermetic_env, clis, tmp_path) -> None:
        self.mock, self.clis, self._hermetic_env, self._tmp = mock, clis, hermetic_env, tmp_path

    # --- environments ------------------------------------------------------

    def env(self, *sources: str, **overrides: str | None) -> dict[str, str]:
        """A hermetic env exposing ``sources``: secret, workload, appservice, imds, cli
        (fake az and azd first on PATH). Without imds, IMDS is a closed port."""
        mock = self.mock
        extra: dict[str, str] = {}
        if "secret" in sources:
            extra.update(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=mock.azure_client_id,
                         AZURE_CLIENT_SECRET=mock.azure_client_secret, AZURE_AUTHORITY_HOST=mock.https_url)
        if "workload" in sources:
            token_file = self._tmp / "federated-token"
            token_file.write_text(mock.federated_assertion)
            extra.update(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=WORKLOAD_CLIENT,
                         AZURE_FEDERATED_TOKEN_FILE=str(token_file), AZURE_AUTHORITY_HOST=mock.https_url)
        if "appservice" in sources:
            extra.update(IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                         IDENTITY_HEADER=mock.identity_header)
        if "imds" in sources:
            extra.update(AZURE_POD_IDENTITY_AUTHORITY_HOST=mock.http_url)
        if "cli" in sources:
            extra.update(self.clis.env())
        env = self._hermetic_env(**{**extra, **overrides})
        if "cli" in sources:
            env["PATH"] = self.clis.bin_dir + ":" + env["PATH"]
        return env

    # --- running passmint --------------------------------------------------

    def issued(self) -> dict[str, dict]:
        """Every token handed out by the mock or the fakes -> {source, expires_at, claims}."""
        out = {r["access_token"]: {"source": r["route"], "expires_at": r["expires_at"], "claims": r["claims"]}
               for r in self.mock.issued() if "access_token" in r and "claims" in r}  # Entra's, not Google's
        out.update({r["token"]: {"source": r["tool"], "expires_at": r["expires_on"], "claims": r["claims"]}
                    for r in self.clis.issued()})
        return out

    def secrets(self) -> list[str]:
        return [*self.mock.issued_secrets(), *self.clis.issued_secrets()]

    def run(self, env: dict[str, str], *target: str, **params: str) -> tuple[subprocess.CompletedProcess, float]:
        """`passmint token --json <target>` (default target: azure:// with ``params``)."""
        started = time.monotonic()
        r = bins.cli(["token", "--json", *(target or [azure_url(**params)])], env, timeout=DEADLINE + SLACK + 10)
        return r, time.monotonic() - started

    def succeeded(self, r: subprocess.CompletedProcess) -> dict:
        """The output of a run that must have given a token someone here issued."""
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        out = json.loads(r.stdout)
        assert set(out) == {"token", "expires_at", "username", "provider"}
        assert out["provider"] == "azure"
        issued = self.issued().get(out["token"])
        assert issued is not None, "passmint's token was not issued by the mock or the fakes"
        # Never later than the token's own expiry; at most a clock tick earlier.
        assert issued["expires_at"] - 2 <= out["expires_at"] <= issued["expires_at"], (out, issued)
        return {**out, "source": issued["source"], "claims": issued["claims"]}

    def failed(self, r: subprocess.CompletedProcess, elapsed: float, secrets: tuple[str, ...] = ()) -> Failure:
        """A run that must have failed: one stderr line, nothing on stdout, no secret shown."""
        assert r.returncode != 0 and r.stdout == "", (r.returncode, r.stdout)
        assert r.stderr.count("\n") == 1 and r.stderr.endswith(")\n"), r.stderr
        line = r.stderr.rstrip("\n")
        assert line.startswith("passmint: "), line
        for secret in (*self.secrets(), *secrets):
            assert secret not in line, "stderr shows a secret"
        return Failure(r.returncode, line.rsplit("(", 1)[1].rstrip(")"), line, elapsed)

    def token(self, env: dict[str, str], *target: str, **params: str) -> dict:
        """Token output plus what was issued: source (route or tool), claims."""
        return self.succeeded(self.run(env, *target, **params)[0])

    def fail(self, env: dict[str, str], *target: str, **params: str) -> Failure:
        return self.failed(*self.run(env, *target, **params))

    def requests_during(self, action):
        """(action's result, the mock requests it caused)."""
        before = len(self.mock.requests())
        result = action()
        return result, self.mock.requests()[before:]


@pytest.fixture
def rig(mock, hermetic_env, azure_clis, tmp_path):
    return AzureRig(mock, hermetic_env, azure_clis, tmp_path)


def only(reqs: list[dict], route: str) -> dict:
    matching = [r for r in reqs if r["route"] == route]
    assert len(matching) == 1, [(r["route"], r["path"]) for r in reqs]
    return matching[0]


def cli_target(argv: list[str]) -> dict[str, str | None]:
    """What an az/azd invocation asks for, whichever SDK's spelling it uses."""
    opts = dict(itertools.pairwise(argv))
    scope = opts.get("--scope")
    return {"resource": opts.get("--resource") or (resource_of(scope) if scope else None),
            "tenant": opts.get("--tenant") or opts.get("-t") or opts.get("--tenant-id")}


# --- each credential kind gets a token ------------------------------------------------

def test_client_secret_from_environment(rig):
    _, reqs = rig.requests_during(lambda: rig.token(rig.env("secret"), credential="environment"))
    post = only(reqs, "azure-token")
    assert post["method"] == "POST" and post["tls"] and post["path"] == f"/{TENANT}/oauth2/v2.0/token"
    assert post["form"]["client_id"] == rig.mock.azure_client_id
    assert post["form"]["client_secret"] == rig.mock.azure_client_secret
    assert post["form"]["grant_type"] == "client_credentials" and post["form"]["scope"] == OSSRDBMS_SCOPE


def test_workload_identity(rig):
    _, reqs = rig.requests_during(lambda: rig.token(rig.env("workload"), credential="workload"))
    form = only(reqs, "azure-token")["form"]
    assert form["client_assertion"] == rig.mock.federated_assertion
    assert form["client_assertion_type"] == ASSERTION_TYPE and form["client_id"] == WORKLOAD_CLIENT
    assert "client_secret" not in form


@pytest.mark.parametrize("client_id", [None, UAMI_CLIENT], ids=["system-assigned", "user-assigned"])
def test_app_service_managed_identity(rig, client_id):
    params = {"credential": "managed", **({"client_id": client_id} if client_id else {})}
    _, reqs = rig.requests_during(lambda: rig.token(rig.env("appservice"), **params))
    req = only(reqs, "azure-appservice")
    assert req["headers"]["x-identity-header"] == rig.mock.identity_header
    assert req["query_params"].get("client_id") == client_id
    assert req["query_params"]["resource"] == OSSRDBMS_RESOURCE


def test_imds_managed_identity_via_pod_identity_host(rig):
    env = rig.env("imds")
    assert "IDENTITY_ENDPOINT" not in env
    _, reqs = rig.requests_during(lambda: rig.token(env, credential="managed"))
    token_reqs = [r for r in reqs if r["route"] == "azure-imds" and r["headers"].get("metadata") == "true"]
    assert len(token_reqs) == 1 and token_reqs[0]["query_params"]["resource"] == OSSRDBMS_RESOURCE


@pytest.mark.parametrize("tenant", [None, CLI_TENANT], ids=["no-tenant", "tenant"])
@pytest.mark.parametrize(("kind", "tool"), [("cli", "az"), ("azd", "azd")])
def test_developer_cli(rig, kind, tool, tenant):
    params = {"credential": kind, **({"tenant_id": tenant} if tenant else {})}
    out = rig.token(rig.env("cli"), **params)
    assert out["source"] == tool
    (call,) = rig.clis.calls(tool)
    tenant_flag = "--tenant" if tool == "az" else "--tenant-id"
    assert (tenant_flag in call["argv"]) == bool(tenant), call["argv"]
    assert cli_target(call["argv"]) == {"resource": OSSRDBMS_RESOURCE, "tenant": tenant}


# --- conformance with azure-identity ----------------------------------------------

@dataclass
class Conformance:
    sources: tuple[str, ...]
    kind: str  # azref kind and passmint credential=
    route: str
    identity: dict[str, str]  # URL parameter -> value (the same names as azref's options)


CONFORMANCE = {
    "client-secret": Conformance(("secret",), "environment", "azure-token", {}),
    "workload": Conformance(("workload",), "workload", "azure-token", {}),
    "appservice-system": Conformance(("appservice",), "managed", "azure-appservice", {}),
    "appservice-client_id": Conformance(("appservice",), "managed", "azure-appservice", {"client_id": UAMI_CLIENT}),
    "appservice-object_id": Conformance(("appservice",), "managed", "azure-appservice", {"object_id": UAMI_OBJECT}),
    "imds-system": Conformance(("imds",), "managed", "azure-imds", {}),
    "imds-client_id": Conformance(("imds",), "managed", "azure-imds", {"client_id": UAMI_CLIENT}),
    "imds-resource_id": Conformance(("imds",), "managed", "azure-imds", {"resource_id": UAMI_RESOURCE}),
}
REQUIRED_FORM = ("client_id", "grant_type", "scope", "client_secret", "client_assertion", "client_assertion_type")


def token_request(reqs: list[dict], route: str) -> dict:
    """The request that got the token. IMDS: the last one carrying `Metadata: true`;
    passmint may send one probe without the header before it (docs/DESIGN.md §4), nothing else."""
    if route != "azure-imds":
        return only(reqs, route)
    imds = [r for r in reqs if r["route"] == route]
    real = [r for r in imds if r["headers"].get("metadata", "").lower() == "true"]
    assert real, imds
    others = [r for r in imds if r is not real[-1]]
    assert len(others) <= 1 and all("metadata" not in r["headers"] for r in others), others
    return real[-1]


@pytest.mark.parametrize("case", CONFORMANCE.values(), ids=CONFORMANCE.keys())
def test_requests_match_azure_identity(rig, case):
    env = rig.env(*case.sources)
    _, ours = rig.requests_during(lambda: rig.token(env, credential=case.kind, **case.identity))
    ref, theirs = rig.requests_during(lambda: azref.run(case.kind, env, **case.identity))
    assert ref.get("token") in rig.mock.issued_secrets(), ref

    if case.kind == "environment":
        # Documented difference: MSAL discovers the authority first, passmint posts straight away.
        assert [r["route"] for r in theirs] == ["azure-oidc", "azure-token"]
        assert [r["route"] for r in ours] == ["azure-token"]
    mine, py = token_request(ours, case.route), token_request(theirs, case.route)
    assert (mine["method"], mine["path"], mine["tls"]) == (py["method"], py["path"], py["tls"])

    q_mine, q_py = dict(mine["query_params"]), dict(py["query_params"])
    if case.route == "azure-imds":
        # Documented difference: passmint (the Rust SDK's constant) 2019-08-01, Python 2018-02-01.
        assert {q_mine.pop("api-version"), q_py.pop("api-version")} <= IMDS_API_VERSIONS
    assert q_mine == q_py

    h_mine, h_py = mine["headers"], py["headers"]
    if case.route == "azure-appservice":
        assert h_mine.get("x-identity-header") == h_py["x-identity-header"] == rig.mock.identity_header
    if case.route == "azure-imds":
        assert h_mine["metadata"].lower() == h_py["metadata"].lower() == "true"
    if mine["method"] == "POST":
        for h in (h_mine, h_py):
            assert h["content-type"].split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        required = {k: py["form"][k] for k in REQUIRED_FORM if k in py["form"]}
        assert {k: mine["form"].get(k) for k in required} == required
        # Python may add telemetry (client_info=1); passmint sends nothing Python doesn't.
        assert set(mine["form"]) <= set(py["form"]), set(mine["form"]) - set(py["form"])


def test_app_service_resource_id_is_never_the_wrong_identity(rig):
    """App Service selects by `mi_res_id` (Python sends it); `msi_res_id` is IMDS's spelling, which
    App Service would ignore and answer for the system identity. passmint may send what Python
    sends, or refuse the combination as a config error; it must never send anything else."""
    env = rig.env("appservice")
    r, elapsed = rig.run(env, credential="managed", resource_id=UAMI_RESOURCE)
    ours = rig.mock.requests()
    _, theirs = rig.requests_during(lambda: azref.run("managed", env, resource_id=UAMI_RESOURCE))
    assert only(theirs, "azure-appservice")["query_params"].get("mi_res_id") == UAMI_RESOURCE
    if r.returncode == 0:
        assert only(ours, "azure-appservice")["query_params"] == only(theirs, "azure-appservice")["query_params"]
        rig.succeeded(r)
    else:
        failure = rig.failed(r, elapsed)
        assert (failure.exit, failure.code) == (2, "INVALID_CONFIG") and "resource_id" in failure.line
        assert ours == []


@pytest.mark.parametrize("tenant", [None, CLI_TENANT], ids=["no-tenant", "tenant"])
@pytest.mark.parametrize(("kind", "tool"), [("cli", "az"), ("azd", "azd")])
def test_cli_invocations_match_azure_identity(rig, kind, tool, tenant):
    env = rig.env("cli")
    rig.token(env, credential=kind, **({"tenant_id": tenant} if tenant else {}))
    assert "token" in azref.run(kind, env, tenant_id=tenant)
    mine, py = rig.clis.calls(tool)
    # Semantically equal: `--resource R` (Python az) and `--scope R/.default` (Rust) ask for the same.
    assert cli_target(mine["argv"]) == cli_target(py["argv"]) == {"resource": OSSRDBMS_RESOURCE, "tenant": tenant}


# --- the chain --------------------------------------------------------------------

def test_chain_prefers_the_client_secret(rig):
    env = rig.env("secret", "appservice", "cli")
    _, reqs = rig.requests_during(lambda: rig.token(env))
    assert [r["route"] for r in reqs] == ["azure-token"]
    assert rig.clis.calls() == []


def test_chain_prefers_managed_identity_to_the_cli(rig):
    out = rig.token(rig.env("appservice", "cli"))
    assert out["source"] == "azure-appservice"
    assert rig.clis.calls() == []


def test_explicit_cli_never_asks_app_service(rig):
    out = rig.token(rig.env("appservice", "cli"), credential="cli")
    assert out["source"] == "az"
    assert rig.mock.requests() == []


def test_chain_with_nothing_available_names_every_step(rig):
    env = rig.env()
    assert shutil.which("az", path=env["PATH"]) is None and shutil.which("azd", path=env["PATH"]) is None
    failure = rig.fail(env)
    assert (failure.exit, failure.code) == (3, "CREDENTIAL_UNAVAILABLE")
    lowered = failure.line.lower()
    for step in ("environment", "workload", "managed identity", "azure cli", "azd"):
        assert step in lowered, step
    assert "az login" in failure.line and "AZURE_CLIENT_ID" in failure.line


# AZURE_TOKEN_CREDENTIALS narrows `auto` as it narrows DefaultAzureCredential (azure-identity
# _internal/utils.py process_credential_exclusions): any case, surrounding space ignored.
@pytest.mark.parametrize(("value", "sources", "picked"), [
    ("prod", ("appservice", "cli"), "azure-appservice"),
    ("dev", ("appservice", "cli"), "az"),
    (" AzureCliCredential ", ("secret", "appservice", "cli"), "az"),
    ("ManagedIdentityCredential", ("secret", "appservice", "cli"), "azure-appservice"),
    ("environmentcredential", ("secret", "appservice", "cli"), "azure-token"),
    ("AzureDeveloperCliCredential", ("appservice", "cli"), "azd"),
])
def test_azure_token_credentials_narrows_the_chain(rig, value, sources, picked):
    out = rig.token(rig.env(*sources, AZURE_TOKEN_CREDENTIALS=value))
    assert out["source"] == picked, out
    if picked.startswith("azure-"):
        assert rig.clis.calls() == []


def test_prod_never_runs_az(rig):
    failure = rig.fail(rig.env("cli", AZURE_TOKEN_CREDENTIALS="prod"))
    assert failure.code == "CREDENTIAL_UNAVAILABLE", failure.line
    assert "AZURE_TOKEN_CREDENTIALS" in failure.line and "azure cli" not in failure.line.lower()
    assert rig.clis.calls() == []


def test_the_url_wins_over_azure_token_credentials(rig):
    out = rig.token(rig.env("appservice", "cli", AZURE_TOKEN_CREDENTIALS="prod"), credential="cli")
    assert out["source"] == "az"


@pytest.mark.parametrize(("value", "says"), [
    ("production", "is not one of dev, prod"),
    ("VisualStudioCodeCredential", "does not run"),
])
def test_a_bad_azure_token_credentials_is_a_config_error(rig, value, says):
    failure = rig.fail(rig.env("appservice", AZURE_TOKEN_CREDENTIALS=value))
    assert failure.code == "INVALID_CONFIG" and says in failure.line, failure.line
    assert rig.mock.requests() == []


# --- IMDS absent, hung endpoints, caching ----------------------------------------------

def fake_time(rig) -> float:
    return sum(c.get("duration", 0) for c in rig.clis.calls())


@pytest.mark.parametrize("imds", ["closed-port", "hangs"])
def test_chain_moves_past_absent_imds_quickly(rig, imds):
    if imds == "hangs":
        rig.mock.fault("azure-imds", hang=True)
        env = rig.env("imds", "cli")
    else:
        env = rig.env("cli")  # hermetic_env: IMDS at 127.0.0.1:9, nothing listening
    started = time.monotonic()
    out = rig.token(env)
    elapsed = time.monotonic() - started
    assert out["source"] == "az"
    assert elapsed - fake_time(rig) < 1.5, elapsed
    if imds == "hangs":
        assert rig.mock.requests("/metadata/"), "the probe must go where AZURE_POD_IDENTITY_AUTHORITY_HOST says"


def test_hung_app_service_is_a_timeout_within_the_deadline(rig):
    rig.mock.fault("azure-appservice", hang=True)
    failure = rig.fail(rig.env("appservice"), credential="managed")
    assert (failure.exit, failure.code) == (4, "TIMEOUT")
    assert failure.elapsed < DEADLINE + SLACK, failure.elapsed


def test_twenty_cold_callers_run_az_once(rig):
    rig.clis.set_delay("az", 0.5)
    lines = bins.mint(azure_url(credential="cli"), rig.env("cli"), count=1, threads=20)
    assert len(lines) == 20 and all("token" in line for line in lines), lines
    assert len(rig.clis.calls("az")) == 1
    assert {line["token"] for line in lines} == set(rig.clis.issued_secrets())


def test_cli_token_is_cached(rig):
    lines = bins.mint(azure_url(credential="cli"), rig.env("cli"), count=10)
    assert len(rig.clis.calls("az")) == 1
    assert len({line.get("token") for line in lines}) == 1 and "token" in lines[0], lines


# --- usernames (docs/DESIGN.md §4) -----------------------------------------------------------

@dataclass
class Identity:
    sources: tuple[str, ...]
    params: dict[str, str]
    claims_of: str  # the fake tool or mock route whose tokens get the claims


IDENTITIES = {
    "cli": Identity(("cli",), {"credential": "cli"}, "az"),
    "system-assigned": Identity(("appservice",), {"credential": "managed"}, "azure-appservice"),
    "user-assigned": Identity(("appservice",), {"credential": "managed", "client_id": UAMI_CLIENT},
                              "azure-appservice"),
    "service-principal": Identity(("secret",), {"credential": "environment"}, "azure-token"),
}
USERNAMES = [
    ("upn-first", "cli", {"preferred_username": "pref@passmint.example"}, "dev@passmint.example"),
    ("preferred_username", "cli", {"upn": None, "unique_name": None, "preferred_username": "pref@passmint.example"},
     "pref@passmint.example"),
    ("unique_name", "cli", {"upn": None, "unique_name": "uniq@passmint.example"}, "uniq@passmint.example"),
    ("user-assigned", "user-assigned", {}, "passmint-mock-uami"),
    ("system-assigned", "system-assigned", {}, "passmint-mock-app"),
    ("xms_mirid-first", "system-assigned", {"upn": "not-this@passmint.example"}, "passmint-mock-app"),
    ("app-only", "service-principal", {}, None),  # not an error: username is simply absent
]


@pytest.mark.parametrize(("identity", "claims", "expected"), [u[1:] for u in USERNAMES], ids=[u[0] for u in USERNAMES])
def test_username_from_claims(rig, identity, claims, expected):
    who = IDENTITIES[identity]
    if who.claims_of in ("az", "azd"):
        rig.clis.set_claims(who.claims_of, claims)
    else:
        rig.mock.set_azure_claims(who.claims_of, claims)
    assert rig.token(rig.env(*who.sources), **who.params)["username"] == expected


def test_explicit_user_wins_without_extra_requests(rig):
    out, reqs = rig.requests_during(lambda: rig.token(rig.env("appservice"), credential="managed", user="myrole"))
    assert out["username"] == "myrole"
    assert [r["route"] for r in reqs] == ["azure-appservice"]


# --- sovereign clouds and scope --------------------------------------------------------

CLOUDS = [
    ({"cloud": "usgov"}, "https://ossrdbms-aad.database.usgovcloudapi.net"),
    ({"cloud": "china"}, "https://ossrdbms-aad.database.chinacloudapi.cn"),
    ({"scope": "https://example.invalid/.default", "allow_custom_scope": "true"}, "https://example.invalid"),
]
SOURCE_CREDENTIAL = {"appservice": "managed", "secret": "environment", "cli": "cli"}


def requested_resource(rig, source: str, reqs: list[dict]) -> str:
    """The resource passmint asked ``source`` for."""
    if source == "cli":
        (call,) = rig.clis.calls("az")
        return cli_target(call["argv"])["resource"]
    if source == "appservice":
        return only(reqs, "azure-appservice")["query_params"]["resource"]
    scope = only(reqs, "azure-token")["form"]["scope"]
    assert scope.endswith("/.default"), scope
    return resource_of(scope)


@pytest.mark.parametrize("source", SOURCE_CREDENTIAL)
@pytest.mark.parametrize(("params", "resource"), CLOUDS, ids=["usgov", "china", "scope"])
def test_cloud_and_scope_pick_the_resource(rig, source, params, resource):
    out, reqs = rig.requests_during(
        lambda: rig.token(rig.env(source), credential=SOURCE_CREDENTIAL[source], **params))
    assert requested_resource(rig, source, reqs) == resource
    assert out["claims"]["aud"] == resource


# --- malformed and refused answers ---------------------------------------------------------

def in_an_hour() -> int:
    return int(time.time()) + 3600


MALFORMED_ROUTES = {  # route -> (sources, credential=)
    "azure-appservice": (("appservice",), "managed"),
    "azure-token": (("secret",), "environment"),
}


def non_json(route: str) -> tuple[str, tuple[str, ...]]:
    return "<html><body>502 Bad Gateway</body></html>", ()


def truncated(route: str) -> tuple[str, tuple[str, ...]]:
    """A real answer cut short: the token is in it, the JSON is not whole (and must not be echoed)."""
    token = jwt({"aud": OSSRDBMS_RESOURCE, "upn": "leak@passmint.example"})
    return f'{{"token_type":"Bearer","access_token":"{token}","expires_', (token,)


def no_access_token(route: str) -> tuple[str, tuple[str, ...]]:
    if route == "azure-token":
        return '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599}', ()
    return f'{{"expires_on":"{in_an_hour()}","resource":"{OSSRDBMS_RESOURCE}","token_type":"Bearer"}}', ()


def iso_date(route: str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(in_an_hour()))


# (id, what the mock does, expected): expected is an error code, "ok", or "ok-or-PROVIDER_RESPONSE",
# or a dict of those per route. "answer": a 200 with this body; "expiry": the route's expiry field
# (App Service `expires_on`, unix seconds as a string by default; token endpoint `expires_in`, a
# number by default); "status"/"body": an HTTP error with the route-typical body, or this one.
MALFORMED = [
    ("non-json", {"answer": non_json}, "PROVIDER_RESPONSE"),
    ("truncated-json", {"answer": truncated}, "PROVIDER_RESPONSE"),
    ("no-access-token", {"answer": no_access_token}, "PROVIDER_RESPONSE"),
    ("expiry-string", {"expiry": lambda r: str(in_an_hour()) if r == "azure-appservice" else "3599"},
     {"azure-appservice": "ok", "azure-token": "ok-or-PROVIDER_RESPONSE"}),
    # An int expires_on from App Service: Python accepts it (int(...)); the Rust SDK's parser
    # (azure_identity 1.0 `expires_on_string`) wants a string. Either outcome is fine. Recorded
    # 2026-11-25: passmint answers PROVIDER_RESPONSE ("invalid type: integer ..., expected a
    # string"), and likewise for a string expires_in from the token endpoint ("expected i64").
    ("expiry-int", {"expiry": lambda r: in_an_hour() if r == "azure-appservice" else 3599},
     {"azure-appservice": "ok-or-PROVIDER_RESPONSE", "azure-token": "ok"}),
    ("expiry-iso-date", {"expiry": iso_date}, "PROVIDER_RESPONSE"),
    ("expiry-garbage", {"expiry": lambda r: "soon"}, "PROVIDER_RESPONSE"),
    ("expiry-absent", {"expiry": lambda r: OMIT}, "PROVIDER_RESPONSE"),
    *[(f"http-{status}{'' if body is None else '-empty'}", {"status": status, "body": body},
       "AUTHENTICATION_FAILED" if status < 429 else "PROVIDER_RESPONSE")
      for status in (400, 401, 403, 429, 500) for body in (None, "")],
]
EXIT_CODES = {"AUTHENTICATION_FAILED": 3, "PROVIDER_RESPONSE": 4}


def misbehave(mock, route: str, how: dict) -> tuple[str, ...]:
    """Make ``route`` misbehave; returns secrets put into the answer that must not leak."""
    if "expiry" in how:
        mock.set_expiration(route, how["expiry"](route))
        return ()
    if "answer" in how:
        body, secrets = how["answer"](route)
        mock.fault(route, body=body)
        return secrets
    mock.fault(route, status=how["status"], body=how["body"])
    return ()


@pytest.mark.parametrize("route", MALFORMED_ROUTES)
@pytest.mark.parametrize(("how", "expected"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_and_refused_answers(rig, route, how, expected):
    sources, credential = MALFORMED_ROUTES[route]
    leaked = misbehave(rig.mock, route, how)
    expected = expected if isinstance(expected, str) else expected[route]
    r, elapsed = rig.run(rig.env(*sources), credential=credential)
    assert elapsed < DEADLINE, elapsed
    if expected == "ok" or (expected == "ok-or-PROVIDER_RESPONSE" and r.returncode == 0):
        rig.succeeded(r)
        return
    failure = rig.failed(r, elapsed, leaked)
    code = expected.removeprefix("ok-or-")
    assert (failure.code, failure.exit) == (code, EXIT_CODES[code]), failure.line


# --- end to end --------------------------------------------------------------------------

def test_app_service_token_logs_into_postgres(rig, pg, pg_role):
    url = f"postgresql://{pg_role}@srv.postgres.database.azure.com/postgres"
    out, reqs = rig.requests_during(lambda: rig.token(rig.env("appservice"), "--for", url))
    assert out["username"] == pg_role and out["source"] == "azure-appservice"
    assert [r["route"] for r in reqs] == ["azure-appservice"]

    pg.set_password(pg_role, out["token"])
    row = pg.connect_psql(pg_role, out["token"],
                          sql="select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert row.split("|") == [pg_role, "t"]
