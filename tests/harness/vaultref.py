"""Reference Vault requests from Python hvac, to compare passmint's `vault://` source against.

    python -m harness.vaultref <op> [--auth token|kubernetes|approle] [--auth-mount M]
        [--login-role R] [--jwt-file F] [--role-id ID] [--secret-id-file F]
        [--mount M] [--role R] [--path P] [--version N] [--lease-id L] [--increment N]

Configured the way the Vault CLI (and passmint) is: VAULT_ADDR, VAULT_CACERT, VAULT_TOKEN (token
auth) and VAULT_NAMESPACE from the environment. hvac reads the first three itself; the namespace
is handed to hvac.Client, which then sends X-Vault-Namespace. Secrets come from files, never argv.

ops:
    login         log in (kubernetes or approle) and nothing more
    creds         log in (unless token auth), then GET <mount>/creds/<role>
    static-creds  log in, then GET <mount>/static-creds/<role>
    kv            log in, then GET <mount>/data/<path>[?version=N]
    renew         PUT sys/leases/renew {lease_id, increment}
    revoke        PUT sys/leases/revoke {lease_id}
    lifecycle     a dynamic credential's whole life: log in, creds, renew (--increment), revoke
    lookup-self   GET auth/token/lookup-self
    renew-self    POST auth/token/renew-self [{increment}]

Prints one JSON line: {"result": <the last answer>, "steps": [<every answer, in order>]} (exit 0)
or {"error": <hvac exception name>, "message", "errors"} (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent
OPS = ("login", "creds", "static-creds", "kv", "renew", "revoke", "lifecycle", "lookup-self", "renew-self")


def _client() -> Any:
    import hvac

    return hvac.Client(namespace=os.environ.get("VAULT_NAMESPACE") or None)


def _answer(response: Any) -> Any:
    # hvac hands back the JSON of a 200 and the requests.Response of anything else (a 204).
    return response if isinstance(response, dict) else {"status": response.status_code}


def _login(client: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    if args.auth == "kubernetes":
        jwt = Path(args.jwt_file).read_text().strip()
        return client.auth.kubernetes.login(args.login_role, jwt, mount_point=args.auth_mount or "kubernetes")
    if args.auth == "approle":
        secret_id = Path(args.secret_id_file).read_text().strip()
        return client.auth.approle.login(args.role_id, secret_id, mount_point=args.auth_mount or "approle")
    return None


def _increment(args: argparse.Namespace) -> int | None:
    return int(args.increment) if args.increment is not None else None


def _steps(client: Any, args: argparse.Namespace) -> list[Any]:
    """The answers of the op's requests, in order."""
    database = client.secrets.database
    if args.op == "renew":
        return [client.sys.renew_lease(args.lease_id, increment=_increment(args))]
    if args.op == "revoke":
        return [client.sys.revoke_lease(args.lease_id)]
    steps: list[Any] = [step for step in [_login(client, args)] if step is not None]
    if args.op == "creds":
        steps.append(database.generate_credentials(args.role, mount_point=args.mount))
    elif args.op == "static-creds":
        steps.append(database.get_static_credentials(args.role, mount_point=args.mount))
    elif args.op == "kv":
        version = int(args.version) if args.version else None
        steps.append(client.secrets.kv.v2.read_secret_version(args.path, version=version, mount_point=args.mount,
                                                              raise_on_deleted_version=True))
    elif args.op == "lifecycle":
        creds = database.generate_credentials(args.role, mount_point=args.mount)
        renewed = client.sys.renew_lease(creds["lease_id"], increment=_increment(args))
        steps += [creds, renewed, client.sys.revoke_lease(creds["lease_id"])]
    elif args.op == "lookup-self":
        steps.append(client.auth.token.lookup_self())
    elif args.op == "renew-self":
        steps.append(client.auth.token.renew_self(increment=_increment(args)))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.vaultref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("op", choices=OPS)
    parser.add_argument("--auth", choices=("token", "kubernetes", "approle"), default="token")
    parser.add_argument("--auth-mount")
    parser.add_argument("--login-role")
    parser.add_argument("--jwt-file")
    parser.add_argument("--role-id")
    parser.add_argument("--secret-id-file")
    parser.add_argument("--mount", default="database")
    parser.add_argument("--role")
    parser.add_argument("--path")
    parser.add_argument("--version")
    parser.add_argument("--lease-id")
    parser.add_argument("--increment")
    args = parser.parse_args(argv)
    if args.op == "kv" and args.mount == "database":
        args.mount = "secret"
    try:
        steps = [_answer(step) for step in _steps(_client(), args)]
        print(json.dumps({"result": steps[-1] if steps else None, "steps": steps}))
        return 0
    except Exception as e:  # noqa: BLE001 - the reference's failure is data for the test
        print(json.dumps({"error": type(e).__name__, "message": str(e), "errors": getattr(e, "errors", None)}))
        return 1


def run(op: str, addr: str, ca: str | os.PathLike, *, token: str | None = None, namespace: str | None = None,
        jwt: str | None = None, secret_id: str | None = None, **options: Any) -> dict[str, Any]:
    """Run ``op`` in a fresh process against Vault at ``addr`` trusting ``ca``; its JSON line.

    token goes in as VAULT_TOKEN, namespace as VAULT_NAMESPACE; jwt and secret_id through files;
    every other option (auth, login_role, role_id, auth_mount, mount, role, path, version,
    lease_id, increment) as its --flag.
    """
    argv = [op]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(TESTS_DIR),
           "VAULT_ADDR": addr, "VAULT_CACERT": str(ca)}
    if token is not None:
        env["VAULT_TOKEN"] = token
    if namespace is not None:
        env["VAULT_NAMESPACE"] = namespace
    with tempfile.TemporaryDirectory(prefix="passmint-vaultref-") as work:
        env["HOME"] = work  # no ~/.vault-token but the one we mean
        for name, secret in (("jwt_file", jwt), ("secret_id_file", secret_id)):
            if secret is not None:
                path = Path(work) / name
                path.write_text(secret)
                argv += [f"--{name.replace('_', '-')}", str(path)]
        out = subprocess.run([sys.executable, "-m", "harness.vaultref", *argv], env=env, capture_output=True,
                             text=True, timeout=60, check=False, cwd=str(TESTS_DIR))
    lines = out.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"vaultref printed nothing: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def shape(req: dict[str, Any]) -> dict[str, Any]:
    """What must be equal between passmint's request to Vault and hvac's: route, method, path,
    query, the Vault headers (the token by presence: logins make different ones), the body's
    content type and JSON (a lease id down to its path, its random tail differing per lease)."""
    headers = req["headers"]
    body = json.loads(req["body"]) if req["body"].strip() else None
    if isinstance(body, dict) and isinstance(body.get("lease_id"), str):
        body["lease_id"] = body["lease_id"].rsplit("/", 1)[0] + "/…"
    return {
        "route": req["route"],
        "method": req["method"],
        "path": req["path"],
        "query": req["query_params"],
        "x-vault-request": headers.get("x-vault-request"),
        "x-vault-namespace": headers.get("x-vault-namespace"),
        "token": "x-vault-token" in headers,
        "content-type": headers.get("content-type", "").split(";")[0] if body is not None else None,
        "body": body,
    }


if __name__ == "__main__":
    sys.exit(main())
