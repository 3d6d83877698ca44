"""Reference Azure tokens from Python azure-identity, to compare passmint against.

    python -m harness.azref <kind> [--client-id ID] [--object-id ID] [--resource-id ID]
                                   [--tenant-id T] [--scope S]

kind: environment (ClientSecretCredential, instance discovery off), workload
(WorkloadIdentityCredential), managed (ManagedIdentityCredential: App Service
when IDENTITY_ENDPOINT is set, else IMDS at AZURE_POD_IDENTITY_AUTHORITY_HOST),
cli (AzureCliCredential), azd (AzureDeveloperCliCredential). Everything else comes
from the environment the caller passes (hermetic_env plus the mock's variables;
REQUESTS_CA_BUNDLE makes azure-core trust the test CA).

Prints one JSON line: {"token": ..., "expires_on": ...} (exit 0) or
{"error": <exception type>, "message": ...} (exit 1).

From Python: ``azref.run(kind, env, client_id=..., tenant_id=...)`` -> that dict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

KINDS = ("environment", "workload", "managed", "cli", "azd")
DEFAULT_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
TESTS_DIR = Path(__file__).resolve().parent.parent


def _credential(args: argparse.Namespace) -> Any:
    from azure import identity  # imported late: `--help` and `run()` stay cheap

    env = os.environ
    if args.kind == "environment":
        if args.tenant_id or args.client_id:
            return identity.ClientSecretCredential(
                tenant_id=args.tenant_id or env["AZURE_TENANT_ID"],
                client_id=args.client_id or env["AZURE_CLIENT_ID"],
                client_secret=env["AZURE_CLIENT_SECRET"],
                disable_instance_discovery=True,
            )
        return identity.EnvironmentCredential(disable_instance_discovery=True)
    if args.kind == "workload":
        return identity.WorkloadIdentityCredential(tenant_id=args.tenant_id, client_id=args.client_id)
    if args.kind == "managed":
        config = {k: v for k, v in (("object_id", args.object_id), ("resource_id", args.resource_id)) if v}
        return identity.ManagedIdentityCredential(client_id=args.client_id, identity_config=config or None)
    if args.kind == "cli":
        return identity.AzureCliCredential(tenant_id=args.tenant_id or "")
    return identity.AzureDeveloperCliCredential(tenant_id=args.tenant_id or "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.azref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--client-id")
    parser.add_argument("--object-id")
    parser.add_argument("--resource-id")
    parser.add_argument("--tenant-id")
    parser.add_argument("--scope", default=DEFAULT_SCOPE)
    args = parser.parse_args(argv)
    try:
        token = _credential(args).get_token(args.scope)
        out: dict[str, Any] = {"token": token.token, "expires_on": token.expires_on}
    except Exception as e:  # noqa: BLE001 - the type is the answer: report it, never crash
        out = {"error": type(e).__name__, "message": str(e)}
    print(json.dumps(out), flush=True)
    return 0 if "token" in out else 1


def run(kind: str, env: dict[str, str], timeout: float = 60, wrap: tuple[str, ...] = (), js: bool = False,
        **opts: str | None) -> dict[str, Any]:
    """Run the reference in a subprocess with ``env``; opts: client_id, object_id,
    resource_id, tenant_id, scope (None: not passed). ``js``: @azure/identity (azref.mjs, kinds
    managed, cli, azd) instead of azure-identity; ``wrap``: a command prefix (a namespace)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if js:
        args = [*wrap, "node", str(TESTS_DIR / "harness" / "azref.mjs"), kind]
    else:
        args = [*wrap, sys.executable, "-m", "harness.azref", kind]
    for name, value in opts.items():
        if value is not None:
            args += ["--" + name.replace("_", "-"), value]
    proc = subprocess.run(args, cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"azref {kind} printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    raise SystemExit(main())
