"""The fault matrix (issue 8): every credential source passmint talks to over HTTP, against
every way its endpoint can misbehave. Shared by tests/test_faults.py (which asserts the rules)
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

from . import bins
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
    Source("Azure workload identity (AKS)", "azure://?credential=workload", "azure-token",
           lambda m, tmp: {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": WORKLOAD_CLIENT, "AZURE_AUTHORITY_HOST": m.https_url,
                           "AZURE_FEDERATED_TOKEN_FILE": str(_file(tmp / "federated", m.federated_assertion))},
           {"AZURE_AUTHORITY_HOST": f"https://{CLOSED}"},
           b'{"token_type": "Bearer", "access_token": "eyJ0', b'{"token_type": "Bearer", "access_token": 5, "expires_in": "soon"}',
           False),
]


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
    `expires_on` (epoch seconds), the Entra token endpoint's `expires_in` (seconds from now)."""
    def apply(m: MockIdentityServer, s: Source) -> None:
        now = time.time()
        make = aws if s.aws else azure_in if s.route == "azure-token" else azure_on
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


def to_json(outcomes: list[Outcome]) -> str:
    return json.dumps([o.__dict__ for o in outcomes], indent=1)
