"""Reference Google tokens from Python google-auth, to compare passmint's requests against.

    python -m harness.gcpref adc [--scope S] [--impersonate EMAIL --iam-endpoint URL]
    python -m harness.gcpref metadata [--scope S]

adc: ``google.auth.default(scopes=[S])`` (GOOGLE_APPLICATION_CREDENTIALS or CLOUDSDK_CONFIG's
file), then ``refresh``; with --impersonate, ``impersonated_credentials.Credentials`` over it
(``iam_endpoint_override`` is google-auth's own way to point it elsewhere). metadata:
``compute_engine.Credentials`` (GCE_METADATA_HOST). Everything else comes from the environment
the caller passes (REQUESTS_CA_BUNDLE makes requests trust the test CA).

Prints one JSON line: {"token": ..., "expiry": unix seconds} (exit 0) or {"error", "message"}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SQL_LOGIN = "https://www.googleapis.com/auth/sqlservice.login"
TESTS_DIR = Path(__file__).resolve().parent.parent


def _credentials(args: argparse.Namespace) -> Any:
    import google.auth
    import google.oauth2.credentials
    from google.auth import compute_engine, impersonated_credentials

    # google-auth sends an authorized_user's refresh to its own constant, whatever the file's
    # token_uri says ("always overrides"); passmint does the same with PASSMINT_GCP_TOKEN_URL as
    # its override, which points the reference at the same mock here.
    if os.environ.get("PASSMINT_GCP_TOKEN_URL"):
        google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT = os.environ["PASSMINT_GCP_TOKEN_URL"]

    if args.kind == "metadata":
        return compute_engine.Credentials(scopes=[args.scope])
    if args.impersonate:
        path = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
        source, _ = google.auth.load_credentials_from_file(path)
        return impersonated_credentials.Credentials(
            source_credentials=source, target_principal=args.impersonate, target_scopes=[args.scope],
            iam_endpoint_override=f"{args.iam_endpoint}/v1/projects/-/serviceAccounts/{args.impersonate}:generateAccessToken")
    # The file google.auth.default() would pick, loaded without its project lookup (a call to
    # Cloud Resource Manager that is no part of minting a token).
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.path.join(
        os.environ["CLOUDSDK_CONFIG"], "application_default_credentials.json")
    with open(path) as f:
        info = json.load(f)
    if info.get("type") == "external_account":
        # load_credentials_from_file also looks the project up for this type.
        from google.auth import aws, identity_pool

        kind = aws if info.get("credential_source", {}).get("environment_id") else identity_pool
        return kind.Credentials.from_info(info, scopes=[args.scope])
    credentials, _ = google.auth.load_credentials_from_file(path, scopes=[args.scope])
    return credentials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.gcpref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("adc", "metadata"))
    parser.add_argument("--scope", default=SQL_LOGIN)
    parser.add_argument("--impersonate")
    parser.add_argument("--iam-endpoint")
    args = parser.parse_args(argv)
    try:
        import google.auth.transport.requests

        credentials = _credentials(args)
        credentials.refresh(google.auth.transport.requests.Request())
        expiry = credentials.expiry.replace(tzinfo=__import__("datetime").timezone.utc).timestamp()
        print(json.dumps({"token": credentials.token, "expiry": int(expiry)}))
        return 0
    except Exception as e:  # noqa: BLE001 - the reference's failure is data for the test
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        return 1


def run(kind: str, env: dict[str, str], **options: str) -> dict[str, Any]:
    argv = [kind]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    out = subprocess.run([sys.executable, "-m", "harness.gcpref", *argv], env={**env, "PYTHONPATH": str(TESTS_DIR)},
                         capture_output=True, text=True, timeout=60, check=False, cwd=os.getcwd())
    lines = out.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"gcpref printed nothing: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


if __name__ == "__main__":
    sys.exit(main())
