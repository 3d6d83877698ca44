"""The Go module (go/, issue 21) and examples/go (issue 4), a separate module that takes it
through a `replace`: a pgx v5 pool whose BeforeConnect takes each new connection's password from
libpassmint through cgo. Built here with the Go toolchain against the installed library
(build/install, found through pkg-config), offline: the modules come from the module cache that
`make deps` filled (GOPROXY=off, -mod=readonly: the committed go.mod and go.sum must suffice).

The program mints and connects in one go, so the test queues the tokens the mock will hand out
(``mock.queue_azure_token``) and makes each the role's password before the pool needs it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from harness.bins import TOP
from harness.native import LIBDIR, go_env, need_install, route_requests, tool

MODULE = TOP / "examples" / "go"
PACKAGE = TOP / "go"
MANAGED = "azure://?credential=managed"
APPSERVICE = "azure-appservice"
def go(*args: str, timeout: float = 600, cwd=MODULE, env: dict[str, str] | None = None,
       ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([tool("go"), *args], cwd=cwd, env={**go_env(), **(env or {})}, capture_output=True, text=True,
                       check=False, timeout=timeout)
    assert (r.returncode == 0) == ok, f"go {' '.join(args)}:\n{r.stdout}{r.stderr}"
    return r


@pytest.fixture(scope="module")
def pgx_example(tmp_path_factory) -> str:
    need_install()
    tool("pkg-config")
    out = tmp_path_factory.mktemp("example-go") / "passmint-pgx"
    go("build", "-o", str(out), "-ldflags", f"-r {LIBDIR}", ".")  # rpath: runs without LD_LIBRARY_PATH
    return str(out)


@pytest.mark.parametrize("module", [PACKAGE, MODULE], ids=["go", "examples-go"])
def test_module_is_vetted_and_formatted(pgx_example, module):
    go("vet", "./...", cwd=module)
    r = subprocess.run([tool("gofmt"), "-l", "."], cwd=module, capture_output=True, text=True, check=True)
    assert r.stdout == "", f"not gofmt-clean: {r.stdout}"


def test_the_modules_go_tests_log_in_through_pgxpool(pgx_example, mock, pg, pg_role, app_service_env):
    """`go test` of go/: its unit tests, and a pool of 20 opened at once through PgxPoolConfig
    against the harness PostgreSQL, the user taken from the token: one identity request."""
    mock.configure(azure_app_name=pg_role)
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    env = {**app_service_env, "PASSMINT_GO_TEST_PROVIDER": MANAGED, "PASSMINT_GO_TEST_ROLE": pg_role,
           "PASSMINT_GO_TEST_DSN": plain_dsn(pg, sslrootcert=pg.ca_pem)}
    r = go("test", "-v", "-count=1", "-ldflags", f"-r {LIBDIR}", "./...", cwd=PACKAGE, env=env)
    assert "--- SKIP" not in r.stdout and "--- FAIL" not in r.stdout, r.stdout
    assert "--- PASS: TestPoolOfTwentyLogsInWithTheTokensRole" in r.stdout, r.stdout
    assert r.stdout.count("--- PASS") >= 7, r.stdout
    assert len(route_requests(mock, APPSERVICE)) == 1


def test_without_cgo_the_module_says_what_to_do(pgx_example):
    r = go("build", "./...", cwd=PACKAGE, env={"CGO_ENABLED": "0"}, ok=False)
    assert "passmint_needs_cgo__build_with_CGO_ENABLED_1" in r.stderr, r.stderr


def test_links_libpassmint_by_soname(pgx_example):
    dynamic = subprocess.run([tool("readelf"), "-d", pgx_example], capture_output=True, text=True, check=True).stdout
    assert "Shared library: [libpassmint.so.0]" in dynamic and str(LIBDIR) in dynamic, dynamic


@pytest.fixture
def app_service_env(mock, hermetic_env):
    return hermetic_env(IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token", IDENTITY_HEADER=mock.identity_header)


class Session:
    """passmint-pgx -serve: one command in, one JSON line out."""

    def __init__(self, exe: str, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([exe, *args, "-serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        hello = self._read()
        assert hello.get("ready"), hello

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise AssertionError(f"passmint-pgx exited {self.proc.wait()}: {self.proc.stderr.read()}")
        return json.loads(line)

    def __call__(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> str:
        """Quits; returns stderr."""
        if self.proc.poll() is None:
            self("quit")
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        err = self.proc.stderr.read()
        assert self.proc.returncode == 0, err
        return err


def issued_tokens(mock) -> list[str]:
    return [i["access_token"] for i in mock.issued() if i["route"] == APPSERVICE]


def assert_opened(reply: dict, n: int, role: str) -> None:
    assert reply["acquired"] == n and reply["failed"] == 0, reply["errors"]
    assert {c["user"] for c in reply["conns"]} == {role}
    assert all(c["ssl"] for c in reply["conns"])
    assert len({c["pid"] for c in reply["conns"]}) == n  # n distinct server sessions


def test_pool_of_ten_one_identity_request_then_rotation(pgx_example, mock, pg, pg_role, app_service_env):
    """10 connections at once over verified TLS cost one identity request. The token lives 40 s
    (passmint refuses Azure tokens with under 30 s left), so passmint refreshes it after 20 s (a
    short lifetime refreshes at half-life, docs/DESIGN.md §2 rule 3); the server then only knows the new
    token: connections opened later use it, and the ten opened with the old one keep working
    (sessions outlive their password)."""
    lifetime = 40
    mock.set_credential_lifetime(APPSERVICE, lifetime)
    first = mock.queue_azure_token(APPSERVICE)
    pg.set_password(pg_role, first)
    session = Session(pgx_example, ["-provider", MANAGED, "-dsn", pg.dsn(pg_role)], app_service_env)
    try:
        reply = session("open 10")
        assert_opened(reply, 10, pg_role)
        assert reply["before_connect"] == 10  # one password per new connection...
        assert len(route_requests(mock, APPSERVICE)) == 1  # ...all from one identity request
        assert issued_tokens(mock)[-1] == first
        issued_at = next(i["issued_at"] for i in mock.issued() if i.get("access_token") == first)
        assert time.time() < issued_at + lifetime / 2, "the fill outlasted the token's fresh half"

        # The cloud rotates: the next token is long-lived and is the only one the server accepts.
        mock.set_credential_lifetime(APPSERVICE, 3600)
        second = mock.queue_azure_token(APPSERVICE)
        pg.set_password(pg_role, second)
        time.sleep(max(0.0, issued_at + lifetime / 2 + 1 - time.time()))

        reply = session("open 3")
        assert_opened(reply, 3, pg_role)
        assert reply["before_connect"] == 13
        assert len(route_requests(mock, APPSERVICE)) == 2
        assert issued_tokens(mock)[-1] == second

        check = session("check")
        assert check["ok"] == 13 and check["failed"] == 0, check["errors"]
        stats = session("stats")
        assert stats["total_conns"] == 13 and stats["new_conns"] == 13
        stderr = session.close()
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
    assert not any(secret in stderr for secret in mock.issued_secrets())


def run_once(exe: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict | None]:
    r = subprocess.run([exe, *args], env=env, capture_output=True, text=True, check=False, timeout=60)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def plain_dsn(pg, **extra: object) -> str:
    """No user, no sslmode: what the example must fill in itself."""
    return " ".join(f"{k}={v}" for k, v in {"host": "localhost", "port": pg.port, "dbname": "postgres", **extra}.items())


def test_user_from_the_token_and_verify_full_by_default(pgx_example, mock, pg, pg_role, app_service_env):
    mock.configure(azure_app_name=pg_role)  # the managed identity is named like the role, as on Azure
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", plain_dsn(pg, sslrootcert=pg.ca_pem)],
                      app_service_env)
    assert r.returncode == 0, r.stderr
    assert_opened(out, 1, pg_role)

    # Trusting nothing that signed the server's certificate (no sslrootcert, no SSL_CERT_FILE for
    # Go's system roots), the default verify-full refuses the server instead of sending the token;
    # sslmode=prefer or require would have logged in.
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    untrusting = {**app_service_env}
    untrusting.pop("SSL_CERT_FILE", None)
    untrusting.pop("SSL_CERT_DIR", None)
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", plain_dsn(pg)], untrusting)
    assert r.returncode == 4 and out["acquired"] == 0
    assert any("certificate signed by unknown authority" in e for e in out["errors"]), out["errors"]
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", plain_dsn(pg, sslmode="require"),
                                    "-allow-unverified-tls"], untrusting)
    assert r.returncode == 0, r.stderr  # the same server, when the caller chose not to verify


@pytest.mark.parametrize(("mode", "opt_in"), [("require", "-allow-unverified-tls"), ("disable", "-allow-plaintext"),
                                              ("prefer", "-allow-plaintext")])
def test_modes_that_could_expose_the_token_need_an_opt_in(pgx_example, mock, pg, pg_role, app_service_env, mode,
                                                          opt_in):
    before = len(route_requests(mock, APPSERVICE))
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", plain_dsn(pg, user=pg_role, sslmode=mode)],
                      app_service_env)
    assert r.returncode == 2 and out is None, r.stdout
    assert r.stderr.startswith(f"passmint-pgx: passmint: PASSMINT_INVALID_CONFIG: sslmode={mode} "), r.stderr
    assert len(route_requests(mock, APPSERVICE)) == before  # refused before any token was minted
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", plain_dsn(pg, user=pg_role, sslmode=mode), opt_in],
                      app_service_env)
    if mode == "disable":  # let through to the harness server, whose pg_hba takes TLS only
        assert r.returncode == 4 and "no encryption" in out["errors"][0], out
    else:
        assert r.returncode == 0, r.stderr


def test_for_postgres_url(pgx_example, mock, pg, pg_role, app_service_env):
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    url = f"postgresql://{pg_role}@srv.postgres.database.azure.com/postgres"
    r, out = run_once(pgx_example, ["-for", url, "-dsn", pg.dsn(pg_role)], app_service_env)
    assert r.returncode == 0, r.stderr
    assert_opened(out, 1, pg_role)


def test_errors_carry_the_status_name(pgx_example, pg, pg_role, hermetic_env):
    r, out = run_once(pgx_example, ["-provider", MANAGED, "-dsn", pg.dsn(pg_role)], hermetic_env())
    assert r.returncode == 4 and out["failed"] == 1
    assert "passmint: PASSMINT_CREDENTIAL_UNAVAILABLE: " in out["errors"][0], out["errors"]

    r, out = run_once(pgx_example, ["-provider", "azure://?credential=bogus", "-dsn", pg.dsn(pg_role)], hermetic_env())
    assert r.returncode == 3 and out is None
    assert r.stderr.startswith("passmint-pgx: passmint: PASSMINT_INVALID_CONFIG: "), r.stderr

