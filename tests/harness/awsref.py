"""Reference AWS credentials from botocore (Python) and @aws-sdk/credential-providers (JS,
harness/awsref.mjs), to compare passmint against on the same answers.

    python -m harness.awsref <container|imds|process> [--profile NAME]

Each source is read by the provider the SDK's default chain would use for it, from the
environment the caller passes (hermetic_env plus the mock's variables). Prints one JSON line:
{"token": <access key id>, "expires_on": <unix seconds or null>} (exit 0) or
{"error": <exception type>, "message": ...} (exit 1). botocore's credentials are read as a
user reads them (``get_frozen_credentials()``), so a refusal that botocore defers to first use
counts as a refusal.

From Python: ``awsref.run(source, env, profile=..., js=False)`` -> that dict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SOURCES = ("container", "imds", "process")
TESTS_DIR = Path(__file__).resolve().parent.parent


def _provider(source: str, profile: str | None) -> Any:
    import botocore.credentials  # imported late: `run()` stays cheap
    import botocore.session

    session = botocore.session.Session(profile=profile)
    resolver = botocore.credentials.create_credential_resolver(session)
    method = {"container": "container-role", "imds": "iam-role", "process": "custom-process"}[source]
    return resolver.get_provider(method)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", choices=SOURCES)
    parser.add_argument("--profile")
    args = parser.parse_args()
    try:
        creds = _provider(args.source, args.profile).load()
        if creds is None:
            raise LookupError("the provider found no credentials")
        frozen = creds.get_frozen_credentials()
        expiry = getattr(creds, "_expiry_time", None)
        out = {"token": frozen.access_key, "expires_on": int(expiry.timestamp()) if expiry else None}
    except Exception as e:  # noqa: BLE001 - every refusal is an outcome here
        out = {"error": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else ""}
    print(json.dumps(out))
    return 0 if "token" in out else 1


def run(source: str, env: dict[str, str], profile: str | None = None, js: bool = False,
        timeout: float = 60) -> dict[str, Any]:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    if js:
        args = ["node", str(TESTS_DIR / "harness" / "awsref.mjs"), source]
    else:
        args = [sys.executable, "-m", "harness.awsref", source]
    if profile:
        args += ["--profile", profile]
    proc = subprocess.run(args, cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"awsref {source} printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    raise SystemExit(main())
