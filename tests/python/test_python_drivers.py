"""The Python driver helpers (issue 5, docs/DESIGN.md §5, §7) against the harness PostgreSQL over verified
TLS: passmint.psycopg (connection classes, psycopg_pool kwargs), passmint.psycopg2,
passmint.asyncpg and passmint.sqlalchemy, each with DSQL-, RDS- and Azure-style providers backed
by the mock.

The server must know the token before the driver sends it. DSQL and RDS tokens are signed
locally from the mock's container credentials, so a test mints once through the very provider it
hands to the helper (``Target.login``): the provider's cache gives the helper that same token.
Azure tokens come from the mock's App Service route; for a cold cache the test queues the token
the mock will issue (``mock.queue_azure_token``).

No test here sets ``user``: the helpers take it from the token (the DSQL/RDS signed user, the
managed identity's name from ``xms_mirid``) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import passmint
import passmint.asyncpg
import passmint.psycopg
import passmint.psycopg2
import passmint.sqlalchemy
import psycopg
import psycopg2
import psycopg2.pool
import psycopg_pool
import pytest
import sqlalchemy
from harness import gcp
from harness.ca import make_ca
from harness.native import route_requests
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.ext.asyncio import create_async_engine

DSQL_HOST = "abc123example.dsql.us-east-1.on.aws"
RDS_HOST = "db.abc123example.eu-west-1.rds.amazonaws.com"
KINDS = ("dsql", "rds", "azure", "gcp")
ROUTE = {"dsql": "container", "rds": "container", "azure": "azure-appservice", "gcp": "gcp-token"}
CHECK = "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
CHECK_PID = "SELECT current_user, ssl, pid FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
# Settings a developer's shell could carry into the drivers (tests/run starts from nothing).
PG_VARS = ("PGSSLMODE", "PGSSLROOTCERT", "PGUSER", "PGPASSWORD", "PGHOST", "PGPORT", "PGDATABASE",
           "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGSSLNEGOTIATION", "PGCONNECT_TIMEOUT")


@pytest.fixture(autouse=True)
def _clean_pg_env(monkeypatch, tmp_path):
    for name in PG_VARS:
        monkeypatch.delenv(name, raising=False)
    # No ~/.postgresql/root.crt: only what a test passes is trusted.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(autouse=True)
def minted(caplog, mock):
    """Tokens a test minted; afterwards no log record may contain one or any mock secret."""
    tokens: list[str] = []
    caplog.set_level(logging.DEBUG)
    yield tokens
    text = caplog.text
    assert not any(t in text for t in tokens + mock.issued_secrets()), "a token reached the logs"


#: psycopg_pool takes a callable kwargs= from 3.3 (the oldest-drivers run has 3.1).
POOL_TAKES_CALLABLE_KWARGS = tuple(int(x) for x in psycopg_pool.__version__.split(".")[:2]) >= (3, 3)


class Target:
    """A provider of one kind, the role it logs in as, and how to reach the server."""

    def __init__(self, kind: str, provider: passmint.Provider, role: str, pg, mock, minted: list[str]) -> None:
        self.kind, self.provider, self.role, self.pg, self.mock = kind, provider, role, pg, mock
        self._minted = minted

    @property
    def conninfo(self) -> str:
        """libpq keywords without user or sslmode: the helpers fill those in."""
        return f"host=localhost port={self.pg.port} dbname=postgres sslrootcert={self.pg.ca_pem}"

    @property
    def dsn(self) -> str:
        """The same as a URL (asyncpg reads sslrootcert from the query)."""
        return f"postgresql://localhost:{self.pg.port}/postgres?sslrootcert={self.pg.ca_pem}"

    def sa_url(self, driver: str) -> str:
        query = "" if driver == "asyncpg" else f"?sslrootcert={self.pg.ca_pem}"
        return f"postgresql+{driver}://localhost:{self.pg.port}/postgres{query}"

    def remember(self, token: str) -> str:
        self._minted.append(token)
        return token

    def login(self) -> str:
        """Mints through the provider and makes the token the role's password."""
        token = self.remember(self.provider.token())
        self.pg.set_password(self.role, token)
        return token

    def identity_requests(self) -> int:
        return len(route_requests(self.mock, ROUTE[self.kind]))


def make_provider(kind: str, role: str, mock, monkeypatch, **opts) -> passmint.Provider:
    if kind in ("dsql", "rds"):
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock.http_url + "/aws/container-credentials")
        if kind == "dsql":
            return passmint.dsql(DSQL_HOST, user=role, **opts)
        return passmint.rds(RDS_HOST, user=role, **opts)
    if kind == "gcp":
        # Application Default Credentials: a service account key, as on a server.
        with tempfile.NamedTemporaryFile("w", prefix="passmint-gcp-", suffix=".json", delete=False) as key:
            json.dump(gcp.service_account(mock, role.replace("_", "-")[:30]), key)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", key.name)
        return passmint.gcp(user=role, **opts)
    monkeypatch.setenv("IDENTITY_ENDPOINT", mock.http_url + "/azure/appservice/token")
    monkeypatch.setenv("IDENTITY_HEADER", mock.identity_header)
    mock.configure(azure_app_name=role)  # the identity is named like its role, as on Azure
    return passmint.azure(credential="managed", **opts)


@pytest.fixture(params=KINDS)
def target(request, mock, pg, pg_role, monkeypatch, minted) -> Target:
    t = Target(request.param, make_provider(request.param, pg_role, mock, monkeypatch), pg_role, pg, mock, minted)
    t.login()
    return t


@pytest.fixture
def azure_target(mock, pg, pg_role, monkeypatch, minted) -> Target:
    """An Azure target whose cache is still cold."""
    return Target("azure", make_provider("azure", pg_role, mock, monkeypatch), pg_role, pg, mock, minted)


def assert_verified_login(row, t: Target) -> None:
    assert tuple(row) == (t.role, True)


def assert_one_request(t: Target) -> None:
    assert t.identity_requests() == 1


# --- each helper, each provider kind ------------------------------------------------------------

def test_psycopg_connection_class(target):
    cls = passmint.psycopg.connection_class(target.provider)
    assert issubclass(cls, psycopg.Connection)
    with cls.connect(target.conninfo) as conn:
        assert_verified_login(conn.execute(CHECK).fetchone(), target)
        assert conn.info.get_parameters().get("sslmode") == "verify-full"
    assert_one_request(target)


def test_psycopg_async_connection_class(target):
    cls = passmint.psycopg.async_connection_class(target.provider)

    async def main():
        async with await cls.connect(target.conninfo) as conn:
            cur = await conn.execute(CHECK)
            assert_verified_login(await cur.fetchone(), target)

    asyncio.run(main())
    assert_one_request(target)


def test_psycopg_pool_connection_class(target):
    cls = passmint.psycopg.connection_class(target.provider)
    with psycopg_pool.ConnectionPool(target.conninfo, connection_class=cls, min_size=3, open=True) as pool:
        pool.wait(timeout=30)
        with pool.connection() as a, pool.connection() as b:
            assert_verified_login(a.execute(CHECK).fetchone(), target)
            assert_verified_login(b.execute(CHECK).fetchone(), target)
        assert pool.get_stats()["connections_num"] == 3
    assert_one_request(target)


def test_psycopg_pool_callable_kwargs(target):
    kwargs = passmint.psycopg.kwargs(target.provider, target.conninfo, application_name="passmint-kwargs")
    with psycopg_pool.ConnectionPool(target.conninfo, kwargs=kwargs, min_size=2, open=True) as pool:
        pool.wait(timeout=30)
        with pool.connection() as conn:
            assert_verified_login(conn.execute(CHECK).fetchone(), target)
            assert conn.execute("SHOW application_name").fetchone() == ("passmint-kwargs",)
    assert_one_request(target)


def test_psycopg_async_pool(target):
    """AsyncConnectionPool with the async kwargs callable (psycopg_pool >= 3.3), and with the
    async connection class (any version)."""
    async def main():
        cls = passmint.psycopg.async_connection_class(target.provider)
        choices: list[dict] = [{"connection_class": cls}]
        if POOL_TAKES_CALLABLE_KWARGS:
            choices.append({"kwargs": passmint.psycopg.async_kwargs(target.provider, target.conninfo)})
        for options in choices:
            pool = psycopg_pool.AsyncConnectionPool(target.conninfo, min_size=2, open=False, **options)
            async with pool, pool.connection() as conn:
                cur = await conn.execute(CHECK)
                assert_verified_login(await cur.fetchone(), target)

    asyncio.run(main())
    assert_one_request(target)


def test_psycopg2_connection_factory(target):
    factory = passmint.psycopg2.connection_factory(target.provider)
    with closing(psycopg2.connect(target.conninfo, connection_factory=factory)) as conn:
        assert isinstance(conn, factory)
        with conn.cursor() as cur:
            cur.execute(CHECK)
            assert_verified_login(cur.fetchone(), target)
        assert conn.get_dsn_parameters()["sslmode"] == "verify-full"
        assert target.provider.token() not in conn.dsn  # psycopg2 shows password=xxx
    assert_one_request(target)


def test_psycopg2_threaded_pool(target):
    factory = passmint.psycopg2.connection_factory(target.provider)
    pool = psycopg2.pool.ThreadedConnectionPool(1, 4, target.conninfo, connection_factory=factory)
    try:
        conns = [pool.getconn() for _ in range(4)]
        for conn in conns:
            with conn.cursor() as cur:
                cur.execute(CHECK)
                assert_verified_login(cur.fetchone(), target)
        # A closed connection is replaced by a new physical one, which mints again.
        conns[0].close()
        pool.putconn(conns[0])
        fresh = pool.getconn()
        with fresh.cursor() as cur:
            cur.execute(CHECK)
            assert_verified_login(cur.fetchone(), target)
        for conn in [*conns[1:], fresh]:
            pool.putconn(conn)
    finally:
        pool.closeall()
    assert_one_request(target)


def test_asyncpg_connect(target):
    async def main():
        conn = await passmint.asyncpg.connect(target.dsn, provider=target.provider)
        try:
            assert_verified_login(await conn.fetchrow(CHECK), target)
        finally:
            await conn.close()
        # The documented plain route: asyncpg awaits the coroutine function itself.
        conn = await asyncpg.connect(target.dsn, user=target.role, ssl="verify-full",
                                     password=target.provider.token_async)
        try:
            assert_verified_login(await conn.fetchrow(CHECK), target)
        finally:
            await conn.close()

    asyncio.run(main())
    assert_one_request(target)


def test_asyncpg_create_pool(target):
    async def main():
        async with passmint.asyncpg.create_pool(target.dsn, provider=target.provider, min_size=3, max_size=3) as pool:
            async with pool.acquire() as conn:
                assert_verified_login(await conn.fetchrow(CHECK), target)
            assert pool.get_size() == 3
        pool = await passmint.asyncpg.create_pool(target.dsn, provider=target.provider, min_size=1)
        try:
            assert_verified_login(await pool.fetchrow(CHECK), target)
        finally:
            await pool.close()

    asyncio.run(main())
    assert_one_request(target)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sqlalchemy_engine(target, driver):
    engine = sqlalchemy.create_engine(target.sa_url(driver), pool_size=2)
    passmint.sqlalchemy.attach(engine, target.provider)
    try:
        with engine.connect() as a, engine.connect() as b:
            assert_verified_login(a.execute(sqlalchemy.text(CHECK)).one(), target)
            assert_verified_login(b.execute(sqlalchemy.text(CHECK)).one(), target)
    finally:
        engine.dispose()
    assert_one_request(target)


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_sqlalchemy_async_engine(target, driver, monkeypatch):
    if driver == "asyncpg":
        monkeypatch.setenv("PGSSLROOTCERT", str(target.pg.ca_pem))  # asyncpg takes no sslrootcert keyword

    async def main():
        engine = create_async_engine(target.sa_url(driver))
        passmint.sqlalchemy.attach(engine, target.provider)
        try:
            async with engine.connect() as a, engine.connect() as b:
                assert_verified_login((await a.execute(sqlalchemy.text(CHECK))).one(), target)
                assert_verified_login((await b.execute(sqlalchemy.text(CHECK))).one(), target)
        finally:
            await engine.dispose()

    asyncio.run(main())
    assert_one_request(target)


# --- one identity request for a whole pool -------------------------------------------------------

def test_psycopg_pool_of_20_filled_concurrently_costs_one_identity_request(azure_target, mock):
    """A cold cache, twenty pool workers connecting at once, an identity endpoint that takes
    0.5 s: one request, twenty logins with its token."""
    t = azure_target
    t.pg.set_password(t.role, t.remember(mock.queue_azure_token(ROUTE["azure"])))
    mock.fault(ROUTE["azure"], delay=0.5)
    cls = passmint.psycopg.connection_class(t.provider)
    with psycopg_pool.ConnectionPool(t.conninfo, connection_class=cls, min_size=20, max_size=20, num_workers=20,
                                     open=True) as pool:
        pool.wait(timeout=30)
        assert pool.get_stats()["connections_num"] == 20
        held = [pool.getconn() for _ in range(20)]
        assert len({c.info.backend_pid for c in held}) == 20
        for conn in held:
            assert_verified_login(conn.execute(CHECK).fetchone(), t)
            pool.putconn(conn)
    assert_one_request(t)


def test_asyncpg_pool_of_20_filled_concurrently_costs_one_identity_request(azure_target, mock):
    t = azure_target
    t.pg.set_password(t.role, t.remember(mock.queue_azure_token(ROUTE["azure"])))
    mock.fault(ROUTE["azure"], delay=0.5)

    async def main():
        async with passmint.asyncpg.create_pool(t.dsn, provider=t.provider, min_size=20, max_size=20) as pool:
            assert pool.get_size() == 20
            conns = [await pool.acquire() for _ in range(20)]
            try:
                return [await c.fetchrow(CHECK_PID) for c in conns]
            finally:  # the pool's close waits for every connection to come back
                for c in conns:
                    await pool.release(c)

    rows = asyncio.run(main())
    assert {(r[0], r[1]) for r in rows} == {(t.role, True)} and len({r[2] for r in rows}) == 20
    assert_one_request(t)


# --- user ------------------------------------------------------------------------------------------

def test_an_explicit_user_wins_over_the_tokens(azure_target, mock, monkeypatch):
    """The managed identity's name is not the role here: a caller who names the role (in the
    conninfo, the URL, user= or PGUSER) gets that role, never the token's."""
    t = azure_target
    mock.configure(azure_app_name="someone-else")
    t.login()
    assert t.provider.token_info().username == "someone-else"
    named = f"{t.conninfo} user={t.role}"
    with passmint.psycopg.connection_class(t.provider).connect(named) as conn:
        assert_verified_login(conn.execute(CHECK).fetchone(), t)
    with passmint.psycopg.connection_class(t.provider).connect(t.conninfo, user=t.role) as conn:
        assert_verified_login(conn.execute(CHECK).fetchone(), t)
    factory = passmint.psycopg2.connection_factory(t.provider)
    with closing(psycopg2.connect(named, connection_factory=factory)) as c2, c2.cursor() as cur:
        cur.execute(CHECK)
        assert_verified_login(cur.fetchone(), t)

    async def via_asyncpg():
        url = f"postgresql://{t.role}@localhost:{t.pg.port}/postgres?sslrootcert={t.pg.ca_pem}"
        conn = await passmint.asyncpg.connect(url, provider=t.provider)
        row = await conn.fetchrow(CHECK)
        await conn.close()
        async with passmint.asyncpg.create_pool(t.dsn, provider=t.provider, user=t.role, min_size=1) as pool:
            return row, await pool.fetchrow(CHECK)

    for row in asyncio.run(via_asyncpg()):
        assert_verified_login(row, t)
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://{t.role}@localhost:{t.pg.port}/postgres"
                                      f"?sslrootcert={t.pg.ca_pem}")
    passmint.sqlalchemy.attach(engine, t.provider)
    with engine.connect() as conn:
        assert_verified_login(conn.execute(sqlalchemy.text(CHECK)).one(), t)
    engine.dispose()

    monkeypatch.setenv("PGUSER", t.role)
    with passmint.psycopg.connection_class(t.provider).connect(t.conninfo) as conn:
        assert_verified_login(conn.execute(CHECK).fetchone(), t)


def test_asyncpg_pool_takes_the_user_from_the_token_when_only_the_token_knows_it(azure_target):
    """azure:// without user=: provider.username is None, so the pool's connect hook awaits the
    token for its username (and still calls a connect= the caller passed)."""
    t = azure_target
    t.login()
    assert t.provider.username is None
    calls = []

    async def my_connect(*args, **kwargs):
        calls.append(kwargs.get("user"))
        return await asyncpg.connect(*args, **kwargs)

    async def main():
        async with passmint.asyncpg.create_pool(t.dsn, provider=t.provider, connect=my_connect, min_size=2) as pool:
            return await pool.fetchrow(CHECK)

    assert_verified_login(asyncio.run(main()), t)
    assert calls == [t.role, t.role]


# --- the oldest drivers (tests/python-oldest/requirements.txt) -------------------------------------------

def test_each_helper_declares_the_driver_version_it_needs():
    """Each helper module's MINIMUM is the package's extra and the oldest version tests/all runs
    this suite with; an older driver is refused at import with the upgrade to run."""
    import tomllib

    from passmint._helpers import require_version

    top = Path(__file__).resolve().parents[2]
    extras = tomllib.loads((top / "bindings-python" / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    oldest = dict(line.split("==") for line in (top / "tests" / "python-oldest" / "requirements.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    for module, extra, dist in ((passmint.psycopg, "psycopg", "psycopg"), (passmint.asyncpg, "asyncpg", "asyncpg"),
                                (passmint.sqlalchemy, "sqlalchemy", "SQLAlchemy"),
                                (passmint.psycopg2, None, "psycopg2-binary")):
        if extra is not None:
            assert f"{dist}>={module.MINIMUM}" in extras[extra], (extra, extras[extra])
        assert oldest[dist].startswith(module.MINIMUM), (dist, oldest[dist], module.MINIMUM)
    with pytest.raises(ImportError, match=r"passmint.asyncpg needs asyncpg >= 0.30 .*pip install -U 'asyncpg>=0.30'"):
        require_version("asyncpg", "0.29.0", "0.30", "passmint.asyncpg", "create_pool(connect=)")


def test_the_pool_callable_needs_psycopg_pool_3_3(dsql_target):
    """psycopg_pool takes a callable kwargs= from 3.3: with an older pool the helper says so (and
    what to use instead) instead of a pool that fails in the background until its timeout."""
    if not POOL_TAKES_CALLABLE_KWARGS:
        with pytest.raises(passmint.InvalidConfigError, match="psycopg_pool >= 3.3.*connection_class"):
            passmint.psycopg.kwargs(dsql_target.provider, dsql_target.conninfo)
    else:
        assert callable(passmint.psycopg.kwargs(dsql_target.provider, dsql_target.conninfo))


# --- TLS defaults -------------------------------------------------------------------------------------

def _libpq_connectors(t: Target, **opts):
    """name -> connect(conninfo) for every libpq-based helper."""
    def psycopg_sync(conninfo):
        with passmint.psycopg.connection_class(t.provider, **opts).connect(conninfo) as conn:
            return conn.execute(CHECK).fetchone()

    def psycopg_async(conninfo):
        async def main():
            async with await passmint.psycopg.async_connection_class(t.provider, **opts).connect(conninfo) as conn:
                return await (await conn.execute(CHECK)).fetchone()
        return asyncio.run(main())

    def psycopg_kwargs(conninfo):
        kwargs = passmint.psycopg.kwargs(t.provider, conninfo, **opts)()
        with psycopg.connect(conninfo, **kwargs) as conn:
            return conn.execute(CHECK).fetchone()

    def psycopg2_factory(conninfo):
        factory = passmint.psycopg2.connection_factory(t.provider, **opts)
        with closing(psycopg2.connect(conninfo, connection_factory=factory)) as conn, conn.cursor() as cur:
            cur.execute(CHECK)
            return cur.fetchone()

    def sqlalchemy_psycopg(conninfo):
        # The same keywords as URL query parameters, which the dialect hands to psycopg.
        query = urlencode(conninfo_to_dict(conninfo))
        engine = sqlalchemy.create_engine(f"postgresql+psycopg://?{query}", poolclass=sqlalchemy.pool.NullPool)
        passmint.sqlalchemy.attach(engine, t.provider, **opts)
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text(CHECK)).one()

    return {"psycopg": psycopg_sync, "psycopg-async": psycopg_async, "psycopg-kwargs": psycopg_kwargs,
            "psycopg2": psycopg2_factory, "sqlalchemy": sqlalchemy_psycopg}


LIBPQ_HELPERS = ("psycopg", "psycopg-async", "psycopg-kwargs", "psycopg2", "sqlalchemy")
#: Older libpq builds (psycopg2-binary 2.9.5's) word a failed verification differently.
VERIFY_FAILED = "certificate verify failed|SSL error"
DRIVER_ERRORS = (psycopg.OperationalError, psycopg2.OperationalError, sqlalchemy.exc.OperationalError)


@pytest.fixture
def dsql_target(mock, pg, pg_role, monkeypatch, minted) -> Target:
    t = Target("dsql", make_provider("dsql", pg_role, mock, monkeypatch), pg_role, pg, mock, minted)
    t.login()
    return t


@pytest.mark.parametrize("helper", LIBPQ_HELPERS)
def test_libpq_helpers_default_to_verify_full(dsql_target, helper, tmp_path):
    """No sslmode anywhere: the helper chooses verify-full. Proof: TLS is on (pg_stat_ssl); with
    no CA to check the server against the connection is refused; and a host name the
    certificate does not name is refused too, though the CA is right (verify-ca would pass)."""
    t = dsql_target
    connect = _libpq_connectors(t)[helper]
    assert_verified_login(connect(t.conninfo), t)

    no_ca = f"host=localhost port={t.pg.port} dbname=postgres"
    with pytest.raises(DRIVER_ERRORS, match="root certificate file"):
        connect(no_ca)
    other_ca = make_ca(tmp_path / "other-ca").ca_pem
    with pytest.raises(DRIVER_ERRORS, match=VERIFY_FAILED):
        connect(f"{no_ca} sslrootcert={other_ca}")
    wrong_name = f"host=passmint-test.invalid hostaddr=127.0.0.1 port={t.pg.port} dbname=postgres " \
                 f"sslrootcert={t.pg.ca_pem}"
    with pytest.raises(DRIVER_ERRORS, match="does not match host name"):
        connect(wrong_name)
    # verify-ca with a CA file of the caller's stands: that CA vouches for this server alone.
    assert_verified_login(connect(wrong_name + " sslmode=verify-ca"), t)


@pytest.mark.parametrize("helper", LIBPQ_HELPERS)
@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-ca sslrootcert=system", "PGSSLMODE=require"])
def test_libpq_helpers_refuse_unverified_tls_unless_allowed(dsql_target, helper, mode, monkeypatch):
    """Review finding 5: require (and verify-ca without a CA file of the caller's) encrypt but do
    not check the server's name, so whoever answers on the path gets the token. Refused before
    anything is minted, with the one-word fix; allow_unverified_tls=True opts in."""
    t = dsql_target
    no_ca = f"host=localhost port={t.pg.port} dbname=postgres"
    if mode.startswith("PGSSLMODE="):
        monkeypatch.setenv("PGSSLMODE", mode.split("=")[1])
        conninfo = no_ca
    else:
        conninfo = f"{no_ca} sslmode={mode}"
    before = len(t.mock.requests())
    with pytest.raises(passmint.InvalidConfigError, match="allow_unverified_tls=True") as e:
        _libpq_connectors(t)[helper](conninfo)
    message = str(e.value)
    assert "does not check that the server is the one you named" in message
    assert "sslmode=verify-full sslrootcert=system" in message  # DSQL: public roots
    assert ("require -> verify-full" in message) == ("require" in mode)
    assert "prefer" not in message and "use require" not in message
    assert len(t.mock.requests()) == before
    if "verify-ca" not in mode:  # verify-ca with no CA file at all cannot connect anyway
        assert_verified_login(_libpq_connectors(t, allow_unverified_tls=True)[helper](conninfo), t)


def test_unverified_tls_advice_names_each_clouds_ca(mock, monkeypatch):
    rds = make_provider("rds", "app", mock, monkeypatch)
    azure = make_provider("azure", "app", mock, monkeypatch)
    with pytest.raises(passmint.InvalidConfigError, match=r"sslrootcert=global-bundle\.pem \(from https://truststore"):
        passmint.psycopg.connection_class(rds).connect("host=db sslmode=require")
    with pytest.raises(passmint.InvalidConfigError, match="sslmode=verify-full sslrootcert=system"):
        passmint.psycopg2.connection_factory(azure)("host=db sslmode=prefer")
    assert rds.server_ca_bundle == "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    assert azure.server_ca_bundle is None


@pytest.mark.parametrize("helper", LIBPQ_HELPERS)
@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "PGSSLMODE=disable"])
def test_libpq_helpers_refuse_plaintext_unless_allowed(dsql_target, helper, mode, monkeypatch):
    t = dsql_target
    if mode.startswith("PGSSLMODE="):
        monkeypatch.setenv("PGSSLMODE", mode.split("=")[1])
        conninfo = t.conninfo
    else:
        conninfo = f"{t.conninfo} sslmode={mode}"
    before = len(t.mock.requests())
    with pytest.raises(passmint.InvalidConfigError, match="allow_plaintext=True") as e:
        _libpq_connectors(t)[helper](conninfo)
    assert e.value.code == "INVALID_CONFIG" and "without TLS" in str(e.value)
    assert len(t.mock.requests()) == before  # refused before anything was minted

    # Opted in, the helper steps aside: disable gets as far as the server, whose pg_hba.conf
    # rejects every non-TLS connection; prefer (TLS first) and allow (plaintext, then TLS after
    # the refusal) log in over TLS here.
    connect = _libpq_connectors(t, allow_plaintext=True)[helper]
    if mode in ("prefer", "allow"):
        assert_verified_login(connect(conninfo), t)
    else:
        with pytest.raises(DRIVER_ERRORS, match="no encryption"):
            connect(conninfo)


def test_psycopg_kwargs_refuses_plaintext_when_made(dsql_target):
    t = dsql_target
    with pytest.raises(passmint.InvalidConfigError):
        passmint.psycopg.kwargs(t.provider, t.conninfo + " sslmode=disable")
    with pytest.raises(passmint.InvalidConfigError):
        passmint.psycopg.async_kwargs(t.provider, t.conninfo, sslmode="prefer")
    assert passmint.psycopg.kwargs(t.provider, t.conninfo + " sslmode=disable", allow_plaintext=True)


def test_asyncpg_defaults_to_verified_tls(dsql_target, tmp_path, monkeypatch):
    """With a CA file of the caller's, ``ssl="verify-full"`` (asyncpg loads the file); without
    one, the system's roots with the host name checked, so a server whose CA is only in the
    system bundle (SSL_CERT_FILE here) is reached with no ``sslrootcert`` at all."""
    t = dsql_target
    seen = []
    real = asyncpg.connect

    async def spy(*args, **kwargs):
        seen.append(kwargs.get("ssl"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", spy)
    no_ca = f"postgresql://localhost:{t.pg.port}/postgres"
    other_ca = make_ca(tmp_path / "other-ca").ca_pem

    async def main():
        # The caller's CA file: asyncpg's own verify-full.
        conn = await passmint.asyncpg.connect(t.dsn, provider=t.provider)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()
        with pytest.raises(Exception, match="certificate verify failed"):
            await passmint.asyncpg.connect(f"{no_ca}?sslrootcert={other_ca}", provider=t.provider)
        # No CA of the caller's: the system bundle, which does not hold the server's CA...
        monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
        with pytest.raises(Exception, match="certificate verify failed"):
            await passmint.asyncpg.connect(no_ca, provider=t.provider)
        # ...and then does: no sslrootcert, no PGSSLROOTCERT, no ~/.postgresql/root.crt.
        monkeypatch.setenv("SSL_CERT_FILE", str(t.pg.ca_pem))
        conn = await passmint.asyncpg.connect(no_ca, provider=t.provider)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()
        # libpq 16's sslrootcert=system means the same (asyncpg would read it as a file name).
        conn = await passmint.asyncpg.connect(f"{no_ca}?sslrootcert=system", provider=t.provider)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()
        # A CA file in asyncpg's default place is the caller's too.
        monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
        home_ca = Path.home() / ".postgresql" / "root.crt"
        home_ca.parent.mkdir(parents=True)
        home_ca.write_bytes(Path(t.pg.ca_pem).read_bytes())
        conn = await passmint.asyncpg.connect(no_ca, provider=t.provider)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()
        # TLS that checks no name, only when asked for.
        conn = await passmint.asyncpg.connect(no_ca, provider=t.provider, ssl="require", allow_unverified_tls=True)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()

    asyncio.run(main())
    assert seen[:2] == ["verify-full", "verify-full"]
    contexts = seen[2:5]
    assert all(isinstance(c, ssl.SSLContext) for c in contexts), seen
    assert all(c.check_hostname and c.verify_mode == ssl.CERT_REQUIRED for c in contexts)
    assert contexts[0] is not contexts[1], "a changed SSL_CERT_FILE loads the roots again"
    assert contexts[1] is contexts[2], "one context per bundle, shared by connections"
    assert seen[5:] == ["verify-full", "require"]


def _unverified_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _unnamed_context(ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx


@pytest.mark.parametrize("choice", ["require", "verify-ca", "no-name-context", "cert-none-context", "dsn-require",
                                    "env-require"])
def test_asyncpg_refuses_unverified_tls_unless_allowed(dsql_target, choice, monkeypatch):
    t = dsql_target
    no_ca = f"postgresql://localhost:{t.pg.port}/postgres"
    dsn, kw = no_ca, {}
    if choice in ("require", "verify-ca"):
        kw = {"ssl": choice}
    elif choice == "no-name-context":
        kw = {"ssl": _unnamed_context(str(t.pg.ca_pem))}
    elif choice == "cert-none-context":
        kw = {"ssl": _unverified_context()}
    elif choice == "dsn-require":
        dsn = f"{no_ca}?sslmode=require"
    else:
        monkeypatch.setenv("PGSSLMODE", "require")

    async def main(**opts):
        conn = await passmint.asyncpg.connect(dsn, provider=t.provider, **kw, **opts)
        try:
            return await conn.fetchrow(CHECK)
        finally:
            await conn.close()

    with pytest.raises(passmint.InvalidConfigError, match="allow_unverified_tls=True") as e:
        asyncio.run(main())
    assert "ssl=True" in str(e.value)  # DSQL: the system's roots
    with pytest.raises(passmint.InvalidConfigError, match="allow_unverified_tls=True"):
        passmint.asyncpg.create_pool(dsn, provider=t.provider, **kw)
    if choice != "verify-ca":  # verify-ca without a CA cannot connect at all
        assert_verified_login(asyncio.run(main(allow_unverified_tls=True)), t)
    # A verifying context of the caller's, and verify-ca with the caller's CA file, stand.
    dsn, kw = no_ca, {"ssl": ssl.create_default_context(cafile=str(t.pg.ca_pem))}
    assert_verified_login(asyncio.run(main()), t)
    dsn, kw = f"{no_ca}?sslrootcert={t.pg.ca_pem}", {"ssl": "verify-ca"}
    assert_verified_login(asyncio.run(main()), t)


@pytest.mark.parametrize("choice", [{"ssl": False}, {"ssl": "disable"}, {"ssl": "prefer"}, {"ssl": "allow"},
                                    {"dsn": "sslmode=disable"}, {"env": "disable"}])
def test_asyncpg_refuses_plaintext_unless_allowed(dsql_target, choice, monkeypatch):
    t = dsql_target
    dsn = t.dsn + ("&" + choice["dsn"] if "dsn" in choice else "")
    kw = {"ssl": choice["ssl"]} if "ssl" in choice else {}
    if "env" in choice:
        monkeypatch.setenv("PGSSLMODE", choice["env"])

    async def main(**opts):
        conn = await passmint.asyncpg.connect(dsn, provider=t.provider, **kw, **opts)
        try:
            return await conn.fetchrow(CHECK)
        finally:
            await conn.close()

    with pytest.raises(passmint.InvalidConfigError, match="allow_plaintext=True"):
        asyncio.run(main())
    with pytest.raises(passmint.InvalidConfigError, match="allow_plaintext=True"):
        passmint.asyncpg.create_pool(dsn, provider=t.provider, **kw)
    if kw.get("ssl") in ("prefer", "allow"):  # TLS first / TLS after the plaintext refusal
        assert_verified_login(asyncio.run(main(allow_plaintext=True)), t)
    else:
        with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
            asyncio.run(main(allow_plaintext=True))


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_sqlalchemy_async_refuses_plaintext_unless_allowed(dsql_target, driver):
    t = dsql_target
    choice = "ssl=disable" if driver == "asyncpg" else "sslmode=disable"

    async def main(**opts):
        engine = create_async_engine(f"{t.sa_url(driver).split('?')[0]}?{choice}")
        passmint.sqlalchemy.attach(engine, t.provider, **opts)
        try:
            async with engine.connect() as conn:
                await conn.execute(sqlalchemy.text("SELECT 1"))
        finally:
            await engine.dispose()

    with pytest.raises(passmint.InvalidConfigError, match="allow_plaintext=True"):
        asyncio.run(main())
    with pytest.raises(Exception, match="no encryption"):
        asyncio.run(main(allow_plaintext=True))


def test_sqlalchemy_rejects_other_dialects(dsql_target):
    engine = sqlalchemy.create_engine("sqlite://")
    with pytest.raises(passmint.InvalidArgumentError, match="postgresql\\+psycopg"):
        passmint.sqlalchemy.attach(engine, dsql_target.provider)


# --- rotation ----------------------------------------------------------------------------------------

def rotate_sync(t: Target) -> None:
    """Sync helpers, a DSQL provider whose tokens live 40 s."""
    first = t.login()
    started = time.time()
    conninfo = t.conninfo
    pool = psycopg_pool.ConnectionPool(conninfo, connection_class=passmint.psycopg.connection_class(t.provider),
                                       min_size=1, max_size=4, open=True)
    kw_pool = psycopg_pool.ConnectionPool(conninfo, kwargs=passmint.psycopg.kwargs(t.provider, conninfo),
                                          min_size=1, max_size=4, open=True)
    pg2_pool = psycopg2.pool.ThreadedConnectionPool(
        1, 4, conninfo, connection_factory=passmint.psycopg2.connection_factory(t.provider))
    engine = sqlalchemy.create_engine(t.sa_url("psycopg2"))
    passmint.sqlalchemy.attach(engine, t.provider)
    try:
        old = [pool.getconn(), kw_pool.getconn()]
        old_pg2 = pg2_pool.getconn()
        old_sa = engine.connect()
        for conn in old:
            assert_verified_login(conn.execute(CHECK).fetchone(), t)
        assert time.time() - started < 20, "the old connections outlived the old token's fresh half"

        time.sleep(max(0.0, started + 21 - time.time()))
        second = t.login()
        assert second != first

        for p in (pool, kw_pool):  # the old connection is held: the pool opens a new one
            with p.connection() as conn:
                assert_verified_login(conn.execute(CHECK).fetchone(), t)
                assert conn.info.backend_pid not in {c.info.backend_pid for c in old}
        fresh = pg2_pool.getconn()
        with fresh.cursor() as cur:
            cur.execute(CHECK)
            assert_verified_login(cur.fetchone(), t)
        pg2_pool.putconn(fresh)
        with engine.connect() as conn:
            assert_verified_login(conn.execute(sqlalchemy.text(CHECK)).one(), t)
        with passmint.psycopg.connection_class(t.provider).connect(conninfo) as conn:
            assert_verified_login(conn.execute(CHECK).fetchone(), t)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(conninfo, user=t.role, password=first, sslmode="verify-full")

        for conn in old:  # sessions outlive the password they logged in with
            assert_verified_login(conn.execute(CHECK).fetchone(), t)
        with old_pg2.cursor() as cur:
            cur.execute(CHECK)
            assert_verified_login(cur.fetchone(), t)
        assert_verified_login(old_sa.execute(sqlalchemy.text(CHECK)).one(), t)
        old_sa.close()
        pool.putconn(old[0])
        kw_pool.putconn(old[1])
        pg2_pool.putconn(old_pg2)
    finally:
        pool.close()
        kw_pool.close()
        pg2_pool.closeall()
        engine.dispose()
    assert_one_request(t)  # the credentials were cached; only the token was signed again


async def rotate_async(t: Target) -> None:
    """Asyncio helpers, an Azure provider whose tokens live 40 s: the refresh is a second
    identity request, made while the event loop keeps running."""
    route, mock = ROUTE["azure"], t.mock
    first = t.remember(await t.provider.token_async())
    t.pg.set_password(t.role, first)
    started = time.time()
    mock.set_credential_lifetime(route, 3600)
    apool = psycopg_pool.AsyncConnectionPool(t.conninfo, kwargs=passmint.psycopg.async_kwargs(
        t.provider, t.conninfo), min_size=1, max_size=4, open=False)
    await apool.open(wait=True)
    ppool = await passmint.asyncpg.create_pool(t.dsn, provider=t.provider, min_size=1, max_size=4)
    engine = create_async_engine(t.sa_url("psycopg"))
    passmint.sqlalchemy.attach(engine, t.provider)
    try:
        old_a = await apool.getconn()
        old_p = await ppool.acquire()
        old_e = await engine.connect()
        assert_verified_login(await (await old_a.execute(CHECK)).fetchone(), t)
        assert_verified_login(await old_p.fetchrow(CHECK), t)
        assert time.time() - started < 20

        await asyncio.sleep(max(0.0, started + 21 - time.time()))
        second = t.remember(await t.provider.token_async())
        assert second != first and t.identity_requests() == 2
        t.pg.set_password(t.role, second)

        async with apool.connection() as conn:
            assert_verified_login(await (await conn.execute(CHECK)).fetchone(), t)
        async with ppool.acquire() as conn:
            assert_verified_login(await conn.fetchrow(CHECK), t)
        async with engine.connect() as conn:
            assert_verified_login((await conn.execute(sqlalchemy.text(CHECK))).one(), t)
        conn = await passmint.asyncpg.connect(t.dsn, provider=t.provider)
        assert_verified_login(await conn.fetchrow(CHECK), t)
        await conn.close()

        assert_verified_login(await (await old_a.execute(CHECK)).fetchone(), t)
        assert_verified_login(await old_p.fetchrow(CHECK), t)
        assert_verified_login((await old_e.execute(sqlalchemy.text(CHECK))).one(), t)
        await old_e.close()
        await apool.putconn(old_a)
        await ppool.release(old_p)
    finally:
        await apool.close()
        await ppool.close()
        await engine.dispose()

    assert t.identity_requests() == 2


def test_rotation(mock, pg, pg_role, monkeypatch, minted):
    """Tokens that live 40 s are refreshed after 20 s (docs/DESIGN.md §2 rule 3: at most half their life).
    The server is then told the new token only: new connections through every helper log in with
    it, and the connections opened with the old one keep working. The sync helpers (DSQL) and the
    asyncio ones (Azure, on a loop in another thread) share the one wait."""
    sync_t = Target("dsql", make_provider("dsql", pg_role, mock, monkeypatch, expires_in=40), pg_role, pg, mock,
                    minted)
    async_role = pg_role + "_async"
    pg.create_login_role(async_role)
    mock.set_credential_lifetime(ROUTE["azure"], 40)
    async_t = Target("azure", make_provider("azure", async_role, mock, monkeypatch), async_role, pg, mock, minted)
    failures: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(rotate_async(async_t))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(e)

    thread = threading.Thread(target=in_thread)
    thread.start()
    try:
        rotate_sync(sync_t)
    finally:
        thread.join(timeout=120)
    if failures:
        raise failures[0]
    assert not thread.is_alive()


def test_sync_helper_on_a_cold_cache_does_not_hold_the_gil(azure_target, mock):
    """While a psycopg connect waits for a slow identity endpoint, other Python threads run."""
    t = azure_target
    t.pg.set_password(t.role, t.remember(mock.queue_azure_token(ROUTE["azure"])))
    mock.fault(ROUTE["azure"], delay=1.0)
    ticks = 0
    stop = threading.Event()

    def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        started = time.monotonic()
        with passmint.psycopg.connection_class(t.provider).connect(t.conninfo) as conn:
            assert_verified_login(conn.execute(CHECK).fetchone(), t)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
    assert elapsed >= 1.0 and ticks >= 50, (elapsed, ticks)
