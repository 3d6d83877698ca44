"""Rotation in the Python driver helpers (issue 20, item 5) against the harness PostgreSQL over
verified TLS: a password the server refuses is dropped and retried once with a fresh one for a
source that rotates early, never for a callback (nor an IAM token); the username is the token's
on every new connection.

The rig: an ``exec:`` source with ``refresh=3600`` whose command counts its runs and prints a
file the test controls. passmint caches what it printed; the test then rotates the role's
password and the file, as an agent would, so the next connection sends the cached (old)
password, is refused once, and the helper's retry runs the command a second time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

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
from harness import hygiene
from sqlalchemy.ext.asyncio import create_async_engine

WHO = "SELECT current_user"
PG_VARS = ("PGSSLMODE", "PGSSLROOTCERT", "PGUSER", "PGPASSWORD", "PGHOST", "PGPORT", "PGDATABASE",
           "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGSSLNEGOTIATION", "PGCONNECT_TIMEOUT")
REFUSED = "password authentication failed"


@pytest.fixture(autouse=True)
def _clean_pg_env(monkeypatch, tmp_path, pg):
    for name in PG_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # asyncpg under SQLAlchemy takes no sslrootcert keyword: it reads this.
    monkeypatch.setenv("PGSSLROOTCERT", str(pg.ca_pem))


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog, request):
    caplog.set_level(logging.DEBUG)
    yield
    rigs = [v for v in request.node.funcargs.values() if isinstance(v, Rig)]
    assert not any(s in caplog.text for rig in rigs for s in rig.issued), "a password reached the logs"


def secret() -> str:
    value = f"pw-{uuid.uuid4().hex}"
    hygiene.record([value])
    return value


def exec_url(cmd: str, **params: str) -> str:
    extra = "".join(f"&{k}={quote(v, safe='')}" for k, v in params.items())
    return f"exec:?cmd={quote(cmd, safe='')}{extra}"


class Rig:
    """An ``exec:`` provider whose command appends to a counter and prints ``secret``'s content."""

    def __init__(self, pg, tmp_path: Path) -> None:
        self.pg = pg
        self.dir = tmp_path / f"rig-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir()
        self.secret, self.counter = self.dir / "secret", self.dir / "runs"
        self.counter.write_text("")
        self.issued: list[str] = []

    def url(self, **params: str) -> str:
        cmd = f"echo run >> {shlex.quote(str(self.counter))}; cat {shlex.quote(str(self.secret))}"
        return exec_url(cmd, shell="true", refresh="3600", **params)

    def runs(self) -> int:
        return len(self.counter.read_text().splitlines())

    def write(self, password: str, username: str | None = None) -> None:
        """What the agent writes: the password, or JSON naming the user too (an atomic replace)."""
        self.issued.append(password)
        text = password if username is None else json.dumps({"username": username, "password": password})
        tmp = self.secret.with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(self.secret)

    def refusals(self, role: str) -> int:
        """How many logins as ``role`` the server refused for a wrong password (its log)."""
        log = (Path(self.pg.dir) / "postgres.log").read_text(errors="replace")
        return log.count(f'{REFUSED} for user "{role}"')

    @property
    def conninfo(self) -> str:
        return f"host=localhost port={self.pg.port} dbname=postgres sslrootcert={self.pg.ca_pem}"

    @property
    def dsn(self) -> str:
        return f"postgresql://localhost:{self.pg.port}/postgres?sslrootcert={self.pg.ca_pem}"

    def sa_url(self, driver: str) -> str:
        query = "" if driver == "asyncpg" else f"?sslrootcert={self.pg.ca_pem}"
        return f"postgresql+{driver}://localhost:{self.pg.port}/postgres{query}"


@pytest.fixture
def rig(pg, tmp_path) -> Rig:
    return Rig(pg, tmp_path)


# --- every helper, one new connection: (provider, rig) -> current_user -------------------------

def _psycopg(p, r):
    with passmint.psycopg.connection_class(p).connect(r.conninfo) as conn:
        return conn.execute(WHO).fetchone()[0]


def _psycopg_async(p, r):
    async def main():
        async with await passmint.psycopg.async_connection_class(p).connect(r.conninfo) as conn:
            return (await (await conn.execute(WHO)).fetchone())[0]
    return asyncio.run(main())


def _psycopg_pool(p, r):
    cls = passmint.psycopg.connection_class(p)
    with psycopg_pool.ConnectionPool(r.conninfo, connection_class=cls, min_size=1, open=True) as pool:
        pool.wait(timeout=10)
        with pool.connection(timeout=10) as conn:
            return conn.execute(WHO).fetchone()[0]


def _psycopg_async_pool(p, r):
    async def main():
        cls = passmint.psycopg.async_connection_class(p)
        pool = psycopg_pool.AsyncConnectionPool(r.conninfo, connection_class=cls, min_size=1, open=False)
        async with pool, pool.connection(timeout=10) as conn:
            return (await (await conn.execute(WHO)).fetchone())[0]
    return asyncio.run(asyncio.wait_for(main(), 60))


def _psycopg2(p, r):
    factory = passmint.psycopg2.connection_factory(p)
    with closing(psycopg2.connect(r.conninfo, connection_factory=factory)) as conn, conn.cursor() as cur:
        assert isinstance(conn, factory)
        cur.execute(WHO)
        return cur.fetchone()[0]


def _psycopg2_pool(p, r):
    pool = psycopg2.pool.ThreadedConnectionPool(1, 2, r.conninfo, connection_factory=passmint.psycopg2.connection_factory(p))
    try:
        conn = pool.getconn()
        with conn.cursor() as cur:
            cur.execute(WHO)
            who = cur.fetchone()[0]
        pool.putconn(conn)
        return who
    finally:
        pool.closeall()


def _asyncpg(p, r):
    async def main():
        conn = await passmint.asyncpg.connect(r.dsn, provider=p)
        try:
            return await conn.fetchval(WHO)
        finally:
            await conn.close()
    return asyncio.run(main())


def _asyncpg_pool(p, r):
    async def main():
        async with passmint.asyncpg.create_pool(r.dsn, provider=p, min_size=1, max_size=1) as pool:
            return await pool.fetchval(WHO)
    return asyncio.run(main())


def _sqlalchemy(driver):
    def connect(p, r):
        engine = sqlalchemy.create_engine(r.sa_url(driver))
        passmint.sqlalchemy.attach(engine, p)
        try:
            with engine.connect() as conn:
                return conn.execute(sqlalchemy.text(WHO)).scalar()
        finally:
            engine.dispose()
    return connect


def _sqlalchemy_async(driver):
    def connect(p, r):
        async def main():
            engine = create_async_engine(r.sa_url(driver))
            passmint.sqlalchemy.attach(engine, p)
            try:
                async with engine.connect() as conn:
                    return (await conn.execute(sqlalchemy.text(WHO))).scalar()
            finally:
                await engine.dispose()
        return asyncio.run(main())
    return connect


HELPERS = {
    "psycopg": _psycopg, "psycopg-async": _psycopg_async, "psycopg_pool": _psycopg_pool,
    "psycopg_pool-async": _psycopg_async_pool, "psycopg2": _psycopg2, "psycopg2-pool": _psycopg2_pool,
    "asyncpg": _asyncpg, "asyncpg-pool": _asyncpg_pool,
    "sqlalchemy-psycopg": _sqlalchemy("psycopg"), "sqlalchemy-psycopg2": _sqlalchemy("psycopg2"),
    "sqlalchemy-async-psycopg": _sqlalchemy_async("psycopg"), "sqlalchemy-async-asyncpg": _sqlalchemy_async("asyncpg"),
}
#: The helpers whose connect raises a refusal to the caller (psycopg_pool retries in the
#: background until its timeout; it connects through the same connection classes).
RAISING = [name for name in HELPERS if not name.startswith("psycopg_pool")]
#: What each driver raises for a refused login (SQLAlchemy wraps the driver's).
REFUSAL_ERRORS = (psycopg.OperationalError, psycopg2.OperationalError, asyncpg.InvalidPasswordError,
                  sqlalchemy.exc.DBAPIError)


@pytest.mark.parametrize("helper", HELPERS)
def test_a_password_rotated_before_its_refresh_is_refused_once_then_refetched(helper, rig, pg, pg_role):
    old, new = secret(), secret()
    pg.set_password(pg_role, old)
    rig.write(old)
    provider = passmint.Provider(rig.url(user=pg_role))
    assert HELPERS[helper](provider, rig) == pg_role
    assert rig.runs() == 1

    # The agent rotates: the server, then the file. passmint still holds the old password (refresh=3600).
    pg.set_password(pg_role, new)
    rig.write(new)
    assert provider.token() == old

    assert HELPERS[helper](provider, rig) == pg_role
    assert rig.runs() == 2, "one refused connect, one new run of the command"
    assert rig.refusals(pg_role) == 1
    assert provider.token() == new


@pytest.mark.parametrize("helper", RAISING)
def test_a_second_refusal_is_raised_after_one_retry(helper, rig, pg, pg_role):
    """The store still hands out a password the server refuses: one retry, then the error."""
    rig.write(secret())
    pg.set_password(pg_role, secret())
    provider = passmint.Provider(rig.url(user=pg_role))
    with pytest.raises(REFUSAL_ERRORS, match=REFUSED):
        HELPERS[helper](provider, rig)
    assert rig.runs() == 2
    assert rig.refusals(pg_role) == 2


@pytest.mark.parametrize("helper", RAISING)
def test_a_refused_callback_token_is_not_retried(helper, rig, pg, pg_role):
    """A callback's kind (like every IAM kind) says no to a retry: one call, one refusal, the
    driver's own error, and the token stays cached."""
    pg.set_password(pg_role, secret())
    calls = []
    wrong = secret()
    rig.issued.append(wrong)

    def mint():
        calls.append(1)
        return {"token": wrong, "expires_at": time.time() + 3600, "username": pg_role}

    provider = passmint.Provider.from_callable(mint)
    with pytest.raises(REFUSAL_ERRORS, match=REFUSED):
        HELPERS[helper](provider, rig)
    assert len(calls) == 1
    assert rig.refusals(pg_role) == 1
    assert provider.status()["cached"] is True


@pytest.mark.parametrize("helper", HELPERS)
def test_the_next_connection_logs_in_as_the_user_the_rotated_secret_names(helper, rig, pg, pg_role):
    """A new lease names a new role: the old role's password no longer works, the next connection
    is refused once and logs in as the new role (the helpers were given no user)."""
    second = f"{pg_role}_next"
    pg.create_login_role(second)
    old, new = secret(), secret()
    pg.set_password(pg_role, old)
    rig.write(old, username=pg_role)
    provider = passmint.Provider(rig.url())
    assert HELPERS[helper](provider, rig) == pg_role

    pg.set_password(second, new)
    pg.set_password(pg_role, secret())  # the old lease is revoked
    rig.write(new, username=second)
    assert HELPERS[helper](provider, rig) == second
    assert rig.runs() == 2
    assert provider.token_info().username == second


# --- many connections refused at once: one new fetch -------------------------------------------

def _rotate(rig: Rig, pg, role: str) -> passmint.Provider:
    old, new = secret(), secret()
    pg.set_password(role, old)
    rig.write(old)
    provider = passmint.Provider(rig.url(user=role))
    assert provider.token() == old
    pg.set_password(role, new)
    rig.write(new)
    return provider


def test_threads_refused_at_once_make_one_new_fetch(rig, pg, pg_role):
    """Eight threads connect at the same moment with the cached old password (psycopg and
    psycopg2 alike): each is refused, each retries, and the command runs once more in all."""
    provider = _rotate(rig, pg, pg_role)
    connectors = [lambda: _psycopg(provider, rig), lambda: _psycopg2(provider, rig)] * 4
    barrier = threading.Barrier(len(connectors))
    users, failures = [], []

    def run(connect):
        try:
            barrier.wait()
            users.append(connect())
        except BaseException as e:  # noqa: BLE001 - reported in the test's thread
            failures.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in connectors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    assert users == [pg_role] * len(connectors)
    assert rig.runs() == 2
    assert 1 <= rig.refusals(pg_role) <= len(connectors)


def test_asyncio_connects_refused_at_once_make_one_new_fetch(rig, pg, pg_role):
    provider = _rotate(rig, pg, pg_role)
    cls = passmint.psycopg.async_connection_class(provider)

    async def via_asyncpg():
        conn = await passmint.asyncpg.connect(rig.dsn, provider=provider)
        try:
            return await conn.fetchval(WHO)
        finally:
            await conn.close()

    async def via_psycopg():
        async with await cls.connect(rig.conninfo) as conn:
            return (await (await conn.execute(WHO)).fetchone())[0]

    async def main():
        return await asyncio.gather(*[via_asyncpg() for _ in range(4)], *[via_psycopg() for _ in range(4)])

    assert asyncio.run(main()) == [pg_role] * 8
    assert rig.runs() == 2
    assert rig.refusals(pg_role) == 8, "every first attempt sent the cached old password"


def test_a_pool_filled_after_a_rotation_makes_one_new_fetch(rig, pg, pg_role):
    """psycopg_pool's workers and asyncpg's pool open their connections concurrently."""
    provider = _rotate(rig, pg, pg_role)
    cls = passmint.psycopg.connection_class(provider)
    with psycopg_pool.ConnectionPool(rig.conninfo, connection_class=cls, min_size=4, max_size=4, num_workers=4,
                                     open=True) as pool:
        pool.wait(timeout=10)
        held = [pool.getconn(timeout=10) for _ in range(4)]
        assert [c.execute(WHO).fetchone()[0] for c in held] == [pg_role] * 4
        for c in held:
            pool.putconn(c)
    assert rig.runs() == 2

    async def main():
        async with passmint.asyncpg.create_pool(rig.dsn, provider=provider, min_size=4, max_size=4) as apool:
            conns = [await apool.acquire() for _ in range(4)]
            try:
                return [await c.fetchval(WHO) for c in conns]
            finally:
                for c in conns:
                    await apool.release(c)

    assert asyncio.run(main()) == [pg_role] * 4
    assert rig.runs() == 2, "the asyncpg pool found the new password cached"


# --- pools made before a new lease: the user is the token's on each new connection ------------------

class Lease:
    """A JSON secret naming ``role``; ``next()`` moves it to a new role and revokes the old."""

    def __init__(self, rig: Rig, pg, role: str) -> None:
        self.rig, self.pg, self.role, self.next_role = rig, pg, role, f"{role}_next"
        pg.create_login_role(self.next_role)
        password = secret()
        pg.set_password(role, password)
        rig.write(password, username=role)
        self.provider = passmint.Provider(rig.url())

    def next(self) -> None:
        password = secret()
        self.pg.set_password(self.next_role, password)
        self.pg.set_password(self.role, secret())
        self.rig.write(password, username=self.next_role)


def test_sync_pools_made_before_a_new_lease_log_in_as_its_user(rig, pg, pg_role):
    """Pools opened under one lease; the lease moves to a new role; each pool's next new
    connection logs in as that role, while the open ones carry on as the old."""
    lease = Lease(rig, pg, pg_role)
    provider = lease.provider
    pool = psycopg_pool.ConnectionPool(rig.conninfo, connection_class=passmint.psycopg.connection_class(provider),
                                       min_size=1, max_size=2, open=True)
    pg2_pool = psycopg2.pool.ThreadedConnectionPool(1, 2, rig.conninfo,
                                                    connection_factory=passmint.psycopg2.connection_factory(provider))
    engine = sqlalchemy.create_engine(rig.sa_url("psycopg"), pool_size=2)
    passmint.sqlalchemy.attach(engine, provider)
    try:
        pool.wait(timeout=10)
        held, held_pg2, held_sa = pool.getconn(), pg2_pool.getconn(), engine.connect()
        assert held.execute(WHO).fetchone()[0] == pg_role
        assert held_sa.execute(sqlalchemy.text(WHO)).scalar() == pg_role

        lease.next()
        with pool.connection(timeout=10) as conn:  # the held one is taken: a new connection
            assert conn.execute(WHO).fetchone()[0] == lease.next_role
        fresh = pg2_pool.getconn()
        with fresh.cursor() as cur:
            cur.execute(WHO)
            assert cur.fetchone()[0] == lease.next_role
        pg2_pool.putconn(fresh)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text(WHO)).scalar() == lease.next_role

        assert held.execute(WHO).fetchone()[0] == pg_role
        with held_pg2.cursor() as cur:
            cur.execute(WHO)
            assert cur.fetchone()[0] == pg_role
        assert held_sa.execute(sqlalchemy.text(WHO)).scalar() == pg_role
        pool.putconn(held)
        pg2_pool.putconn(held_pg2)
        held_sa.close()
    finally:
        pool.close()
        pg2_pool.closeall()
        engine.dispose()
    assert rig.runs() == 2


def test_async_pools_made_before_a_new_lease_log_in_as_its_user(rig, pg, pg_role):
    """The same for asyncpg's pool (user from the token in its connect hook, not fixed at
    create_pool), psycopg_pool's AsyncConnectionPool and an AsyncEngine."""
    lease = Lease(rig, pg, pg_role)
    provider = lease.provider

    async def main():
        apool = await passmint.asyncpg.create_pool(rig.dsn, provider=provider, min_size=1, max_size=2)
        ppool = psycopg_pool.AsyncConnectionPool(
            rig.conninfo, connection_class=passmint.psycopg.async_connection_class(provider), min_size=1, max_size=2,
            open=False)
        await ppool.open(wait=True, timeout=10)
        engine = create_async_engine(rig.sa_url("asyncpg"), pool_size=2)
        passmint.sqlalchemy.attach(engine, provider)
        try:
            held_a, held_p, held_e = await apool.acquire(), await ppool.getconn(), await engine.connect()
            before = [await held_a.fetchval(WHO), (await (await held_p.execute(WHO)).fetchone())[0],
                      (await held_e.execute(sqlalchemy.text(WHO))).scalar()]
            lease.next()
            async with apool.acquire() as conn:
                after = [await conn.fetchval(WHO)]
            async with ppool.connection(timeout=10) as conn:
                after.append((await (await conn.execute(WHO)).fetchone())[0])
            async with engine.connect() as conn:
                after.append((await conn.execute(sqlalchemy.text(WHO))).scalar())
            still = [await held_a.fetchval(WHO), (await (await held_p.execute(WHO)).fetchone())[0],
                     (await held_e.execute(sqlalchemy.text(WHO))).scalar()]
            await apool.release(held_a)
            await ppool.putconn(held_p)
            await held_e.close()
            return before, after, still
        finally:
            await apool.close()
            await ppool.close()
            await engine.dispose()

    before, after, still = asyncio.run(asyncio.wait_for(main(), 60))
    assert before == [pg_role] * 3
    assert after == [lease.next_role] * 3
    assert still == [pg_role] * 3
    assert rig.runs() == 2


# --- where a retry is not possible ---------------------------------------------------------------

@pytest.mark.skipif(tuple(int(x) for x in psycopg_pool.__version__.split(".")[:2]) < (3, 3),
                    reason="psycopg_pool takes a callable kwargs= from 3.3")
def test_the_pool_kwargs_callable_does_not_retry(rig, pg, pg_role):
    """psycopg.kwargs() only hands the pool its arguments and never sees the refusal: the
    cached old password is sent again (the module docstring says to use connection_class)."""
    provider = _rotate(rig, pg, pg_role)
    kwargs = passmint.psycopg.kwargs(provider, rig.conninfo)()
    with pytest.raises(psycopg.OperationalError, match=REFUSED):
        psycopg.connect(rig.conninfo, **kwargs)
    assert rig.runs() == 1
