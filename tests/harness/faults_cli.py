"""The fault matrix for credential sources passmint runs as programs (issue 8): the Azure CLI,
the Azure Developer CLI and an AWS `credential_process`, each against every way a program can
misbehave. Each case puts a script in the program's place that prints (or withholds) exactly
the fault, then mints once in a fresh process (examples/mint) and records what the user got,
how long it took, and whether a hung program was left running after the error.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import aws, azure, bins, hygiene
from .azcli import AZ_NOT_LOGGED_IN, AZD_NOT_LOGGED_IN

DSQL = "dsql://abc123example.dsql.us-east-1.on.aws?profile=proc"
SCOPE_RESOURCE = "https://ossrdbms-aad.database.windows.net"


@dataclass
class CliSource:
    name: str
    tool: str  # az | azd | process
    url: str


CLI_SOURCES = [
    CliSource("Azure CLI (az)", "az", "azure://?credential=cli"),
    CliSource("Azure Developer CLI (azd)", "azd", "azure://?credential=azd"),
    CliSource("AWS credential_process", "process", DSQL),
]


@dataclass
class Script:
    """What the program does: print these and exit with this, or hang, or not exist."""
    stdout: str = ""
    stderr: str = ""
    exit: int = 0
    hang: bool = False
    installed: bool = True
    secret: str = ""  # a secret the output carries, which no message may quote


def _jwt(exp: int) -> str:
    now = int(time.time())
    claims = {**azure.base_claims(SCOPE_RESOURCE, azure.TENANT_ID, now, exp), **azure.user_claims(azure.TENANT_ID)}
    return azure.jwt(claims)


def good(tool: str, exp: float | None, form: str = "normal") -> tuple[dict, str]:
    """A good answer from ``tool`` expiring at ``exp`` (None: no expiry fields), and its secret."""
    if tool == "az":
        token = _jwt(int(exp or time.time() + 3600))
        out: dict = {"accessToken": token, "subscription": azure.SUBSCRIPTION_ID, "tenant": azure.TENANT_ID,
                     "tokenType": "Bearer"}
        if exp is not None:
            # Local time without a zone, as az prints it (TZ=UTC here); az ≥ 2.54 adds expires_on.
            out["expiresOn"] = datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M:%S.%f")
            if form != "old":
                out["expires_on"] = int(exp)
        return out, token
    if tool == "azd":
        token = _jwt(int(exp or time.time() + 3600))
        out = {"token": token}
        if exp is not None:
            fmt = "%Y-%m-%dT%H:%M:%S+00:00" if form == "offset" else "%Y-%m-%dT%H:%M:%SZ"
            out["expiresOn"] = time.strftime(fmt, time.gmtime(exp))
        return out, token
    secret = aws.new_secret_key()
    out = {"Version": 1, "AccessKeyId": "ASIAPROCESSFAULT0001", "SecretAccessKey": secret,
           "SessionToken": aws.new_session_token()}
    if exp is not None:
        fmt = "%Y-%m-%dT%H:%M:%S+00:00" if form == "offset" else "%Y-%m-%dT%H:%M:%SZ"
        out["Expiration"] = time.strftime(fmt, time.gmtime(exp))
    return out, secret


def _good(tool: str, exp_in: float | None, form: str = "normal") -> Script:
    out, secret = good(tool, None if exp_in is None else time.time() + exp_in, form)
    return Script(stdout=json.dumps(out, indent=2) + "\n", secret=secret)


def _expiry(tool: str, value: str) -> Script:
    out, secret = good(tool, time.time() + 3600)
    for key in ("expiresOn", "expires_on", "Expiration"):
        if key in out:
            out[key] = value
    return Script(stdout=json.dumps(out), secret=secret)


def _not_logged_in(tool: str) -> Script:
    message = {"az": AZ_NOT_LOGGED_IN, "azd": AZD_NOT_LOGGED_IN}.get(
        tool, "Error when retrieving token from sso: Token has expired and refresh failed\n")
    return Script(stderr=message, exit=1)


def _secret_on_stderr(tool: str, escape: str = "") -> Script:
    """Exits 1 with its good answer on stderr, JSON-encoded as Python does, or with PHP's ``\\/``
    (escape="php") or .NET's ``\\u002B`` escapes (escape="dotnet")."""
    out, secret = good(tool, time.time() + 3600)
    text = json.dumps(out, separators=(",", ":"))
    if escape == "php":
        text = text.replace("/", "\\/")
    elif escape == "dotnet":
        text = "".join(f"\\u{ord(c):04X}" if c in hygiene.DOTNET_ESCAPED else c for c in text)
    return Script(stderr="unexpected failure; last answer: " + text + "\n", exit=1, secret=secret)


def _wrong_types(tool: str) -> Script:
    body = {"az": {"accessToken": 5, "expiresOn": [], "expires_on": "x"},
            "azd": {"token": 5, "expiresOn": {}},
            "process": {"Version": "one", "AccessKeyId": 7, "SecretAccessKey": None}}[tool]
    return Script(stdout=json.dumps(body))


def _truncated(tool: str) -> Script:
    s = _good(tool, 3600)
    return Script(stdout=s.stdout[: len(s.stdout) // 2], secret=s.secret)


@dataclass
class CliFault:
    name: str
    group: str  # program | output | expiry
    make: Callable[[str], Script]


CLI_FAULTS = [
    CliFault("not installed", "program", lambda t: Script(installed=False)),
    CliFault("exits 1 (not logged in)", "program", _not_logged_in),
    CliFault("exits 1, its answer on stderr", "program", _secret_on_stderr),
    CliFault("exits 1, its answer on stderr, escaped as PHP does (\\/)", "program",
             lambda t: _secret_on_stderr(t, "php")),
    CliFault("exits 1, its answer on stderr, escaped as .NET does (\\u002B)", "program",
             lambda t: _secret_on_stderr(t, "dotnet")),
    CliFault("hangs (never exits)", "program", lambda t: Script(hang=True)),
    CliFault("exits 0, prints nothing", "output", lambda t: Script()),
    CliFault("non-JSON output", "output", lambda t: Script(stdout="Please wait while we sign you in...\n")),
    CliFault("truncated JSON", "output", _truncated),
    CliFault("10 MB output", "output", lambda t: Script(stdout='{"x": "' + "a" * (10 * 1024 * 1024) + '"}')),
    CliFault("missing fields ({})", "output", lambda t: Script(stdout="{}")),
    CliFault("wrong-typed fields", "output", _wrong_types),
    CliFault("expiry: alternative form (no expires_on / +00:00 offset)", "expiry",
             lambda t: _good(t, 3600, "old" if t == "az" else "offset")),
    CliFault("expiry: absent", "expiry", lambda t: _good(t, None)),
    CliFault("expiry: nonsense", "expiry", lambda t: _expiry(t, "tomorrow-ish")),
    CliFault("expiry: already expired", "expiry", lambda t: _good(t, -60)),
    CliFault("expiry: 10 years ahead", "expiry", lambda t: _good(t, 315_360_000)),
]


@dataclass
class CliOutcome:
    source: str
    fault: str
    group: str
    kind: str  # "token" or the error kind
    detail: str
    seconds: float
    left_running: bool | None  # a hung program still running after the error (None: no hang)
    leaked: bool  # the program's secret is in the message


def _install(case: Path, source: CliSource, script: Script) -> dict[str, str]:
    """Writes the program and returns the environment changes that make passmint run it."""
    bin_dir = case / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (case / "stdout").write_text(script.stdout)
    (case / "stderr").write_text(script.stderr)
    pidfile = case / "pid"
    body = (f"echo $$ > {shlex.quote(str(pidfile))}\n" + "exec sleep 3600\n" if script.hang else
            f"cat {shlex.quote(str(case / 'stdout'))}\ncat {shlex.quote(str(case / 'stderr'))} >&2\n"
            f"exit {script.exit}\n")
    name = {"az": "az", "azd": "azd", "process": "credential-process"}[source.tool]
    program = bin_dir / name
    if script.installed:
        program.write_text("#!/bin/sh\n" + body)
        program.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    if source.tool == "process":
        config = case / "aws-config-proc"
        config.write_text(f"[profile proc]\ncredential_process = {program}\nregion = us-east-1\n")
        env["AWS_CONFIG_FILE"] = str(config)
    return env


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_cli_case(hermetic_env: Callable[..., dict[str, str]], case: Path, source: CliSource,
                 fault: CliFault) -> CliOutcome:
    script = fault.make(source.tool)
    hygiene.record([script.secret])
    env = hermetic_env(case / "env")
    env.update(_install(case, source, script))
    started = time.monotonic()
    [line] = bins.mint(source.url, env, timeout=60)
    seconds = time.monotonic() - started
    left_running = None
    if script.hang:
        time.sleep(0.5)  # a kill takes effect at once; give a slow reap a moment
        pid = int((case / "pid").read_text()) if (case / "pid").exists() else None
        left_running = pid is not None and _alive(pid)
        if pid is not None and left_running:
            os.kill(pid, 9)
    if "token" in line:
        left = int(line["expires_at"] - time.time())
        return CliOutcome(source.name, fault.name, fault.group, "token", f"valid {left // 60} min", seconds,
                          left_running, False)
    leaked = bool(script.secret) and any(f in line["error"] for f in hygiene.forms(script.secret) if len(f) >= 8)
    return CliOutcome(source.name, fault.name, fault.group, line["kind"], line["error"], seconds, left_running,
                      leaked)
