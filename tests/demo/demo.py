"""`make demo`: every provider through every integration, on loopback, in one table.

It starts a mock identity service for both clouds, fake `az`/`azd`, and a throwaway TLS
PostgreSQL. In front of PostgreSQL sits a door that checks each login the way the cloud does
(harness/cloudauth.py):
- SigV4 signature, expiry and user for DSQL and RDS;
- an Entra token the identity service issued to that role, for Azure;
- the passwords the secret stores handed out (Vault's leases, Secrets Manager's secret, a file
  and a token command's), as a server with password authentication would.

Then, for each provider, each integration mints its own token in its own process and logs in:
- psql with `passmint token`;
- psycopg, psycopg_pool, asyncpg, SQLAlchemy and Django through passmint's Python helpers;
- node-postgres, Postgres.js, Sequelize, Knex, Drizzle, Kysely, TypeORM and MikroORM through the
  Node package;
- tokio-postgres, deadpool, bb8, diesel-async and sqlx through passmint-postgres (the Rust
  example postgres/examples/demo_driver.rs, built by `make build`);
- examples/c (libpq) and examples/go (pgx) through libpassmint.

The table shows who the server says each session is, when the provider's tokens expire, and
the milliseconds each login took, token included. Everything started is stopped. Nothing is
written outside build/ (temporary files go to build/demo-tmp).

    make demo        (runs: tests/run build/venv/bin/python tests/demo/demo.py)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import bins, gcp, hygiene
from harness.azcli import FakeAzureClis
from harness.ca import make_ca
from harness.cloudauth import CloudAuthFront
from harness.env import hermetic_env
from harness.mock import MockIdentityServer
from harness.native import go_env
from harness.pg import PostgresServer, find_psql
from harness.secretsmanager import SecretsManagerServer

TOP = bins.TOP
INSTALL = Path(os.environ.get("PASSMINT_INSTALL_DIR") or TOP / "build" / "install").resolve()
DEMO = Path(__file__).resolve().parent
GO_CACHES = ("GOPATH", "GOMODCACHE", "GOCACHE", "GOROOT")  # the demo's own HOME stays


@dataclass
class Target:
    name: str
    url: str
    role: str  # ends with `*`: a prefix (Vault makes a role per lease)
    env: dict[str, str]

    def matches(self, user: str) -> bool:
        return user.startswith(self.role[:-1]) if self.role.endswith("*") else user == self.role


@dataclass
class Cell:
    ok: bool
    detail: str  # the role the server saw, or what went wrong
    ms: float | None = None


def run(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def last_json(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def build_c(work: Path) -> Path:
    out = work / "c"
    out.mkdir()
    env = {**os.environ, "PKG_CONFIG_PATH": str(INSTALL / "lib" / "pkgconfig")}
    r = run(["make", "-C", str(TOP / "examples" / "c"), f"BUILD={out}"], env)
    if r.returncode != 0:
        raise RuntimeError(f"examples/c did not build (run `make install PREFIX=build/install`):\n{r.stderr}")
    return out / "connect"


def build_go(work: Path) -> Path:
    out = work / "passmint-pgx"
    r = run(["go", "build", "-o", str(out), "-ldflags", f"-r {INSTALL / 'lib'}", "."], go_env(), cwd=TOP / "examples" / "go",
            timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"examples/go did not build:\n{r.stderr}")
    return out


# passmint-postgres's integrations, each a column (postgres/examples/demo_driver.rs).
RUST_DRIVERS = ("tokio-postgres", "deadpool", "bb8", "diesel-async", "sqlx")


def drivers(front_port: int, ca_pem: Path, c_connect: Path, go_pgx: Path, psql: str):
    """(column name, function(target, env) -> Cell)."""
    py, node = sys.executable, shutil.which("node") or "node"
    rust_demo = Path(os.environ.get("CARGO_TARGET_DIR") or TOP / "target") / "debug" / "examples" / "demo_driver"

    def via_json(args: list[str]):
        def go(t: Target, env: dict[str, str]) -> Cell:
            r = run(args, env)
            out = last_json(r.stdout)
            if r.returncode != 0 or "user" not in out:
                return Cell(False, (out.get("error") or r.stderr.strip().splitlines() or ["no output"])[-1])
            return Cell(t.matches(out["user"]), out["user"], out.get("ms"))
        return go

    def psql_(t: Target, env: dict[str, str]) -> Cell:
        started = time.perf_counter()
        minted = bins.cli(["token", "--json", t.url], env)
        if minted.returncode != 0:
            return Cell(False, minted.stderr.strip())
        token = json.loads(minted.stdout)
        user = token.get("username") or t.role
        conninfo = f"host=localhost port={front_port} dbname=postgres user={user} sslmode=verify-full sslrootcert={ca_pem}"
        r = run([psql, "-X", "-w", "-A", "-t", "-d", conninfo, "-c", "select current_user"], {**env, "PGPASSWORD": token["token"]})
        ms = (time.perf_counter() - started) * 1000
        if r.returncode != 0:
            return Cell(False, r.stderr.strip())
        return Cell(t.matches(r.stdout.strip()), r.stdout.strip(), ms)

    def c_(t: Target, env: dict[str, str]) -> Cell:
        started = time.perf_counter()
        r = run([str(c_connect), t.url], {**env, "PGSSLROOTCERT": str(ca_pem)})
        ms = (time.perf_counter() - started) * 1000
        user = next((ln.split(": ", 1)[1] for ln in r.stdout.splitlines() if ln.startswith("current_user: ")), None)
        if r.returncode != 0 or user is None:
            return Cell(False, r.stderr.strip() or r.stdout.strip())
        return Cell(t.matches(user), user, ms)

    def go_(t: Target, env: dict[str, str]) -> Cell:
        started = time.perf_counter()
        dsn = f"host=localhost port={front_port} dbname=postgres sslmode=verify-full sslrootcert={ca_pem}"
        r = run([str(go_pgx), "-provider", t.url, "-dsn", dsn, "-max-conns", "2"], env)
        ms = (time.perf_counter() - started) * 1000
        out = last_json(r.stdout)
        conns = out.get("conns") or []
        if r.returncode != 0 or not conns:
            return Cell(False, "; ".join(out.get("errors") or []) or r.stderr.strip())
        return Cell(t.matches(conns[0]["user"]), conns[0]["user"], ms)

    return [
        ("psql (passmint token)", psql_),
        ("psycopg", via_json([py, str(DEMO / "python_driver.py"), "psycopg"])),
        ("psycopg_pool", via_json([py, str(DEMO / "python_driver.py"), "psycopg_pool"])),
        ("asyncpg", via_json([py, str(DEMO / "python_driver.py"), "asyncpg"])),
        ("SQLAlchemy", via_json([py, str(DEMO / "python_driver.py"), "sqlalchemy"])),
        ("Django", via_json([py, str(DEMO / "python_driver.py"), "django"])),
        ("node-postgres", via_json([node, str(DEMO / "node_driver.js"), "pg"])),
        ("Postgres.js", via_json([node, str(DEMO / "node_driver.js"), "postgres"])),
        ("Sequelize", via_json([node, str(DEMO / "node_driver.js"), "sequelize"])),
        ("Knex", via_json([node, str(DEMO / "node_driver.js"), "knex"])),
        ("Drizzle", via_json([node, str(DEMO / "node_driver.js"), "drizzle"])),
        ("Kysely", via_json([node, str(DEMO / "node_driver.js"), "kysely"])),
        ("TypeORM", via_json([node, str(DEMO / "node_driver.js"), "typeorm"])),
        ("MikroORM", via_json([node, str(DEMO / "node_driver.js"), "mikroorm"])),
        *((f"Rust {name}", via_json([str(rust_demo), name])) for name in RUST_DRIVERS),
        ("C / libpq", c_),
        ("Go / pgx", go_),
    ]


def targets(mock: MockIdentityServer, clis: FakeAzureClis, work: Path, ca_pem: Path,
            stores: SecretStores) -> list[Target]:
    def env(name: str, **extra: str) -> dict[str, str]:
        e = hermetic_env(work / "env" / name, ca_pem, **extra)
        e.update({k: os.environ[k] for k in GO_CACHES if os.environ.get(k)})
        return e

    mock.configure(azure_app_name="demo-webapp")  # the managed identity is named like its role, as on Azure
    clis.set_claims("az", {"upn": "dev@contoso.example"})
    az_env = env("azure-cli", **clis.env())
    az_env["PATH"] = f"{clis.bin_dir}:{az_env['PATH']}"
    google_key = work / "google-key.json"
    google_key.write_text(json.dumps(gcp.service_account(mock, "demo-app")))
    metadata = mock.http_url.removeprefix("http://")
    return [
        Target("Azure managed identity (App Service)", "azure://?credential=managed", "demo-webapp",
               env("azure-managed", IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                   IDENTITY_HEADER=mock.identity_header)),
        Target("Azure CLI (az login)", "azure://?credential=cli", "dev@contoso.example", az_env),
        Target("Aurora DSQL (ECS container credentials)", "dsql://demo123.dsql.us-east-1.on.aws?user=demo_dsql", "demo_dsql",
               env("dsql", AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")),
        Target("RDS IAM (EC2 IMDSv2)", "rds://db.demo.eu-west-1.rds.amazonaws.com:5432?user=demo_rds", "demo_rds",
               env("rds", AWS_EC2_METADATA_DISABLED="false", AWS_EC2_METADATA_SERVICE_ENDPOINT=mock.http_url + "/")),
        Target("Google Cloud SQL (service account key, ADC)", "gcp://", gcp.db_user(f"demo-app@{gcp.PROJECT}.iam.gserviceaccount.com"),
               env("gcp-key", GOOGLE_APPLICATION_CREDENTIALS=str(google_key))),
        Target("Google Cloud SQL (metadata server: GKE, Cloud Run)", "gcp://", gcp.db_user(gcp.METADATA_EMAIL),
               env("gcp-metadata", GCE_METADATA_HOST=metadata, GCE_METADATA_IP=metadata, NO_GCE_CHECK="false")),
        Target("HashiCorp Vault (dynamic credentials, a role per lease)", "vault:///database/creds/demo", "v-token-demo-*",
               env("vault", VAULT_ADDR=mock.https_url, VAULT_CACERT=str(ca_pem), VAULT_TOKEN=stores.vault_token)),
        Target("AWS Secrets Manager (RDS-shaped secret)", "awssm://demo/db?region=eu-west-2", "demo_awssm",
               env("awssm", AWS_ENDPOINT_URL_SECRETS_MANAGER=stores.sm.url,
                   AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials")),
        Target("Password file (Kubernetes secret volume)", f"file://{stores.password_file}?user=demo_file", "demo_file",
               env("file")),
        Target("Token command (exec:)", f"exec:?cmd=cat%20{stores.command_output}", "demo_exec", env("exec")),
    ]


@dataclass
class SecretStores:
    """The secret stores' side: Vault's database engine on this PostgreSQL, a Secrets Manager
    secret, a password file and a command's output, and every (user, password) they hand out."""
    sm: SecretsManagerServer
    vault_token: str
    password_file: Path
    command_output: Path
    fixed: list[tuple[str, str]]

    @classmethod
    def start(cls, mock: MockIdentityServer, pg: PostgresServer, sm: SecretsManagerServer, work: Path) -> SecretStores:
        mock.vault.attach_postgres(pg)
        mock.vault.add_db_role("demo")
        mock.vault.add_policy("demo-creds", {"database/creds/demo": ["read"]})
        vault_token = mock.vault.add_token(["demo-creds"])
        fixed = [(role, secrets.token_urlsafe(24)) for role in ("demo_awssm", "demo_file", "demo_exec")]
        hygiene.record([pw for _, pw in fixed])
        (awssm, awssm_pw), (_, file_pw), (exec_user, exec_pw) = fixed
        sm.create_rds_secret("demo/db", awssm, awssm_pw, "localhost", pg.port, "postgres")
        volume = work / "secret-volume"
        volume.mkdir()
        (volume / "password").write_text(file_pw + "\n")
        output = work / "token-command.json"
        output.write_text(json.dumps({"username": exec_user, "password": exec_pw}))
        return cls(sm, vault_token, volume / "password", output, fixed)

    def passwords(self, mock: MockIdentityServer) -> list[tuple[str, str]]:
        leases = [(le["username"], le["password"]) for le in mock.vault_issued() if not le["revoked"]]
        return leases + self.fixed


def expiry(t: Target) -> str:
    r = bins.cli(["token", "--json", t.url], t.env)
    if r.returncode != 0:
        return "?"
    left = int(json.loads(r.stdout)["expires_at"] - time.time())
    return f"{left // 60} min {left % 60:02d} s"


def main() -> int:
    tmp_root = TOP / "build" / "demo-tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(tmp_root)  # PostgreSQL's data, the CA, the builds: all under build/
    os.environ["TMPDIR"] = str(tmp_root)
    results: list[tuple[Target, str, list[tuple[str, Cell]]]] = []
    with tempfile.TemporaryDirectory(prefix="run-") as tmp:
        work = Path(tmp)
        print("building examples/c and examples/go against build/install ...", flush=True)
        c_connect, go_pgx = build_c(work), build_go(work)
        ca = make_ca(work / "ca")
        clis = FakeAzureClis(work / "azure-clis")
        # Secrets Manager takes the mock's AWS credentials' signatures as they come.
        with (MockIdentityServer(ca) as mock, PostgresServer(ca) as pg,
              SecretsManagerServer(ca, verify_signatures=False) as sm):
            def aws_credentials() -> list[dict]:
                return mock.issued()

            def azure_tokens() -> list[str]:
                return mock.issued_secrets() + clis.issued_secrets()

            stores = SecretStores.start(mock, pg, sm, work)
            with CloudAuthFront(pg, ca, aws_credentials, azure_tokens,
                                passwords=lambda: stores.passwords(mock)) as front:
                print(f"mock identity service {mock.http_url}; PostgreSQL behind a cloud-style token check on "
                      f"127.0.0.1:{front.port} (TLS)\n", flush=True)
                columns = drivers(front.port, ca.ca_pem, c_connect, go_pgx, find_psql())
                for t in targets(mock, clis, work, ca.ca_pem, stores):
                    if not t.role.endswith("*"):
                        pg.create_login_role(t.role)
                    t.env.update(PASSMINT_PROVIDER=t.url, PGHOST="localhost", PGPORT=str(front.port),
                                 PGDATABASE="postgres", PGSSLROOTCERT=str(ca.ca_pem))
                    cells = [(name, fn(t, t.env)) for name, fn in columns]
                    results.append((t, expiry(t), cells))
                refused = [e for e in front.log if not e["ok"]]
    failures = report(results)
    if refused:
        print(f"\nthe token check refused {len(refused)} login(s): " +
              "; ".join(f"{e['user']}: {e['reason']}" for e in refused))
    return 1 if failures else 0


def report(results: list[tuple[Target, str, list[tuple[str, Cell]]]]) -> int:
    failures = 0
    width = max(len(name) for _, _, cells in results for name, _ in cells)
    for t, expires, cells in results:
        print(f"{t.name}: {t.url}\n  tokens expire in {expires}")
        for name, cell in cells:
            failures += not cell.ok
            ms = f"{cell.ms:7.0f} ms" if cell.ms is not None else "       —  "
            status = f"connected as {cell.detail}" if cell.ok else f"FAILED: {cell.detail[:150]}"
            print(f"  {name:<{width}}  {ms}  {status}")
        print()
    total = sum(len(cells) for _, _, cells in results)
    print(f"{total - failures} of {total} logins connected over verified TLS"
          f"{'' if not failures else f'; {failures} failed'}")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
