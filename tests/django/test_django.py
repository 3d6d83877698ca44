"""passmint.django (issue 23): a Django project (tests/django/site) logs in through the backend.

Each test runs the project as a server would, in its own process: `manage.py migrate`, then
`manage.py drive`, which takes one command per line (requests through the test client, pool
fills, sessions held across a rotation; see its docstring) while this test acts between steps.
Both Django releases the backend supports run: the oldest LTS still supported (5.2, in the test
venv) and the newest (6.1, in build/venv-django, on a newer CPython), with psycopg 3 and, by
hiding psycopg as a machine without it would, psycopg2.

The server is the harness PostgreSQL behind the cloud-style door (harness/cloudauth.py): it
checks each login the way DSQL, RDS and Entra ID would, over TLS whose certificate names the
clouds' host names (this folder's `hosts` file maps them to loopback), and logs which token
each login used (a digest).
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Self
from urllib.parse import quote

import pytest
from harness import hygiene
from harness.ca import make_ca
from harness.cloudauth import CloudAuthFront, digest
from harness.native import route_requests
from harness.pg import find_psql

TOP = Path(__file__).resolve().parents[2]
SITE = Path(__file__).resolve().parent / "site"
#: Django release -> the interpreter that has it (tests/requirements.txt, tests/django/requirements.txt).
PYTHONS = {"5.2": TOP / "build" / "venv" / "bin" / "python", "6.1": TOP / "build" / "venv-django" / "bin" / "python"}
OLDEST, NEWEST = "5.2", "6.1"
HOSTS = {
    "dsql": "abc123example.dsql.us-east-1.on.aws",
    "rds": "mydb.abc123example.eu-west-1.rds.amazonaws.com",
    "azure": "mydb.postgres.database.azure.com",
}
ROUTE = {"dsql": "container", "rds": "container", "azure": "azure-appservice"}
KINDS = tuple(HOSTS)


# --- the rig ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site_ca(tmp_path_factory):
    for host in HOSTS.values():
        try:
            assert socket.gethostbyname(host) == "127.0.0.1"
        except (OSError, AssertionError):
            pytest.fail(f"{host} must resolve to loopback: run under tests/run with PASSMINT_HOSTS=tests/django/hosts")
    return make_ca(tmp_path_factory.mktemp("site-ca"), names=tuple(HOSTS.values()))


class Passwords:
    """What the door accepts besides cloud tokens: a rotating secret's (user, password), now."""

    def __init__(self) -> None:
        self.now: list[tuple[str, str]] = []
        self.ever: list[str] = []

    def set(self, user: str, password: str) -> None:
        hygiene.record([password])
        self.ever.append(password)
        self.now = [(user, password)]


@pytest.fixture
def passwords() -> Passwords:
    return Passwords()


@pytest.fixture
def front(pg, site_ca, mock, passwords):
    with CloudAuthFront(pg, site_ca, mock.issued, mock.issued_secrets, passwords=lambda: passwords.now) as door:
        yield door


def logins(front: CloudAuthFront, ok: bool = True) -> list[dict]:
    return [e for e in front.log if e.get("ok") is ok and e.get("reason") != "plaintext"]


class Site:
    """The project, run with one Django release and driver, against one database."""

    def __init__(self, version: str, driver: str, env: dict[str, str]) -> None:
        python = PYTHONS[version]
        assert python.exists(), f"{python} is missing: `make deps` makes it"
        self.python, self.driver, self.env = str(python), driver, env
        self.stderr: list[str] = []
        if driver == "psycopg2":
            self.env["PASSMINT_DJANGO_HIDE_PSYCOPG"] = "1"

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run([self.python, "manage.py", *args], cwd=SITE, env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False)
        self.stderr.append(r.stdout + r.stderr)
        return r

    def drive(self) -> Driver:
        return Driver(self)


class Driver:
    """`manage.py drive`, kept running: ``ask(command)`` -> its JSON answer."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.proc = subprocess.Popen([site.python, "manage.py", "drive"], cwd=SITE, env=site.env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, command: str, timeout: float = 90) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"`{command}` got no answer in {timeout} s") from None
        assert line is not None, f"`{command}`: the process ended:\n{''.join(self.err)[-3000:]}"
        return json.loads(line)

    def ok(self, command: str, timeout: float = 90) -> dict:
        answer = self.ask(command, timeout)
        assert "error" not in answer, f"`{command}`: {answer}\n{''.join(self.err)[-3000:]}"
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.site.stderr.append("".join(self.err))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def database(pg, pg_role) -> str:
    """A database of the test's own, owned by its role, for `migrate` to fill."""
    name = f"dj_{uuid.uuid4().hex[:10]}"
    pg.sql(f'CREATE DATABASE "{name}" OWNER "{pg_role}"')
    return name


def provider_url(kind: str, role: str) -> str:
    if kind == "dsql":
        return f"dsql://{HOSTS['dsql']}?user={role}"
    if kind == "rds":
        return f"rds://{HOSTS['rds']}:5432?user={role}"
    return "azure://?credential=managed"  # the managed identity is named like the role


def db_settings(kind: str, front, site_ca, name: str, **options) -> dict:
    return {"ENGINE": "passmint.django", "HOST": HOSTS[kind], "PORT": str(front.port), "NAME": name,
            "OPTIONS": {"sslrootcert": str(site_ca.ca_pem), **options}}


@pytest.fixture
def site(mock, hermetic_env, pg_role, passwords):
    """site(version, driver, databases, **env) -> Site, with the cloud identity on the mock."""
    mock.configure(azure_app_name=pg_role)
    made: list[Site] = []

    def make(version: str, driver: str, databases: dict, **env: str) -> Site:
        s = Site(version, driver, hermetic_env(
            AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
            IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
            IDENTITY_HEADER=mock.identity_header,
            DJANGO_SETTINGS_MODULE="passmint_site.settings",
            PASSMINT_DJANGO_DATABASES=json.dumps(databases),
            **env,
        ))
        made.append(s)
        return s

    yield make
    # No token, password or signature in anything the project printed (its django.db and
    # passmint loggers are at DEBUG).
    text = "".join(part for s in made for part in s.stderr)
    secrets = mock.issued_secrets() + passwords.ever
    assert "X-Amz-Signature" not in text and not any(x in text for x in secrets), "a secret reached the output"


def identity_requests(mock, kind: str) -> int:
    return len(route_requests(mock, ROUTE[kind]))


def migrate(site: Site, *args: str) -> None:
    r = site.manage("migrate", "--noinput", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Applying notes.0001_initial... OK" in r.stdout


# Every provider on the newest Django with psycopg 3 and on the oldest with psycopg2; the other
# two pairs with DSQL.
REQUEST_RUNS = [(k, NEWEST, "psycopg") for k in KINDS] + [(k, OLDEST, "psycopg2") for k in KINDS] + [
    ("dsql", OLDEST, "psycopg"), ("dsql", NEWEST, "psycopg2")]


@pytest.mark.parametrize(("kind", "version", "driver"), REQUEST_RUNS)
def test_migrate_then_200_requests_with_conn_max_age_0_make_one_identity_request(
        kind, version, driver, site, front, site_ca, database, pg_role, mock):
    s = site(version, driver, {"default": db_settings(kind, front, site_ca, database, provider=provider_url(kind, pg_role))})
    migrate(s)
    before, accepted = identity_requests(mock, kind), front.accepted
    with s.drive() as d:
        out = d.ok("requests 200 8 default", timeout=300)
    assert out["ok"] == 200 and out["errors"] == []
    assert out["users"] == [pg_role] and out["drivers"] == [driver]
    assert out["ssl"] == [True] and out["sslmodes"] == ["verify-full"]
    assert out["notes"] == 200
    # CONN_MAX_AGE=0: a connection per request, each let in by the door with a cloud token.
    assert front.accepted - accepted == 200
    assert {e["kind"] for e in logins(front)} == {kind}
    assert identity_requests(mock, kind) - before == 1


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_a_pool_of_10_fills_on_a_cold_cache_with_one_identity_request(version, site, front, site_ca, database,
                                                                       pg_role, mock):
    """Django 5.1+'s OPTIONS["pool"] (psycopg_pool): ten connections opened at once by the pool's
    workers, the identity endpoint taking 0.5 s; then requests reuse them."""
    s = site(version, "psycopg", {"default": db_settings(
        "azure", front, site_ca, database, provider=provider_url("azure", pg_role),
        pool={"min_size": 10, "max_size": 10, "num_workers": 10})})
    migrate(s)
    mock.fault(ROUTE["azure"], delay=0.5)
    accepted, before = front.accepted, identity_requests(mock, "azure")
    with s.drive() as d:
        filled = d.ok("pool default 10")
        assert filled == {"connections": 10, "users": [pg_role], "pids": 10, "ssl": [True]}
        assert identity_requests(mock, "azure") - before == 1
        assert front.accepted - accepted == 10
        served = d.ok("requests 50 5 default")
    assert served["ok"] == 50 and served["users"] == [pg_role] and served["ssl"] == [True]
    assert front.accepted - accepted == 10  # pooled: no new logins
    assert identity_requests(mock, "azure") - before == 1


def test_after_a_token_refresh_new_connections_use_the_new_token_and_old_sessions_live_on(
        site, front, site_ca, database, pg_role, mock, pg):
    """Entra tokens that live 40 s are refreshed after 20 s. A persistent connection
    (CONN_MAX_AGE=None, with CONN_HEALTH_CHECKS) and a pooled one opened before stay open; new
    connections, the pool's and a reconnect after the health check found the old one dead, log
    in with the new token."""
    mock.set_credential_lifetime(ROUTE["azure"], 40)
    url = provider_url("azure", pg_role)
    s = site(NEWEST, "psycopg", {
        "default": {**db_settings("azure", front, site_ca, database, provider=url), "CONN_MAX_AGE": None,
                    "CONN_HEALTH_CHECKS": True},
        "pooled": db_settings("azure", front, site_ca, database, provider=url, pool={"min_size": 1, "max_size": 4}),
    })
    migrate(s)
    before, seen = identity_requests(mock, "azure"), len(logins(front))
    with s.drive() as d:
        started = time.monotonic()
        held = {alias: d.ok(f"session {alias}") for alias in ("default", "pooled")}
        first = {e["digest"] for e in logins(front)[seen:]}
        assert len(first) == 1 and identity_requests(mock, "azure") - before == 1
        time.sleep(max(0.0, started + 19 - time.monotonic()))
        deadline = time.monotonic() + 10
        while d.ok("token default")["digest"] in first:  # refreshed at half its life
            assert time.monotonic() < deadline, "the token was not refreshed"
            time.sleep(0.2)
        assert identity_requests(mock, "azure") - before == 2
        seen = len(logins(front))
        fresh = {alias: d.ok(f"thread {alias}") for alias in ("default", "pooled")}
        for alias in ("default", "pooled"):
            assert fresh[alias]["pid"] != held[alias]["pid"] and fresh[alias]["user"] == pg_role
        new = {e["digest"] for e in logins(front)[seen:]}
        assert len(new) == 1 and new.isdisjoint(first), "a new connection sent the old token"
        assert new | first <= {digest(t) for t in mock.issued_secrets()}
        for alias in ("default", "pooled"):  # the sessions of the old token live on
            assert d.ok(f"session {alias}")["pid"] == held[alias]["pid"]

        # CONN_HEALTH_CHECKS: the next request finds the persistent connection dead and
        # reconnects, with the new token.
        pg.sql(f"SELECT pg_terminate_backend({held['default']['pid']})")
        seen = len(logins(front))
        again = d.ok("request default")
        assert again["pid"] != held["default"]["pid"] and again["user"] == pg_role
        assert {e["digest"] for e in logins(front)[seen:]} == new
    assert identity_requests(mock, "azure") - before == 2


class Rig:
    """An ``exec:`` source whose command counts its runs and prints the current password."""

    def __init__(self, tmp_path: Path, role: str, passwords: Passwords) -> None:
        self.role, self.passwords = role, passwords
        self.secret, self.counter = tmp_path / "secret", tmp_path / "runs"
        self.counter.write_text("")

    def url(self) -> str:
        cmd = f"echo run >> {shlex.quote(str(self.counter))}; cat {shlex.quote(str(self.secret))}"
        return f"exec:?cmd={quote(cmd, safe='')}&shell=true&refresh=3600"

    def rotate(self) -> str:
        """A new password, as the secret's agent would write it; the server takes only it."""
        password = f"pw-{uuid.uuid4().hex}"
        self.passwords.set(self.role, password)
        tmp = self.secret.with_suffix(".tmp")
        tmp.write_text(password + "\n")
        tmp.replace(self.secret)
        return password

    def runs(self) -> int:
        return len(self.counter.read_text().splitlines())


@pytest.mark.parametrize(("version", "driver"), [(NEWEST, "psycopg"), (OLDEST, "psycopg2")])
def test_a_rotated_secret_is_refused_once_then_fetched_again(version, driver, site, front, site_ca, database,
                                                              pg_role, passwords, tmp_path):
    """A secret source (a token command here) rotates before any expiry passmint knew: a new
    connection sends the cached password, the server refuses it, and the backend connects once
    more with a fresh one. Connections made before keep working."""
    rig = Rig(tmp_path, pg_role, passwords)
    rig.rotate()
    options = {"provider": rig.url()}
    aliases = {"default": {**db_settings("dsql", front, site_ca, database, **options), "USER": pg_role,
                           "CONN_MAX_AGE": None}}
    if driver == "psycopg":
        aliases["pooled"] = db_settings("dsql", front, site_ca, database, **options, pool={"min_size": 1, "max_size": 4})
        aliases["pooled"]["USER"] = pg_role
    s = site(version, driver, aliases)
    migrate(s)
    with s.drive() as d:
        held = {alias: d.ok(f"session {alias}") for alias in aliases}
        runs = rig.runs()
        rig.rotate()
        for alias in aliases:
            fresh = d.ok(f"thread {alias}")
            assert fresh["user"] == pg_role and fresh["pid"] != held[alias]["pid"] and fresh["driver"] == driver
            assert d.ok(f"session {alias}")["pid"] == held[alias]["pid"]
        assert rig.runs() == runs + 1  # one refusal, one new run; the pool's connect then had it
        assert len(logins(front, ok=False)) == 1


@pytest.mark.parametrize(("version", "driver"), [(NEWEST, "psycopg"), (OLDEST, "psycopg2")])
def test_plaintext_and_unverified_tls_in_options_are_refused_without_the_opt_ins(
        version, driver, site, front, site_ca, database, pg_role, mock):
    url = provider_url("dsql", pg_role)

    def alias(**options) -> dict:
        return db_settings("dsql", front, site_ca, database, provider=url, **options)

    s = site(version, driver, {
        "default": alias(),  # Django wants one; never connected here
        "disable": alias(sslmode="disable"), "prefer": alias(sslmode="prefer"), "require": alias(sslmode="require"),
        "disable_ok": alias(sslmode="disable", allow_plaintext=True),
        "require_ok": alias(sslmode="require", allow_unverified_tls=True),
    })
    with s.drive() as d:
        for name in ("disable", "prefer"):
            refused = d.ask(f"session {name}")
            assert (refused["module"], refused["error"]) == ("passmint.errors", "InvalidConfigError"), refused
            assert "allow_plaintext=True" in refused["message"] and "passmint.django" in refused["message"]
        refused = d.ask("session require")
        assert refused["error"] == "InvalidConfigError" and "allow_unverified_tls=True" in refused["message"]
        assert identity_requests(mock, "dsql") == 0  # refused before anything was minted
        # Opted in, the backend steps aside: the door turns plaintext away itself; require logs in.
        plain = d.ask("session disable_ok")
        assert plain["error"] == "OperationalError" and "no encryption" in plain["message"]
        unverified = d.ok("session require_ok")
        assert (unverified["user"], unverified["ssl"], unverified["sslmode"]) == (pg_role, True, "require")


def test_where_the_provider_comes_from(site, front, site_ca, database, pg_role, mock):
    """OPTIONS["provider"] as a passmint.Provider (shared by DatabaseWrapper.copy(), which
    deep-copies the settings), PASSMINT_PROVIDER, and the HOST's cloud; and what is refused."""
    url = provider_url("dsql", pg_role)
    s = site(NEWEST, "psycopg", {
        "default": db_settings("dsql", front, site_ca, database, provider="<object>"),
        "object": db_settings("dsql", front, site_ca, database, provider="<object>"),
        "inferred": {**db_settings("dsql", front, site_ca, database), "USER": pg_role},
        "password": {**db_settings("dsql", front, site_ca, database, provider=url), "PASSWORD": "static"},
        "number": db_settings("dsql", front, site_ca, database, provider=42),
        "nowhere": {**db_settings("dsql", front, site_ca, database), "HOST": "localhost"},
    }, PASSMINT_DJANGO_PROVIDER_OBJECT=url)
    with s.drive() as d:
        assert d.ok("session object")["user"] == pg_role
        copied = d.ok("copy object")
        assert copied["user"] == pg_role and copied["same_provider"] is True
        assert identity_requests(mock, "dsql") == 1  # the object's provider, shared by its copy
        assert d.ok("session inferred")["user"] == pg_role  # dsql://<HOST>?user=<USER>
        refused = {name: d.ask(f"session {name}") for name in ("password", "number", "nowhere")}
    assert {r["error"] for r in refused.values()} == {"InvalidConfigError"}, refused
    assert "remove PASSWORD" in refused["password"]["message"]
    assert "'provider'] is a int" in refused["number"]["message"]
    assert "names no provider" in refused["nowhere"]["message"]
    assert "OPTIONS['provider']" in refused["nowhere"]["message"] and "PASSMINT_PROVIDER" in refused["nowhere"]["message"]

    with site(NEWEST, "psycopg", {"default": db_settings("dsql", front, site_ca, database)},
              PASSMINT_PROVIDER=url).drive() as d:
        assert d.ok("session default")["user"] == pg_role


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_dj_database_url_postgres_passmint_scheme(version, site, front, site_ca, database, pg_role):
    query = f"sslrootcert={quote(str(site_ca.ca_pem), safe='')}&provider={quote(provider_url('rds', pg_role), safe='')}"
    s = site(version, "psycopg", {}, DATABASE_URL=f"postgres+passmint://{pg_role}@{HOSTS['rds']}:{front.port}/{database}?{query}")
    migrate(s)
    with s.drive() as d:
        out = d.ok("request default")
    assert (out["user"], out["ssl"], out["sslmode"], out["notes"]) == (pg_role, True, "verify-full", 1)
    assert {e["kind"] for e in logins(front)} == {"rds"}


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_dbshell_runs_psql_with_a_token(version, site, front, site_ca, database, pg_role):
    """`manage.py dbshell`: psql logs in with a token, over verified TLS, as the token's role."""
    s = site(version, "psycopg", {"default": db_settings("azure", front, site_ca, database,
                                                         provider=provider_url("azure", pg_role))})
    s.env["PATH"] = f"{Path(find_psql()).parent}:{s.env['PATH']}"
    r = s.manage("dbshell", "--", "-X", "-A", "-t", "-c", "SELECT current_user", "-c", "\\conninfo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == pg_role
    assert "SSL connection (protocol: TLSv1.3" in r.stdout
    assert [e["kind"] for e in logins(front)] == ["azure"]
    assert front.log[-1]["tls"].startswith("TLS")


def test_the_two_django_releases_are_the_oldest_lts_and_the_newest():
    for version, python in PYTHONS.items():
        r = subprocess.run([str(python), "-c", "import django; print(django.get_version())"], capture_output=True,
                           text=True, check=True, env={**os.environ, "PYTHONPATH": ""})
        assert r.stdout.strip().startswith(version + "."), (python, r.stdout)
