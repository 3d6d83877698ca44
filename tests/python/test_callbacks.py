"""`passmint.Provider.from_callable`: a sync or async callable of the caller's as a token
source, behind the same cache as every provider (single flight, refresh-ahead,
serve-while-valid, backoff, the 10 s deadline), with its errors typed and its own message."""

from __future__ import annotations

import asyncio
import datetime
import secrets
import threading
import time

import passmint
import psycopg
import pytest
from azure.core.credentials import AccessToken

DEADLINE = 10


class Source:
    """A callable that counts its calls and answers what the test says."""

    def __init__(self, lifetime: int = 3600, username: str | None = "app") -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.username = username
        self.token = "cb-" + secrets.token_urlsafe(24)
        self.fail: BaseException | None = None
        self.delay = 0.0
        self.lock = threading.Lock()

    def answer(self) -> dict:
        with self.lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        out = {"token": self.token, "expires_at": int(time.time()) + self.lifetime}
        if self.username:
            out["username"] = self.username
        return out

    def __call__(self) -> dict:
        return self.answer()


def test_a_callable_logs_into_postgres(pg, pg_role):
    source = Source(username=pg_role)
    pg.set_password(pg_role, source.token)
    p = passmint.Provider.from_callable(source)
    info = p.token_info()
    assert (info.username, info.provider) == (pg_role, "callback")
    with psycopg.connect(pg.dsn(info.username, p.token())) as conn:
        assert conn.execute("select current_user").fetchone() == (pg_role,)
    assert source.calls == 1
    assert p.status()["credential"] == "token callback (Source)"


def test_a_thousand_concurrent_cold_callers_call_it_once():
    source = Source()
    source.delay = 0.3  # everyone arrives while the one call runs
    p = passmint.Provider.from_callable(source)

    async def storm():
        return await asyncio.gather(*(p.token_async() for _ in range(500)))

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.extend(p.token() for _ in range(50))) for _ in range(10)]
    for t in threads:
        t.start()
    results += asyncio.run(storm())
    for t in threads:
        t.join()
    assert len(results) == 1000 and set(results) == {source.token}
    assert source.calls == 1


@pytest.mark.parametrize("shape", ["dict", "tuple", "list", "float", "datetime", "access-token"])
def test_answer_shapes(shape):
    exp = int(time.time()) + 3600
    answer = {
        "dict": {"token": "t1", "expires_at": exp, "username": "u"},
        "tuple": ("t1", exp, "u"),
        "list": ["t1", exp],
        "float": {"token": "t1", "expires_at": exp + 0.75},
        "datetime": ("t1", datetime.datetime.fromtimestamp(exp, datetime.UTC)),
        "access-token": AccessToken("t1", exp),
    }[shape]
    info = passmint.Provider.from_callable(lambda: answer).token_info()
    assert (info.secret, info.expires_at) == ("t1", exp)


def test_an_async_callable_from_sync_code_and_from_the_callers_own_loop():
    calls = []

    async def fetch():
        calls.append(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        return ("async-token", int(time.time()) + 3600)

    p = passmint.Provider.from_callable(fetch)
    assert p.token() == "async-token"
    q = passmint.Provider.from_callable(fetch)

    async def main():
        mine = asyncio.get_running_loop()
        token = await q.token_async()
        return token, mine

    token, caller_loop = asyncio.run(main())
    assert token == "async-token" and len(calls) == 2
    # The coroutine ran on passmint's loop, not on the caller's, which was awaiting it.
    assert calls[1] is not caller_loop


@pytest.mark.parametrize(("answer", "says"), [
    (None, "returned a NoneType"),
    ("just-a-string", "returned a str"),
    (("t",), "of 1 items"),
    ({"token": "t"}, "lacks 'token' or 'expires_at'"),
    ({"token": 5, "expires_at": 2_000_000_000}, "token is a int"),
    ({"token": "t", "expires_at": "tomorrow"}, "expires_at is a str"),
    ({"token": "t", "expires_at": 2_000_000_000_000}, "milliseconds"),
    ({"token": "", "expires_at": 2_000_000_000}, "empty token"),
    ({"token": "t", "expires_at": 1}, "expire"),
])
def test_a_wrong_answer_is_provider_response(answer, says):
    p = passmint.Provider.from_callable(lambda: answer)
    with pytest.raises(passmint.ProviderResponseError) as e:
        p.token()
    assert says in str(e.value), str(e.value)


def test_an_exception_reaches_the_caller_with_its_message_and_no_secret():
    leaked = "eyJhbGciOiJSUzI1NiJ9." + "A" * 60 + ".sig"

    def broken():
        raise RuntimeError(f"vault sealed; last token was {leaked}")

    with pytest.raises(passmint.ProviderResponseError) as e:
        passmint.Provider.from_callable(broken).token()
    message = str(e.value)
    assert "the token callback raised RuntimeError: vault sealed" in message
    assert leaked not in message and "AAAAAAAAAAAAAAAAAAAA" not in message

    def refused():
        raise passmint.AuthenticationFailedError("AUTHENTICATION_FAILED", "the role is locked")

    with pytest.raises(passmint.AuthenticationFailedError, match="the role is locked"):
        passmint.Provider.from_callable(refused).token()
    with pytest.raises(passmint.InvalidArgumentError):
        passmint.Provider.from_callable("not callable")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_hanging_callable_is_a_timeout_at_the_deadline(kind):
    release = threading.Event()

    def hang_sync():
        release.wait(30)
        return ("late", int(time.time()) + 3600)

    async def hang_async():
        await asyncio.sleep(30)

    p = passmint.Provider.from_callable(hang_sync if kind == "sync" else hang_async)
    started = time.monotonic()
    try:
        with pytest.raises(passmint.TimeoutError):
            p.token()
        assert time.monotonic() - started < DEADLINE + 1.5
        assert p.status()["last_error_kind"] == "TIMEOUT"
    finally:
        release.set()


def test_a_failing_refresh_serves_the_valid_token_and_status_shows_it():
    # An 80 s token is refreshed at 40 s and served until 50 s (cache rules 3 and 4).
    source = Source(lifetime=80)
    p = passmint.Provider.from_callable(source)
    first = p.token()
    source.fail = RuntimeError("identity service down")
    time.sleep(40.5)
    assert p.token() == first  # still served; a background refresh starts and fails
    deadline = time.monotonic() + 5
    while p.status()["consecutive_failures"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    s = p.status()
    assert s["cached"] and s["consecutive_failures"] >= 1, s
    assert s["last_error_kind"] == "PROVIDER_RESPONSE" and "identity service down" in s["last_error_message"]
    assert p.token() == first


# --- the caller's AWS credentials: signing stays in passmint --------------------------------

DSQL_HOST = "abc123example.dsql.us-east-1.on.aws"
KEYS = {"aws_access_key_id": "AKIACALLERKEYS00001", "aws_secret_access_key": "callerSecret/xyz+123"}


def same_second(make_ours, make_ref):
    """Both tokens minted within one second (SigV4 signs the second), or None after 5 tries."""
    for _ in range(5):
        start = int(time.time())
        ours, ref = make_ours(), make_ref()
        if int(time.time()) == start:
            return ours, ref
    return None


def test_a_boto3_session_signs_the_same_token_as_boto3():
    import boto3

    session = boto3.Session(region_name="us-east-1", **KEYS)
    pair = same_second(
        lambda: passmint.dsql(DSQL_HOST, credentials=session).token(),
        lambda: session.client("dsql").generate_db_connect_admin_auth_token(
            Hostname=DSQL_HOST, Region="us-east-1", ExpiresIn=900))
    assert pair is not None
    assert pair[0] == pair[1]
    rds_host = "mydb.abc123example.eu-west-1.rds.amazonaws.com"
    pair = same_second(
        lambda: passmint.rds(rds_host, user="app@corp", credentials=session.get_credentials()).token(),
        lambda: session.client("rds", region_name="eu-west-1").generate_db_auth_token(
            DBHostname=rds_host, Port=5432, DBUsername="app@corp", Region="eu-west-1"))
    assert pair is not None and pair[0] == pair[1]


def test_a_callable_of_credentials_bounds_the_token_and_is_called_once():
    calls = []
    expires = int(time.time()) + 600

    def credentials():
        calls.append(1)
        return {"access_key_id": "ASIACALLER0000000002", "secret_access_key": "s3cr3t",
                "session_token": "caller/session+token=", "expires_at": expires}

    p = passmint.dsql(DSQL_HOST, user="app", credentials=credentials)
    tokens = {p.token() for _ in range(10)}
    info = p.token_info()
    assert len(tokens) == 1 and len(calls) == 1
    assert info.expires_at == expires, "the credentials' expiry bounds the token"
    assert "X-Amz-Security-Token=caller%2Fsession%2Btoken%3D" in info.secret
    assert p.status()["credential"] == "AWS credentials (Caller)"


def test_credentials_that_cannot_sign_are_typed_errors():
    import boto3

    with pytest.raises(passmint.CredentialUnavailableError, match="no credentials"):
        passmint.dsql(DSQL_HOST, credentials=boto3.Session(region_name="us-east-1",
                                                           botocore_session=_empty_botocore())).token()
    with pytest.raises(passmint.ProviderResponseError, match="lack access_key_id"):
        passmint.dsql(DSQL_HOST, credentials=lambda: {"secret_access_key": "x"}).token()
    with pytest.raises(passmint.InvalidArgumentError, match="boto3 Session"):
        passmint.dsql(DSQL_HOST, credentials=42)
    with pytest.raises(passmint.ProviderResponseError, match="raised RuntimeError: sso expired"):
        passmint.dsql(DSQL_HOST, credentials=lambda: (_ for _ in ()).throw(RuntimeError("sso expired"))).token()


def _empty_botocore():
    import botocore.session

    s = botocore.session.Session()
    s.get_component("credential_provider").providers = []
    return s


def test_caller_credentials_log_into_postgres(pg, pg_role):
    import boto3

    p = passmint.dsql(DSQL_HOST, user=pg_role, credentials=boto3.Session(region_name="us-east-1", **KEYS))
    token = p.token()
    pg.set_password(pg_role, token)  # what DSQL would accept
    with psycopg.connect(pg.dsn(pg_role, p.token())) as conn:
        assert conn.execute("select current_user").fetchone() == (pg_role,)


def test_helpers_refuse_a_token_that_names_no_role_instead_of_using_the_os_user(pg, monkeypatch):
    """Issue 17 item 5: a service principal's token names no role; the helpers say to pass user=."""
    import asyncpg
    import passmint.asyncpg
    import passmint.psycopg

    monkeypatch.delenv("PGUSER", raising=False)
    p = passmint.Provider.from_callable(lambda: ("no-role-token", int(time.time()) + 3600))
    conninfo = f"host=localhost port={pg.port} dbname=postgres sslrootcert={pg.ca_pem}"
    with pytest.raises(passmint.InvalidConfigError, match=r"names no database role.*pass user=<role>"):
        passmint.psycopg.connection_class(p).connect(conninfo)
    dsn = f"postgresql://localhost:{pg.port}/postgres?sslrootcert={pg.ca_pem}"
    with pytest.raises(passmint.InvalidConfigError, match="passmint.asyncpg"):
        asyncio.run(passmint.asyncpg.connect(dsn, provider=p))
    assert asyncpg  # the driver is there; only the role is missing


def test_an_azure_identity_credential_drives_an_azure_provider(mock, monkeypatch, pg, pg_role):
    """passmint.azure_identity: sync and .aio azure-identity credentials; the role from the claims."""
    from azure.identity import ManagedIdentityCredential
    from azure.identity.aio import (
        ManagedIdentityCredential as AioManagedIdentityCredential,
    )

    monkeypatch.setenv("IDENTITY_ENDPOINT", mock.http_url + "/azure/appservice/token")
    monkeypatch.setenv("IDENTITY_HEADER", mock.identity_header)
    mock.configure(azure_app_name=pg_role)
    p = passmint.azure_identity(ManagedIdentityCredential())
    info = p.token_info()
    assert (info.provider, info.username) == ("azure", pg_role)
    assert p.status()["credential"] == "azure-identity ManagedIdentityCredential"
    pg.set_password(pg_role, info.secret)  # what the server would accept
    with psycopg.connect(pg.dsn(info.username, p.token())) as conn:
        assert conn.execute("select current_user").fetchone() == (pg_role,)
    resources = {r["query_params"].get("resource") for r in mock.requests("/azure/appservice/token")}
    assert resources == {"https://ossrdbms-aad.database.windows.net"}

    aio = passmint.azure_identity(AioManagedIdentityCredential(), user="explicit_role")
    token = aio.token_info()
    assert (token.provider, token.username) == ("azure", "explicit_role")
    with pytest.raises(passmint.InvalidConfigError, match="unknown cloud"):
        passmint.azure_identity(ManagedIdentityCredential(), cloud="mars")
    with pytest.raises(passmint.InvalidArgumentError):
        passmint.azure_identity(object())
