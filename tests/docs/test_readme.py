"""Every code block in README.md runs here, so the README cannot rot.

The blocks use the clouds' real host names, such as `mydb.postgres.database.azure.com`.
`tests/run` with `PASSMINT_HOSTS=tests/docs/hosts` mounts a private /etc/hosts that points
those names at loopback. There the harness serves a mock identity service, and PostgreSQL
behind a cloud-style token check (harness/cloudauth.py) on port 5432. The certificate is for
those names and signed by the test CA, which is this environment's "system" bundle
(`SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`) and its `global-bundle.pem`. A block passes when it
exits 0 and every login it made was accepted.

How each kind of block is run:
- python, js, c, go and the non-install sh blocks run as written (js is wrapped in an async
  function for its top-level `await`).
- The go block is main.go of a module that takes go/ through a `replace`, built offline.
- Each rust block must equal its example (core/examples/readme.rs, postgres/examples/
  readme_drivers.rs), whose binary runs.
- Install and make blocks are checked without installing: `make -n`, `npm pack --dry-run`, and
  the paths and versions they name. The suites perform the same installs for real.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import gcp
from harness.bins import TARGET, TOP
from harness.ca import make_ca
from harness.cloudauth import CloudAuthFront
from harness.env import hermetic_env
from harness.mock import MockIdentityServer
from harness.native import LIBDIR, PKG_CONFIG_PATH, go_env, tool
from harness.pg import PostgresServer
from harness.secretsmanager import SecretsManagerServer

README = TOP / "README.md"
HOSTS = ("mydb.postgres.database.azure.com", "abc123example.dsql.us-east-1.on.aws",
         "mydb.abc123example.eu-west-1.rds.amazonaws.com", "a1b2c3d4e5f6.a1b2c3d4e5f6.us-central1.sql.goog",
         "db.example.com")
INSTALL_COMMANDS = ("pip install", "npm pack", "npm install", "make", "cargo install")


def blocks() -> list[tuple[str, str, int]]:
    """(language, code, line) of every fenced block."""
    text = README.read_text()
    found = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.DOTALL | re.MULTILINE):
        found.append((m.group(1), m.group(2), text[: m.start()].count("\n") + 1))
    return found


def is_install(code: str) -> bool:
    lines = [ln.split("#", 1)[0].strip() for ln in code.splitlines()]
    commands = [c.strip() for ln in lines if ln for c in ln.split("&&")]
    return all(c.startswith(INSTALL_COMMANDS) for c in commands)


BLOCKS = blocks()


def block_id(b: tuple[str, str, int]) -> str:
    return f"{b[0] or 'text'}-line{b[2]}"


def test_every_block_has_a_runner():
    kinds = {lang for lang, _, _ in BLOCKS}
    assert kinds <= {"python", "js", "sh", "c", "go", "rust"}, f"no runner for {kinds}"
    assert len(BLOCKS) >= 14


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    hosts = Path("/etc/hosts").read_text()
    missing = [h for h in HOSTS if not re.search(rf"^127\.0\.0\.1\s+{re.escape(h)}\s*$", hosts, re.MULTILINE)]
    if missing:
        pytest.fail(f"{missing} do not resolve to loopback here: run through "
                    "`PASSMINT_HOSTS=tests/docs/hosts tests/run` (tests/all does)")
    work = tmp_path_factory.mktemp("readme")
    ca = make_ca(work / "ca", names=HOSTS)
    # Secrets Manager takes any signature here: the blocks sign with the mock's AWS credentials,
    # which the IAM blocks need too (test_awssm.py checks signatures).
    with (MockIdentityServer(ca) as mock, PostgresServer(ca) as pg,
          SecretsManagerServer(ca, verify_signatures=False) as sm):
        pg.sql("CREATE DATABASE app")
        for role in ("app", "admin", f"app@{gcp.PROJECT}.iam"):
            pg.create_login_role(role)
        mock.configure(azure_app_name="app")  # the App Service identity is named like its role
        # The secret stores: Vault makes a role per lease in this PostgreSQL; Secrets Manager
        # holds `app`'s password.
        mock.vault.attach_postgres(pg)
        mock.vault.add_db_role("app")
        app_password = secrets.token_urlsafe(24)
        pg.set_password("app", app_password)
        sm.create_rds_secret("prod/app/db", "app", app_password, "db.example.com", 5432, "app")

        def passwords():
            leases = [(le["username"], le["password"]) for le in mock.vault_issued() if not le["revoked"]]
            return [*leases, ("app", app_password)]

        with CloudAuthFront(pg, ca, mock.issued, mock.issued_secrets, port=5432, passwords=passwords) as front:
            cwd = work / "cwd"
            cwd.mkdir()
            shutil.copyfile(ca.ca_pem, cwd / "global-bundle.pem")  # "the AWS bundle"
            shutil.copyfile(ca.ca_pem, cwd / "server-ca.pem")  # "the Cloud SQL instance's CA"
            google_key = work / "google-key.json"  # Google ADC: the service account `app`
            google_key.write_text(json.dumps(gcp.service_account(mock, "app")))
            node_path = work / "node_path"
            node_path.mkdir()
            (node_path / "passmint").symlink_to(TOP / "bindings-node")
            env = hermetic_env(
                work / "env", ca.ca_pem,
                IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                IDENTITY_HEADER=mock.identity_header,
                AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                PATH=f"{TARGET}:{os.environ['PATH']}",
                NODE_PATH=f"{node_path}:{TOP / 'tests' / 'node_modules'}",
                PKG_CONFIG_PATH=str(PKG_CONFIG_PATH),
                GOOGLE_APPLICATION_CREDENTIALS=str(google_key),
                VAULT_ADDR=mock.https_url,
                VAULT_TOKEN=mock.vault.root_token,
                AWS_ENDPOINT_URL_SECRETS_MANAGER=sm.url,
            )
            yield {"env": env, "cwd": cwd, "front": front, "mock": mock}


def run(args: list[str], docs: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=docs["cwd"], env=docs["env"], capture_output=True, text=True,
                          timeout=timeout, check=False)


def check_logins(docs: dict, before: int, r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    logins = docs["front"].log[before:]
    assert logins, f"the block logged in nowhere:\n{r.stdout}{r.stderr}"
    assert all(e["ok"] for e in logins), logins
    text = r.stdout + r.stderr
    assert not any(s in text for s in docs["mock"].issued_secrets() if len(s) > 16), "a secret was printed"


def check_install(code: str) -> None:
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip()
        for command in filter(None, (c.strip() for c in line.split("&&"))):
            words = command.split()
            if command.startswith("make"):
                r = subprocess.run(["make", "-n", *words[1:]], cwd=TOP, capture_output=True, text=True, check=False)
                assert r.returncode == 0, f"{command}: {r.stderr}"
            elif command.startswith("pip install ./"):
                project = TOP / words[2]
                assert 'build-backend = "maturin"' in (project / "pyproject.toml").read_text(), command
            elif command.startswith("npm pack ./"):
                r = subprocess.run(["npm", "pack", "--dry-run", "--json", words[2]], cwd=TOP, capture_output=True,
                                   text=True, check=False)
                assert r.returncode == 0, r.stderr
                assert json.loads(r.stdout)[0]["filename"] == "passmint-0.1.0.tgz"
            elif command == "pip install passmint":
                assert 'name = "passmint"' in (TOP / "bindings-python" / "pyproject.toml").read_text()
            elif command == "npm install passmint":
                assert json.loads((TOP / "bindings-node" / "package.json").read_text())["name"] == "passmint"
            elif command == "cargo install passmint-cli":
                assert 'name = "passmint-cli"' in (TOP / "cli" / "Cargo.toml").read_text()
            elif command.startswith(("pip install dist/", "npm install dist/")):
                # The names `make dist` writes (tests/release/test_packages.py builds and installs them).
                version = json.loads((TOP / "bindings-node" / "package.json").read_text())["version"]
                expected = ([f"dist/passmint-{version}-cp39-abi3-manylinux_2_17_x86_64.whl"] if words[0] == "pip"
                            else [f"dist/passmint-{version}.tgz", f"dist/passmint-linux-x64-gnu-{version}.tgz"])
                assert words[2:] == expected, command
            elif command.startswith("cargo install --path "):
                assert 'name = "passmint"' in (TOP / words[3] / "Cargo.toml").read_text(), command
            else:
                pytest.fail(f"README install command with no check: {command}")


# Each README rust block, by its first line: the example it must equal, its binary, what it prints
# and whether it logs in.
RUST_EXAMPLES = {
    "#[tokio::main]": ("core/examples/readme.rs", "readme", ['a token for Some("app")'], False),
    "use diesel_async::RunQueryDsl;": ("postgres/examples/readme_drivers.rs", "readme_drivers",
                                       ["tokio-postgres: admin", "deadpool: admin", "diesel-async: admin",
                                        "bb8: admin", "sqlx: app"], True),
}


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_readme_block(block, docs, tmp_path):
    lang, code, _ = block
    before = len(docs["front"].log)
    if lang == "sh" and is_install(code):
        check_install(code)
        return
    if lang == "rust":
        source, binary, shows, logs_in = RUST_EXAMPLES[code.split("\n", 1)[0]]
        example = (TOP / source).read_text().split("\n", 1)[1]
        assert code == example, f"README's rust block and {source} differ"
        r = run([str(TARGET / "examples" / binary)], docs)
        assert r.returncode == 0 and all(s in r.stdout for s in shows), r.stdout + r.stderr
        if logs_in:
            check_logins(docs, before, r)
        return
    if lang == "python":
        path = tmp_path / "block.py"
        path.write_text(code)
        r = run([str(TOP / "build" / "venv" / "bin" / "python"), str(path)], docs)
    elif lang == "js":
        path = tmp_path / "block.js"
        body = f"(async () => {{\n{code}\n}})().catch((e) => {{ console.error(e); process.exitCode = 1 }})\n"
        path.write_text(body if "await" in code else code)
        r = run(["node", str(path)], docs)
    elif lang == "sh":
        r = run(["bash", "-euo", "pipefail", "-c", code], docs)
    elif lang == "c":
        (tmp_path / "app.c").write_text(code)
        build = run(["bash", "-c", (f"cc -o {tmp_path / 'app'} {tmp_path / 'app.c'} "
                     f"$(pkg-config --cflags --libs passmint libpq) -Wl,-rpath,{LIBDIR}")], docs)
        assert build.returncode == 0, build.stderr
        r = run([str(tmp_path / "app")], docs)
        assert r.stdout.strip() == "app", r.stdout + r.stderr
    elif lang == "go":
        r = run([build_go(code, tmp_path)], docs)
        assert r.stdout.strip() == "app", r.stdout + r.stderr
    else:
        pytest.fail(f"no runner for {lang!r}")
    check_logins(docs, before, r)


def build_go(code: str, tmp_path: Path) -> str:
    """A user's module: go/'s requirements, go/ itself through a replace, the block as main.go."""
    package = TOP / "go"
    gomod = (package / "go.mod").read_text().replace("module github.com/passmint/passmint/go", "module example.com/readme")
    gomod += f"\nrequire github.com/passmint/passmint/go v0.0.0\n\nreplace github.com/passmint/passmint/go => {package}\n"
    (tmp_path / "go.mod").write_text(gomod)
    shutil.copyfile(package / "go.sum", tmp_path / "go.sum")
    (tmp_path / "main.go").write_text(code)
    r = subprocess.run([tool("go"), "build", "-o", "app", "-ldflags", f"-r {LIBDIR}", "."], cwd=tmp_path, env=go_env(),
                       capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr
    return str(tmp_path / "app")
