"""`make demo`: mint DSQL and RDS tokens with the passmint CLI from credentials served by the
local mock identity server, let a throwaway TLS PostgreSQL accept them as the cloud would,
and connect with psql over verified TLS. Loopback only; stops everything it started."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bins
from harness.ca import make_ca
from harness.env import hermetic_env
from harness.mock import MockIdentityServer
from harness.pg import PostgresServer

TARGETS = [
    # (provider, credential source, role, postgres URL the application would use)
    ("Aurora DSQL", "ECS container", "admin_demo", "dsql://demo123.dsql.us-east-1.on.aws?user={role}"),
    ("Aurora DSQL", "EKS web identity", "reader_demo", "dsql://demo123?region=eu-west-2&user={role}&expires_in=3600"),
    ("RDS IAM", "EC2 IMDSv2", "app_demo", "--for postgresql://{role}@db.demo.eu-west-1.rds.amazonaws.com:5432/app"),
]


def source_env(kind: str, mock: MockIdentityServer, env_dir: Path, ca_pem: Path) -> dict:
    if kind == "ECS container":
        extra = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": mock.http_url + "/aws/container-credentials"}
    elif kind == "EKS web identity":
        jwt = env_dir / "web-identity-token"
        jwt.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2ln")
        extra = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(jwt), "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/demo",
                 "AWS_ENDPOINT_URL_STS": mock.http_url}
    else:
        extra = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": mock.http_url + "/"}
    return hermetic_env(env_dir / kind.replace(" ", "-"), ca_pem, **extra)


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="passmint-demo-") as tmp:
        work = Path(tmp)
        ca = make_ca(work / "ca")
        with MockIdentityServer(ca) as mock, PostgresServer(ca) as pg:
            print(f"mock identity endpoints on {mock.http_url}; PostgreSQL (TLS) on 127.0.0.1:{pg.port}\n")
            for provider, kind, role, target in TARGETS:
                pg.create_login_role(role)
                env = source_env(kind, mock, work, ca.ca_pem)
                args = ["token", "--json", *target.format(role=role).split(" ", 1)]
                started = time.monotonic()
                r = bins.cli(args, env)
                mint_ms = (time.monotonic() - started) * 1000
                if r.returncode != 0:
                    rows.append((provider, kind, role, "FAILED: " + r.stderr.strip(), "", ""))
                    continue
                out = json.loads(r.stdout)
                pg.set_password(role, out["token"])  # what IAM does on the cloud's side
                started = time.monotonic()
                who = pg.connect_psql(role, out["token"]).strip()
                connect_ms = (time.monotonic() - started) * 1000
                expiry = time.strftime("%H:%M:%SZ", time.gmtime(out["expires_at"]))
                rows.append((provider, kind, f"psql as {who}", expiry, f"{mint_ms:.0f}", f"{connect_ms:.0f}"))
    header = ("provider", "credentials from", "connected", "token expires", "mint ms", "connect ms")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    failed = sum(1 for r in rows if str(r[3]).startswith("FAILED"))
    print(f"\n{len(rows) - failed} of {len(rows)} connected; mock and PostgreSQL stopped.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
