"""The fault matrix (issue 8): every credential source passmint talks to over HTTP, against
every way its endpoint can misbehave. Shared by tests/reliability/test_faults.py (which asserts the rules)
and tests/reliability_report.py (which writes the table into RELIABILITY.md).

Each case mints once, in a fresh process (examples/mint), on a cold cache, and records:
- what the user got: a token with its lifetime, or the error kind;
- how long it took;
- how many requests reached the faulty endpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import bins, gcp
from .mock import OMIT, MockIdentityServer

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
WORKLOAD_CLIENT = "7e1b3c2a-0000-4000-8000-00000000abcd"
DSQL = "dsql://abc123example.dsql.us-east-1.on.aws"
CLOSED = "127.0.0.1:9"
TEN_MB = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'


@dataclass
class Source:
    name: str
    url: str
    route: str  # the mock route the faults go to
    env: Callable[[MockIdentityServer, Path], dict[str, str]]
    refused: dict[str, str]  # the env change that points it at a closed port
    truncated: bytes
    wrong_types: bytes
    aws: bool
    # False: a source only a cached token can reach (a lease renewal), run in the warm matrix only.
    cold: bool = True


def _aws(mock: MockIdentityServer, base: dict[str, str]) -> dict[str, str]:
    return base


SOURCES = [
    Source("AWS container credentials", DSQL, "container",
           lambda m, tmp: {"AWS_CONTAINER_CREDENTIALS_FULL_URI": m.http_url + "/aws/container-credentials"},
           {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{CLOSED}/aws/container-credentials"},
           b'{"AccessKeyId": "ASIA', b'{"AccessKeyId": 1, "SecretAccessKey": [], "Token": {}, "Expiration": 5}', True),
    Source("AWS EC2 IMDSv2", DSQL, "imds-creds",
           lambda m, tmp: {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.http_url + "/"},
           {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{CLOSED}/"},
           b'{"Code": "Success", "AccessKeyId": "AS', b'{"Code": "Success", "AccessKeyId": 7, "SecretAccessKey": null}', True),
    Source("AWS STS web identity (EKS)", DSQL, "sts",
           lambda m, tmp: {"AWS_WEB_IDENTITY_TOKEN_FILE": str(_file(tmp / "web-identity", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")),
                           "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/mock", "AWS_ENDPOINT_URL_STS": m.http_url},
           {"AWS_ENDPOINT_URL_STS": f"http://{CLOSED}"},
           b"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>AS",
           b"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId><x/>"
           b"</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>", True),
    Source("Azure App Service managed identity", "azure://?credential=managed", "azure-appservice",
           lambda m, tmp: {"IDENTITY_ENDPOINT": m.http_url + "/azure/appservice/token", "IDENTITY_HEADER": m.identity_header},
           {"IDENTITY_ENDPOINT": f"http://{CLOSED}/azure/appservice/token"},
           b'{"access_token": "eyJ0', b'{"access_token": 123, "expires_on": [], "token_type": 5}', False),
    Source("Azure VM managed identity (IMDS)", "azure://?credential=managed", "azure-imds",
           lambda m, tmp: {"AZURE_POD_IDENTITY_AUTHORITY_HOST": m.http_url},
           {"AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{CLOSED}"},
           b'{"access_token": "eyJ0', b'{"access_token": 123, "expires_on": [], "token_type": 5}', False),
    Source("Azure client secret (Entra token endpoint)", "azure://?credential=environment", "azure-token",
           lambda m, tmp: {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": m.azure_client_id,
                           "AZURE_CLIENT_SECRET": m.azure_client_secret, "AZURE_AUTHORITY_HOST": m.https_url},
           {"AZURE_AUTHORITY_HOST": f"https://{CLOSED}"},
           b'{"token_type": "Bearer", "access_token": "eyJ0', b'{"token_type": "Bearer", "access_token": 5, "expires_in": "soon"}',
           False),
    Source("Google service account key (token endpoint)", "gcp://", "gcp-token",
           lambda m, tmp: _google_key(m, tmp),
           {"PASSMINT_GCP_TOKEN_URL": f"https://{CLOSED}/token"},
           b'{"access_token": "ya29.', b'{"access_token": 5, "expires_in": "soon", "token_type": []}', False),
    Source("Google metadata server (GCE, GKE, Cloud Run)", "gcp://?credential=metadata", "gcp-metadata",
           lambda m, tmp: {"GCE_METADATA_HOST": m.http_url.removeprefix("http://")},
           {"GCE_METADATA_HOST": CLOSED},
           b'{"access_token": "ya29.', b'{"access_token": 5, "expires_in": "soon", "token_type": []}', False),
    Source("Vault database credentials", "vault:///database/creds/app", "vault-creds",
           lambda m, tmp: _vault(m),
           {"VAULT_ADDR": f"https://{CLOSED}"},
           b'{"lease_id": "database/creds/app/x", "lease_duration": 3600, "data": {"username": "v-',
           b'{"lease_id": 5, "renewable": "yes", "lease_duration": 3600, "data": {"username": 1, "password": []}}',
           False),
    Source("Vault lease renewal", "vault:///database/creds/app", "vault-renew",
           lambda m, tmp: _vault(m, renewable=True),
           {"VAULT_ADDR": f"https://{CLOSED}"},
           b'{"lease_id": "database/creds/app/x", "lease_duration": 3',
           b'{"lease_id": 5, "renewable": "yes", "lease_duration": "long"}',
           False, cold=False),
    Source("Azure workload identity (AKS)", "azure://?credential=workload", "azure-token",
           lambda m, tmp: {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": WORKLOAD_CLIENT, "AZURE_AUTHORITY_HOST": m.https_url,
                           "AZURE_FEDERATED_TOKEN_FILE": str(_file(tmp / "federated", m.federated_assertion))},
           {"AZURE_AUTHORITY_HOST": f"https://{CLOSED}"},
           b'{"token_type": "Bearer", "access_token": "eyJ0', b'{"token_type": "Bearer", "access_token": 5, "expires_in": "soon"}',
           False),
]


def _vault(mock: MockIdentityServer, renewable: bool = False) -> dict[str, str]:
    """Vault with a database role. Not renewable: every refresh is a new read of the credentials
    route. Renewable: the refresh is a renewal, at the renewal route."""
    mock.vault.add_db_role("app", renewable=renewable)
    return {"VAULT_ADDR": mock.https_url, "VAULT_CACERT": str(mock.ca_pem), "VAULT_TOKEN": mock.vault.root_token}


def _google_key(mock: MockIdentityServer, tmp: Path) -> dict[str, str]:
    """A service account key whose token endpoint is the override (the refused case closes it)."""
    key = gcp.service_account(mock)
    token_url = key.pop("token_uri")
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(_file(tmp / "google-key.json", json.dumps(key))),
            "PASSMINT_GCP_TOKEN_URL": token_url}


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@dataclass
class Fault:
    name: str
    group: str  # transport | status | body | expiry
    apply: Callable[[MockIdentityServer, Source], dict[str, str] | None]  # env changes, if any


def _status(code: int, headers: dict[str, str] | None = None) -> Callable[[MockIdentityServer, Source], None]:
    return lambda m, s: m.fault(s.route, status=code, headers=headers)


def _body(make: Callable[[Source], bytes]) -> Callable[[MockIdentityServer, Source], None]:
    return lambda m, s: m.fault(s.route, body=make(s))


def _expiry(aws: Callable[[float], Any], azure_on: Callable[[float], Any],
            azure_in: Callable[[float], Any]) -> Callable[[MockIdentityServer, Source], None]:
    """The expiry field each source sends, replaced: AWS `Expiration` (a date), managed identity
    `expires_on` (epoch seconds), the Entra and Google token endpoints' and Google's metadata
    server's `expires_in` and Vault's `lease_duration` (seconds from now)."""
    def apply(m: MockIdentityServer, s: Source) -> None:
        now = time.time()
        in_seconds = ("azure-token", "gcp-token", "gcp-metadata", "vault-creds")
        make = aws if s.aws else azure_in if s.route in in_seconds else azure_on
        m.set_expiration(s.route, make(now))
    return apply


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _azure_on(t: float) -> str:
    return str(int(t))


FAULTS = [
    Fault("connection refused", "transport", lambda m, s: s.refused),
    Fault("reset mid-response", "transport", lambda m, s: m.fault(s.route, reset=True)),
    Fault("hang (no bytes)", "transport", lambda m, s: m.fault(s.route, hang=True)),
    Fault("slow trickle (1 byte / 0.5 s)", "transport", lambda m, s: m.fault(s.route, trickle=0.5)),
    Fault("HTTP 400", "status", _status(400)),
    Fault("HTTP 401", "status", _status(401)),
    Fault("HTTP 403", "status", _status(403)),
    Fault("HTTP 404", "status", _status(404)),
    Fault("HTTP 429", "status", _status(429)),
    Fault("HTTP 429 + Retry-After: 2", "status", _status(429, {"Retry-After": "2"})),
    Fault("HTTP 500", "status", _status(500)),
    Fault("HTTP 503", "status", _status(503)),
    Fault("non-JSON body", "body", _body(lambda s: b"<html><body>Service Unavailable</body></html>")),
    Fault("truncated body", "body", _body(lambda s: s.truncated)),
    Fault("10 MB body", "body", _body(lambda s: TEN_MB)),
    Fault("missing fields ({})", "body", _body(lambda s: b"{}")),
    Fault("wrong-typed fields", "body", _body(lambda s: s.wrong_types)),
    Fault("expiry: alternative form (ISO offset / string number)", "expiry",
          _expiry(lambda now: time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + 3600)),
                  lambda now: _azure_on(now + 3600), lambda now: "3600")),
    Fault("expiry: absent", "expiry", _expiry(lambda now: OMIT, lambda now: OMIT, lambda now: OMIT)),
    Fault("expiry: nonsense", "expiry", _expiry(lambda now: "tomorrow-ish", lambda now: "tomorrow-ish", lambda now: "soon")),
    Fault("expiry: already expired", "expiry",
          _expiry(lambda now: _iso(now - 60), lambda now: _azure_on(now - 60), lambda now: 0)),
    Fault("expiry: 10 years ahead", "expiry",
          _expiry(lambda now: _iso(now + 315_360_000), lambda now: _azure_on(now + 315_360_000), lambda now: 315_360_000)),
    Fault("endpoint clock 10 min ahead", "expiry",
          _expiry(lambda now: _iso(now + 600 + 3600), lambda now: _azure_on(now + 600 + 3600), lambda now: 3600)),
    Fault("endpoint clock 10 min behind", "expiry",
          _expiry(lambda now: _iso(now - 600 + 3600), lambda now: _azure_on(now - 600 + 3600), lambda now: 3600)),
]


@dataclass
class Outcome:
    source: str
    fault: str
    group: str
    kind: str  # "token" or the error kind
    detail: str  # the token's lifetime, or the error message
    seconds: float
    requests: int


def run_case(mock: MockIdentityServer, hermetic_env: Callable[..., dict[str, str]], tmp: Path,
             source: Source, fault: Fault) -> Outcome:
    mock.reset()
    tmp.mkdir(parents=True, exist_ok=True)
    env = hermetic_env(**source.env(mock, tmp))
    changes = fault.apply(mock, source)
    if changes:
        env.update(changes)
    before = len([r for r in mock.requests() if r["route"] == source.route])
    started = time.monotonic()
    [line] = bins.mint(source.url, env, timeout=60)
    seconds = time.monotonic() - started
    requests = len([r for r in mock.requests() if r["route"] == source.route]) - before
    if "token" in line:
        left = int(line["expires_at"] - time.time())
        return Outcome(source.name, fault.name, fault.group, "token", f"valid {left // 60} min", seconds, requests)
    return Outcome(source.name, fault.name, fault.group, line["kind"], line["error"], seconds, requests)


# --- warm: the same faults while a valid token is cached ----------------------------------

# Long enough that a refreshed AWS token (signed with the cached credentials at half their life)
# still has 30 s left when the cache stops serving it: min(5 min, half) = 60 s of margin.
WARM_LIFETIME = 120
WARM_MINTS = 100  # one a second: the refresh falls due at 60 s, the cached token ends at 90 s
SLACK_S = 2.0


class Relay:
    """A TCP relay to a mock's port. close() makes every later connection refused: the
    'connection refused' fault for a process whose endpoint was reachable a moment ago."""

    def __init__(self, port: int) -> None:
        import socket
        import threading
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._live: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            try:
                inbound, _ = self._listener.accept()
            except OSError:
                return
            try:
                outbound = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self._live += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        import socket
        # shutdown first: a close alone leaves the socket listening while accept() blocks on it.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for s in self._live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Through:
    """A mock as one process sees it: its URLs go through relays."""

    def __init__(self, mock: MockIdentityServer, http: Relay, https: Relay) -> None:
        self._mock = mock
        self.http_url = f"http://127.0.0.1:{http.port}"
        self.https_url = f"https://127.0.0.1:{https.port}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mock, name)


@dataclass
class WarmOutcome:
    source: str
    fault: str
    group: str
    first: str  # "token", or why the warm-up failed
    refreshed: bool  # a newer token replaced the cached one
    served_s: float | None  # seconds past the refresh falling due that callers got tokens
    after: str  # what callers got once the cached token was over: an error kind, or "token"
    early_errors: list[str]  # errors while a token with > 30 s left was cached
    short_tokens: list[int]  # tokens handed out with < 30 s left (seconds left)
    requests: int  # at the faulty endpoint, from the fault on


def _requests_of(mock: MockIdentityServer, source: Source, since: float) -> int:
    def mine(r: dict[str, Any]) -> bool:
        if r["route"] != source.route or r["time"] < since:
            return False
        if source.route != "azure-token":
            return True
        assertion = "client_assertion" in (r.get("form") or {})
        return assertion == (source.name == "Azure workload identity (AKS)")
    return len([r for r in mock.requests() if mine(r)])


def _judge(source: Source, fault: Fault, lines: list[tuple[float, dict]], mock: MockIdentityServer,
           fault_at: float) -> WarmOutcome:
    if not lines or "token" not in lines[0][1]:
        why = lines[0][1].get("kind", "?") if lines else "no output"
        return WarmOutcome(source.name, fault.name, fault.group, f"warm-up failed: {why}", False, None, "", [], [], 0)
    first_exp = lines[0][1]["expires_at"]
    due = first_exp - WARM_LIFETIME / 2
    best_exp = first_exp  # the longest-lived token handed out so far
    refreshed = False
    early: list[str] = []
    short: list[int] = []
    served: float | None = None
    after = ""
    for t, line in lines[1:]:
        if "token" in line:
            left = line["expires_at"] - t
            if left < 30 - SLACK_S:
                short.append(int(left))
            if line["expires_at"] > first_exp + 1:
                refreshed = True
            best_exp = max(best_exp, line["expires_at"])
            served = t - due
            if t > best_exp - 30:
                after = after or "token"
        else:
            if t < best_exp - 30 - SLACK_S:
                early.append(f"{line['kind']} at {t - due:+.0f} s: {line['error'][:120]}")
            after = after if after and after != "token" else line["kind"]
    return WarmOutcome(source.name, fault.name, fault.group, "token", refreshed, served, after or "-", early, short,
                       _requests_of(mock, source, fault_at))


def run_warm(ca: Any, hermetic_env: Callable[..., dict[str, str]], tmp: Path, faults: list[Fault] | None = None,
             sources: list[Source] | None = None) -> list[WarmOutcome]:
    """Every (source, fault) at once: one mock per fault serves all sources (their routes
    differ, and the two sharing Entra's are told apart by their form), one process per case
    mints once a second. Once a fault's processes all hold a token, the fault goes on."""
    import subprocess
    import threading
    faults = faults or FAULTS
    sources = sources or SOURCES
    mocks = {f.name: MockIdentityServer(ca).start() for f in faults}
    relays: dict[str, list[Relay]] = {f.name: [] for f in faults}
    procs: list[tuple[Source, Fault, subprocess.Popen, list]] = []
    started: dict[str, list[threading.Event]] = {f.name: [] for f in faults}
    try:
        for f in faults:
            mock = mocks[f.name]
            mock.set_credential_lifetime(None, WARM_LIFETIME)
            for i, s in enumerate(sources):
                view: Any = mock
                if f.name == "connection refused":
                    http = Relay(int(mock.http_url.rsplit(":", 1)[1]))
                    https = Relay(int(mock.https_url.rsplit(":", 1)[1]))
                    relays[f.name] += [http, https]
                    view = _Through(mock, http, https)
                case = tmp / f"warm-{FAULTS.index(f)}-{i}"
                case.mkdir(parents=True, exist_ok=True)
                env = hermetic_env(case / "env", **s.env(view, case))
                p = subprocess.Popen([bins._need(bins.MINT), s.url, str(WARM_MINTS), "1000"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                lines: list[tuple[float, dict]] = []
                first = threading.Event()

                def read(p=p, lines=lines, first=first) -> None:
                    for raw in p.stdout:
                        if raw.strip():
                            lines.append((time.time(), json.loads(raw)))
                            first.set()
                    first.set()
                threading.Thread(target=read, daemon=True).start()
                started[f.name].append(first)
                procs.append((s, f, p, lines))
        fault_at: dict[str, float] = {}
        for f in faults:
            for ev in started[f.name]:
                ev.wait(90)
            fault_at[f.name] = time.time()
            if f.name == "connection refused":
                for r in relays[f.name]:
                    r.close()
            else:
                for s in sources:
                    f.apply(mocks[f.name], s)
        for _, _, p, _ in procs:
            try:
                p.wait(timeout=WARM_MINTS + 120)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(0.2)  # the readers' last lines
        return [_judge(s, f, lines, mocks[f.name], fault_at[f.name]) for s, f, _, lines in procs]
    finally:
        for _, _, p, _ in procs:
            if p.poll() is None:
                p.kill()
        for rs in relays.values():
            for r in rs:
                r.close()
        for m in mocks.values():
            m.stop()
