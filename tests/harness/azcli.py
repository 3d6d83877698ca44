"""Fake Azure CLI (`az`) and Azure Developer CLI (`azd`) for the tests (identity-endpoints.md §2.6, §2.7).

The executables are tests/harness/fakes/az and tests/harness/fakes/azd; both run
``fake_main`` below. Their behaviour lives in a state directory named by
PASSMINT_FAKE_AZ_STATE, which the test side (``FakeAzureClis``) writes:

    config.json   per tool: fail/message, claims, lifetime, delay
    calls.jsonl   one line per run, written on start: id, tool, argv, cwd, time, pid
    done.jsonl    one line per finished run: id, duration (process lifetime, s), exit
    issued.jsonl  one line per token printed

Usage from a test::

    fake = FakeAzureClis(tmp_path / "az")
    env = hermetic_env(**fake.env())
    env["PATH"] = fake.bin_dir + ":" + env["PATH"]
    ...
    [call] = fake.calls("az")

Accepted invocations (anything else exits 2 with a message, so a wrong call fails loudly):

    az account get-access-token (--output|-o) json (--resource R | --scope S) [--tenant|-t T] [--subscription S]
    azd auth token (--output|-o) json --no-prompt --scope S [--tenant-id T]

Stdlib only and imported by the fakes on every run: keep it light.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from . import azure

TOOLS = ("az", "azd")
STATE_ENV = "PASSMINT_FAKE_AZ_STATE"
FAKES_DIR = Path(__file__).resolve().parent / "fakes"

AZ_NOT_LOGGED_IN = "ERROR: Please run 'az login' to setup account.\n"
AZD_NOT_LOGGED_IN = json.dumps({
    "type": "consoleMessage",
    "timestamp": "2026-11-24T01:00:00.000000000Z",
    "data": {"message": "\nERROR: fetching token: not logged in, run `azd auth login` to login\n"},
}) + "\n"


def _default_config() -> dict[str, dict[str, Any]]:
    return {tool: {"fail": False, "message": None, "claims": {}, "lifetime": 3600, "delay": 0.0, "template": None}
            for tool in TOOLS}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _append_jsonl(path: Path, obj: dict[str, Any]) -> None:
    # One write of one line with O_APPEND: concurrent runs never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    finally:
        os.close(fd)


class FakeAzureClis:
    """Test-side controls of the fake `az` and `azd` sharing one state directory."""

    def __init__(self, state_dir: str | os.PathLike) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        for tool in TOOLS:
            _write_launcher(bin_dir / tool, FAKES_DIR / tool)
        self.bin_dir = str(bin_dir)
        self._config_path = self.state_dir / "config.json"
        self._write_config(_default_config())

    def env(self) -> dict[str, str]:
        """Extra variables the fakes need (PATH is the caller's to set)."""
        return {STATE_ENV: str(self.state_dir)}

    # --- switches ----------------------------------------------------------

    def fail(self, tool: str, message: str | None = None) -> None:
        """Make ``tool`` exit 1 with ``message`` (default: its not-logged-in error) on stderr."""
        self._update(tool, fail=True, message=message)

    def succeed(self, tool: str) -> None:
        self._update(tool, fail=False, message=None)

    def set_claims(self, tool: str, claims: dict[str, Any]) -> None:
        """Merge ``claims`` into the tokens ``tool`` prints (None removes a claim)."""
        self._check(tool)
        self._update(tool, claims={**self._config()[tool]["claims"], **claims})

    def set_lifetime(self, tool: str, seconds: float) -> None:
        self._update(tool, lifetime=float(seconds))

    def set_template(self, tool: str, template: str | None) -> None:
        """Print ``template`` instead of the current output shape, with its placeholders filled:
        {token}, {exp} (unix seconds), {local_us} / {local} (naive local time with / without
        microseconds, as az before 2.54 printed it), {utc} (RFC 3339, Z), {utc7} (7 fractional
        digits, as azd prints it). None: the current shape."""
        self._update(tool, template=template)

    def set_delay(self, tool: str, seconds: float) -> None:
        """Sleep this long before answering (makes concurrent callers observable)."""
        self._update(tool, delay=float(seconds))

    # --- observations ------------------------------------------------------

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        """Runs so far, oldest first: tool, argv, cwd, time (start, epoch s), pid, and
        once finished duration (s, whole process) and exit."""
        done = {d["id"]: d for d in _read_jsonl(self.state_dir / "done.jsonl")}
        out = []
        for call in _read_jsonl(self.state_dir / "calls.jsonl"):
            if tool is None or call["tool"] == tool:
                finished = done.get(call["id"], {})
                out.append({**call, **{k: finished[k] for k in ("duration", "exit") if k in finished}})
        return out

    def issued(self, tool: str | None = None) -> list[dict[str, Any]]:
        """Tokens printed so far: tool, token, expires_on, claims, tenant, resource."""
        return [r for r in _read_jsonl(self.state_dir / "issued.jsonl") if tool is None or r["tool"] == tool]

    def issued_secrets(self) -> list[str]:
        return [r["token"] for r in self.issued()]

    # --- internals ---------------------------------------------------------

    @staticmethod
    def _check(tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; known: {', '.join(TOOLS)}")

    def _config(self) -> dict[str, dict[str, Any]]:
        return json.loads(self._config_path.read_text())

    def _write_config(self, cfg: dict[str, dict[str, Any]]) -> None:
        # Whole file then rename: a fake starting meanwhile never reads half of it.
        tmp = self._config_path.with_name("config.json.tmp")
        tmp.write_text(json.dumps(cfg))
        os.replace(tmp, self._config_path)

    def _update(self, tool: str, **changes: Any) -> None:
        self._check(tool)
        cfg = self._config()
        cfg[tool].update(changes)
        self._write_config(cfg)


def _write_launcher(path: Path, script: Path) -> None:
    """bin/<tool>: runs the fake with this interpreter.

    ``#!/usr/bin/env python3`` may be a pyenv shim costing 150 ms or more per
    run; the launcher starts the fake with ``-S`` (it needs only the stdlib) in
    the interpreter running the tests, so a fake answers in tens of ms like the
    reference's. Falls back to the script itself when no shebang can hold the path.
    """
    exe = sys.executable
    if exe and " " not in exe and len(exe) < 200:
        text = (f"#!{exe} -S\n"
                "import runpy\n"
                f"runpy.run_path({str(script)!r}, run_name='__main__')\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)
    else:
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(script)


# --- the fakes themselves ------------------------------------------------------

class _Usage(Exception):
    pass


def _parse(argv: list[str], command: list[str], options: dict[str, str], flags: set[str]) -> dict[str, Any]:
    """``options`` maps every spelling to a canonical name; repeated options keep the last."""
    if argv[: len(command)] != command:
        raise _Usage(f"unsupported command {' '.join(argv[:len(command)])!r}; expected {' '.join(command)!r}")
    out: dict[str, Any] = {}
    rest = argv[len(command):]
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in flags and not eq:
            out[name] = True
            i += 1
        elif name in options:
            if not eq:
                if i + 1 >= len(rest):
                    raise _Usage(f"argument {name}: expected one argument")
                value = rest[i + 1]
                i += 1
            out[options[name]] = value
            i += 1
        else:
            raise _Usage(f"unrecognized arguments: {' '.join(rest[i:])}")
    if out.get("output") != "json":
        raise _Usage(f"the fake only prints JSON: pass --output json (got {out.get('output')!r})")
    return out


def _process_start() -> float:
    """Seconds on the boot clock at which this process started (for durations
    that include the interpreter's own start-up)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.clock_gettime(time.CLOCK_BOOTTIME)


def _check_args(tool: str, args: dict[str, Any]) -> None:
    if tool == "az":
        if ("resource" in args) == ("scope" in args):
            raise _Usage("usage error: exactly one of --resource and --scope is required by the fake")
        return
    if not args.get("--no-prompt"):
        raise _Usage("the fake insists on --no-prompt: without it a real azd may wait for a browser login")
    if "scope" not in args:
        raise _Usage("--scope is required by the fake")


def _az(args: dict[str, Any], cfg: dict[str, Any], now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    resource = args.get("resource") or azure.resource_of(args["scope"])
    tenant = args.get("tenant") or azure.TENANT_ID
    exp = int(now + cfg["lifetime"])
    claims = {**azure.base_claims(resource, tenant, int(now), exp), **azure.user_claims(tenant)}
    claims = azure.apply_overrides(claims, cfg["claims"])
    token = azure.jwt(claims)
    out = {
        "accessToken": token,
        # Local time without a zone, as az prints it (the tests run with TZ=UTC).
        "expiresOn": datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "expires_on": exp,
        "subscription": args.get("subscription") or azure.SUBSCRIPTION_ID,
        "tenant": tenant,
        "tokenType": "Bearer",
    }
    return out, {"token": token, "expires_on": exp, "claims": claims, "tenant": tenant, "resource": resource}


def _azd(args: dict[str, Any], cfg: dict[str, Any], now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    resource = azure.resource_of(args["scope"])
    tenant = args.get("tenant") or azure.TENANT_ID
    exp = int(now + cfg["lifetime"])
    claims = {**azure.base_claims(resource, tenant, int(now), exp), **azure.user_claims(tenant)}
    claims = azure.apply_overrides(claims, cfg["claims"])
    token = azure.jwt(claims)
    out = {"token": token, "expiresOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}
    return out, {"token": token, "expires_on": exp, "claims": claims, "tenant": tenant, "resource": resource}


_AZ_SYNTAX = (["account", "get-access-token"],
              {"--output": "output", "-o": "output", "--resource": "resource", "--scope": "scope",
               "--tenant": "tenant", "-t": "tenant", "--subscription": "subscription"},
              set())
_AZD_SYNTAX = (["auth", "token"],
               {"--output": "output", "-o": "output", "--scope": "scope", "--tenant-id": "tenant"},
               {"--no-prompt"})


def fake_main(tool: str, argv: list[str]) -> int:
    """Entry point of fakes/az and fakes/azd."""
    state = os.environ.get(STATE_ENV)
    if not state:
        sys.stderr.write(f"fake {tool}: {STATE_ENV} is not set (use harness.azcli.FakeAzureClis)\n")
        return 2
    state_dir = Path(state)
    call_id = uuid.uuid4().hex
    _append_jsonl(state_dir / "calls.jsonl", {"id": call_id, "tool": tool, "argv": argv, "cwd": os.getcwd(),
                                              "time": time.time(), "pid": os.getpid()})
    code = 70
    try:
        code = _run(tool, argv, state_dir)
    finally:
        duration = time.clock_gettime(time.CLOCK_BOOTTIME) - _process_start()
        _append_jsonl(state_dir / "done.jsonl", {"id": call_id, "duration": round(duration, 4), "exit": code})
    return code


def _run(tool: str, argv: list[str], state_dir: Path) -> int:
    cfg = json.loads((state_dir / "config.json").read_text())[tool]
    syntax = _AZ_SYNTAX if tool == "az" else _AZD_SYNTAX
    try:
        args = _parse(argv, *syntax)
        _check_args(tool, args)
    except _Usage as e:
        sys.stderr.write(f"ERROR: fake {tool}: {e}\nargv: {argv!r}\n")
        return 2
    if cfg["delay"] > 0:
        time.sleep(cfg["delay"])
    if cfg["fail"]:
        default = AZ_NOT_LOGGED_IN if tool == "az" else AZD_NOT_LOGGED_IN
        sys.stderr.write(cfg["message"] if cfg["message"] is not None else default)
        return 1
    out, record = (_az if tool == "az" else _azd)(args, cfg, time.time())
    _append_jsonl(state_dir / "issued.jsonl", {"tool": tool, **record})
    if cfg.get("template"):
        sys.stdout.write(render(cfg["template"], record["token"], record["expires_on"]) + "\n")
    else:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


def render(template: str, token: str, exp: int) -> str:
    """``template`` with its placeholders (see FakeAzureClis.set_template) filled."""
    local = datetime.fromtimestamp(exp)
    values = {
        "{token}": token,
        "{exp}": str(exp),
        "{local_us}": local.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "{local}": local.strftime("%Y-%m-%d %H:%M:%S"),
        "{utc}": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)),
        "{utc7}": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(exp)) + ".1234567Z",
    }
    for name, value in values.items():
        template = template.replace(name, value)
    return template
