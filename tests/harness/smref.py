"""Reference Secrets Manager read: boto3's ``get_secret_value`` on the default chain, to compare
passmint's `awssm://` source against (the answer, and the request that got it).

    python -m harness.smref SECRET_ID [--version-stage STAGE | --version-id ID] [--region R] [--profile P]

Runs in a child process with exactly the environment the caller passes (hermetic_env plus
``SecretsManagerServer.env()``), so the endpoint (AWS_ENDPOINT_URL_SECRETS_MANAGER, then
AWS_ENDPOINT_URL), region and credentials are resolved as botocore resolves them. VersionStage
is sent explicitly (AWSCURRENT unless told), as passmint sends it. Prints one JSON line:

    {"secret": <parsed SecretString, or null when not JSON>, "secret_string": <raw>,
     "arn", "name", "version_id", "version_stages", "status": 200, "sent": [request, ...]}   exit 0
    {"error": <error code, or exception type>, "message", "status": <HTTP status or null>,
     "sent": [request, ...]}                                                              exit 1

Each sent request, as botocore's last hook before the wire saw it (retries each add one):
{"method", "url", "path", "query", "headers" (names lower-cased; authorization and
x-amz-security-token redacted), "body" (text), "json" (body parsed), "scope" (sigv4_scope:
access_key, date, region, service, terminator, signed_headers)}: the server's record
(SecretsManagerServer.requests()) has the same keys but url, so the two compare directly.

From Python: ``smref.run(env, secret_id, ...)`` -> that dict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .secretsmanager import sigv4_scope

TESTS_DIR = Path(__file__).resolve().parent.parent
REDACTED = "<redacted>"
_REDACT = ("authorization", "x-amz-security-token")


def _sent(request: Any) -> dict[str, Any]:
    headers = {}
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        headers[name.lower()] = value
    scope = sigv4_scope(headers.get("authorization"))
    for name in _REDACT:
        if name in headers:
            headers[name] = REDACTED
    body = request.body or b""
    body = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    url = urlsplit(request.url)
    return {"method": request.method, "url": request.url, "path": url.path, "query": url.query,
            "headers": headers, "body": body, "json": parsed, "scope": scope}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("secret_id")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version-stage", default=None)
    which.add_argument("--version-id")
    parser.add_argument("--region")
    parser.add_argument("--profile")
    args = parser.parse_args()
    sent: list[dict[str, Any]] = []
    out: dict[str, Any]
    try:
        import boto3
        from botocore.exceptions import ClientError

        client = boto3.session.Session(profile_name=args.profile, region_name=args.region).client("secretsmanager")
        client.meta.events.register("before-send", lambda request, **_: sent.append(_sent(request)))
        call: dict[str, str] = {"SecretId": args.secret_id}
        if args.version_id:
            call["VersionId"] = args.version_id
        else:
            call["VersionStage"] = args.version_stage or "AWSCURRENT"
        try:
            answer = client.get_secret_value(**call)
        except ClientError as e:
            out = {"error": e.response["Error"]["Code"], "message": e.response["Error"].get("Message", ""),
                   "status": e.response["ResponseMetadata"].get("HTTPStatusCode")}
        else:
            raw = answer.get("SecretString")
            try:
                secret = json.loads(raw) if raw is not None else None
            except ValueError:
                secret = None
            out = {"secret": secret, "secret_string": raw, "arn": answer["ARN"], "name": answer["Name"],
                   "version_id": answer["VersionId"], "version_stages": answer["VersionStages"],
                   "status": answer["ResponseMetadata"]["HTTPStatusCode"]}
    except Exception as e:  # noqa: BLE001 - every refusal is an outcome here
        out = {"error": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else "", "status": None}
    out["sent"] = sent
    print(json.dumps(out))
    return 0 if "error" not in out else 1


def run(env: dict[str, str], secret_id: str, *, version_stage: str | None = None, version_id: str | None = None,
        region: str | None = None, profile: str | None = None, timeout: float = 60) -> dict[str, Any]:
    args = [sys.executable, "-m", "harness.smref", secret_id]
    if version_stage:
        args += ["--version-stage", version_stage]
    if version_id:
        args += ["--version-id", version_id]
    if region:
        args += ["--region", region]
    if profile:
        args += ["--profile", profile]
    proc = subprocess.run(args, cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"smref printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    raise SystemExit(main())
