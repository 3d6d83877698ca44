"""The Python API (issue 5, docs/DESIGN.md §5, §6): constructors, tokens from the mock for DSQL and RDS
(container credentials) and Azure (App Service), errors per kind, single-flight across threads,
tasks and event loops, an event loop that keeps running while a fetch hangs, fork and spawn
children, and no token in any message, repr or log line.

Everything runs in this process (or its children) against the session's mock: passmint reads
the endpoint variables when it fetches, so a test points them at the mock with monkeypatch.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import passmint
import pytest
from harness.azure import APPSERVICE_PATH, OSSRDBMS_RESOURCE, decode_claims
from harness.env import CLOSED
from harness.native import route_requests

DSQL_HOST = "abc123example.dsql.us-east-1.on.aws"
RDS_HOST = "db.abc123example.eu-west-1.rds.amazonaws.com"
APPSERVICE = "azure-appservice"
CONTAINER = "container"
DEADLINE = 10  # docs/DESIGN.md §2 rule 5
UAMI_CLIENT = "11111111-2222-4333-8444-555555555555"

ERRORS = {
    "INVALID_ARGUMENT": passmint.InvalidArgumentError,
    "INVALID_CONFIG": passmint.InvalidConfigError,
    "CREDENTIAL_UNAVAILABLE": passmint.CredentialUnavailableError,
    "AUTHENTICATION_FAILED": passmint.AuthenticationFailedError,
    "TIMEOUT": passmint.TimeoutError,
    "NETWORK": passmint.NetworkError,
    "PROVIDER_RESPONSE": passmint.ProviderResponseError,
    "INTERNAL": passmint.InternalError,
}


@pytest.fixture(autouse=True)
def _no_stray_credentials(monkeypatch, tmp_path):
    """Only what a test sets: no developer credentials, no metadata endpoint (tests/run does the
    same; this keeps a plain `pytest` run as hermetic)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
                 "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("aws-config", "aws-credentials"):
        (tmp_path / name).touch()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://{CLOSED}")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no az, no azd


@pytest.fixture
def aws(mock, monkeypatch):
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", mock.http_url + "/aws/container-credentials")
    return mock


@pytest.fixture
def app_service(mock, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", mock.http_url + APPSERVICE_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", mock.identity_header)
    return mock


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog, request):
    """Nothing passmint or the test's drivers log may carry a token or a mock secret."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    yield seen
    if "mock" in request.fixturenames:
        seen += request.getfixturevalue("mock").issued_secrets()
    text = caplog.text
    assert not any(s and s in text for s in seen), "a secret reached the logs"


def run(method):
    """``await method()`` in a fresh event loop."""
    async def main():
        return await method()

    return asyncio.run(main())


def query(token: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit("https://" + token).query).items()}


def assert_hides(secret: str, *objects: object) -> None:
    for obj in objects:
        assert secret not in repr(obj) and secret not in str(obj), type(obj)


# --- constructors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("made", "url"), [
    (lambda: passmint.dsql(DSQL_HOST), f"dsql://{DSQL_HOST}"),
    (lambda: passmint.dsql("abc123example", region="us-east-1", user="app", expires_in=60),
     "dsql://abc123example?region=us-east-1&user=app&expires_in=60"),
    (lambda: passmint.rds(RDS_HOST, user="app"), f"rds://{RDS_HOST}?user=app"),
    (lambda: passmint.rds("proxy.internal", port=6432, user="app", region="eu-west-1"),
     "rds://proxy.internal:6432?user=app&region=eu-west-1"),
    (lambda: passmint.azure(), "azure://"),
    (lambda: passmint.azure(credential="managed", client_id=UAMI_CLIENT, user="my-app"),
     f"azure://?credential=managed&client_id={UAMI_CLIENT}&user=my-app"),
    (lambda: passmint.azure(cloud="usgov", tenant_id="t1", credential="cli"),
     "azure://?credential=cli&tenant_id=t1&cloud=usgov"),
    (lambda: passmint.azure(scope="api://x/.default", allow_custom_scope=True, user="me@corp.example"),
     "azure://?scope=api%3A%2F%2Fx%2F.default&allow_custom_scope=true&user=me%40corp.example"),
])
def test_constructors_build_the_provider_the_url_would(made, url):
    built, parsed = made(), passmint.Provider(url)
    assert repr(built) == repr(parsed)
    assert (built.kind, built.username) == (parsed.kind, parsed.username)


def test_constructor_properties():
    assert (passmint.dsql(DSQL_HOST).kind, passmint.dsql(DSQL_HOST).username) == ("dsql", "admin")
    assert passmint.rds(RDS_HOST, user="app").username == "app"
    assert (passmint.azure().kind, passmint.azure().username) == ("azure", None)
    assert passmint.azure(user="me@corp.example/x").username == "me@corp.example/x"  # percent-encoded and back
    p = passmint.Provider.for_postgres_url(f"postgresql://app@{RDS_HOST}:5433/app")
    assert (p.kind, p.username) == ("rds", "app")
    assert "5433" in repr(p)
    p = passmint.Provider.for_postgres_url(f"postgres://reader@{DSQL_HOST}/postgres")
    assert (p.kind, p.username) == ("dsql", "reader")
    p = passmint.Provider.for_postgres_url("postgresql://my-app@srv.postgres.database.azure.com/app")
    assert (p.kind, p.username) == ("azure", "my-app")


def test_a_copy_of_a_provider_is_the_provider(aws):
    """Settings that hold a provider stay copyable (Django's DatabaseWrapper.copy() deep-copies
    DATABASES), and a copy shares the one cache: no second identity request."""
    p = passmint.dsql(DSQL_HOST)
    settings = {"OPTIONS": {"provider": p}}
    assert copy.copy(p) is p and copy.deepcopy(p) is p
    assert copy.deepcopy(settings)["OPTIONS"]["provider"] is p
    assert copy.deepcopy(settings)["OPTIONS"]["provider"].token() == p.token()


@pytest.mark.parametrize("make", [
    lambda: passmint.Provider("ftp://x"),
    lambda: passmint.Provider("dsql://abc123example"),             # a bare cluster id needs a region
    lambda: passmint.Provider("azure://?credential=bogus"),
    lambda: passmint.Provider("azure://?nope=1"),
    lambda: passmint.rds("db.example.internal", user="app"),        # no region, none in the host
    lambda: passmint.dsql(DSQL_HOST, expires_in=10**7),
    lambda: passmint.Provider.for_postgres_url("postgresql://app@localhost/db"),
])
def test_bad_configuration_is_invalid_config(make):
    with pytest.raises(passmint.InvalidConfigError) as e:
        make()
    assert e.value.code == "INVALID_CONFIG" and isinstance(e.value, passmint.Error)
    assert e.value.message and e.value.message == str(e.value)


# --- tokens -----------------------------------------------------------------------------------------

def test_dsql_token_from_container_credentials(aws):
    p = passmint.dsql(DSQL_HOST, user="app", expires_in=600)
    started = int(time.time())
    secret = p.token()
    assert secret.startswith(f"{DSQL_HOST}/?Action=DbConnect&")
    q = query(secret)
    assert q["X-Amz-Expires"] == "600" and q["X-Amz-Credential"].split("/")[2] == "us-east-1"
    assert q["X-Amz-Security-Token"] in aws.issued_secrets()
    info = p.token_info()
    assert (info.secret, info.username, info.provider) == (secret, "app", "dsql")
    assert started + 599 <= info.expires_at <= int(time.time()) + 600
    assert run(p.token_async) == secret
    assert run(p.token_info_async).secret == secret
    assert len(route_requests(aws, CONTAINER)) == 1
    assert_hides(secret, info, p)


def test_admin_dsql_and_rds_tokens(aws):
    admin = passmint.Provider(f"dsql://{DSQL_HOST}")
    assert admin.token().startswith(f"{DSQL_HOST}/?Action=DbConnectAdmin&")
    rds = passmint.rds(RDS_HOST, port=5433, user="app")
    secret = rds.token()
    assert secret.startswith(f"{RDS_HOST}:5433/?Action=connect&DBUser=app&")
    q = query(secret)
    assert q["X-Amz-Expires"] == "900" and q["X-Amz-Credential"].split("/")[2:4] == ["eu-west-1", "rds-db"]
    info = rds.token_info()
    assert (info.username, info.provider) == ("app", "rds")
    assert_hides(secret, info)


def test_azure_token_from_app_service(app_service):
    mock = app_service
    p = passmint.azure(credential="managed")
    secret = p.token()
    issued = next(i for i in mock.issued() if i.get("access_token") == secret)
    claims = decode_claims(secret)
    assert claims["aud"] == OSSRDBMS_RESOURCE
    info = p.token_info()
    assert info.secret == secret and info.provider == "azure"
    assert info.username == mock.azure_app_name  # the last segment of xms_mirid
    assert issued["expires_at"] - 2 <= info.expires_at <= issued["expires_at"]
    assert run(p.token_async) == secret
    reqs = route_requests(mock, APPSERVICE)
    assert len(reqs) == 1 and reqs[0]["query_params"]["resource"] == OSSRDBMS_RESOURCE

    uami = passmint.azure(credential="managed", client_id=UAMI_CLIENT, user="reporting")
    info = uami.token_info()
    assert info.username == "reporting"  # an explicit user wins over the claims
    assert route_requests(mock, APPSERVICE)[-1]["query_params"]["client_id"] == UAMI_CLIENT
    assert_hides(secret, p.token_info(), info)


def test_token_repr_and_str_hide_the_secret(aws):
    info = passmint.dsql(DSQL_HOST).token_info()
    for text in (repr(info), str(info)):
        assert info.secret not in text and "X-Amz-Signature" not in text
    assert "dsql" in repr(info) and "admin" in repr(info) and str(info.expires_at) in repr(info)


# --- errors -----------------------------------------------------------------------------------------

def test_error_classes_follow_the_kinds():
    assert issubclass(passmint.TimeoutError, builtins.TimeoutError)
    for code, cls in ERRORS.items():
        assert issubclass(cls, passmint.Error) and cls is getattr(passmint, cls.__name__)
        e = cls(code, "what failed; what to do")
        assert (e.code, e.message, str(e)) == (code, "what failed; what to do", "what failed; what to do")
        assert cls.__name__ in repr(e)


def assert_error(excinfo, cls, code, *secrets: str) -> passmint.Error:
    e = excinfo.value
    assert type(e) is cls and e.code == code, (type(e), e.code, str(e))
    assert isinstance(e, passmint.Error)
    assert e.message.strip(), "an error without a message"
    for s in secrets:
        assert_hides(s, e)
        assert not any(s in str(a) for a in e.args)
    return e


def test_nothing_available_is_credential_unavailable(mock):
    p = passmint.azure(credential="managed")  # no IDENTITY_ENDPOINT; IMDS is a closed port
    with pytest.raises(passmint.CredentialUnavailableError) as e:
        p.token()
    assert_error(e, passmint.CredentialUnavailableError, "CREDENTIAL_UNAVAILABLE")
    with pytest.raises(passmint.CredentialUnavailableError):
        passmint.dsql(DSQL_HOST).token()  # no AWS credentials anywhere
    with pytest.raises(passmint.CredentialUnavailableError):
        run(passmint.rds(RDS_HOST, user="app").token_async)


def test_app_service_refusal_is_authentication_failed(app_service):
    app_service.fault(APPSERVICE, status=401)
    p = passmint.azure(credential="managed")
    with pytest.raises(passmint.AuthenticationFailedError) as e:
        p.token()
    assert_error(e, passmint.AuthenticationFailedError, "AUTHENTICATION_FAILED", app_service.identity_header)
    with pytest.raises(passmint.AuthenticationFailedError):
        run(p.token_info_async)


@pytest.mark.parametrize("body", [
    "this is not json",
    '{"access_token": "LEAKED-SECRET-abc123", "expires_on": "not-a-time", "resource": "x"}',
])
def test_malformed_answer_is_provider_response(app_service, body):
    app_service.fault(APPSERVICE, body=body)
    p = passmint.azure(credential="managed")
    with pytest.raises(passmint.ProviderResponseError) as e:
        p.token()
    assert_error(e, passmint.ProviderResponseError, "PROVIDER_RESPONSE", "LEAKED-SECRET-abc123",
                 app_service.identity_header)


def test_hung_endpoint_times_out_while_the_loop_and_threads_keep_running(app_service):
    """One hung fetch, three waiters: an asyncio task, a thread in token(), and a ticker task
    that must keep ticking (the loop is never blocked). All waiters get passmint.TimeoutError,
    which is also the builtin TimeoutError, within the deadline."""
    app_service.fault(APPSERVICE, hang=True)
    p = passmint.azure(credential="managed")
    sync_result: list[BaseException] = []

    def in_thread():
        try:
            p.token()
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion below
            sync_result.append(e)

    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        started = time.monotonic()
        try:
            with pytest.raises(builtins.TimeoutError) as e:
                await p.token_async()
        finally:
            done.set()
            await tick_task
        return e, time.monotonic() - started, ticks

    thread = threading.Thread(target=in_thread)
    thread.start()
    e, elapsed, ticks = asyncio.run(main())
    thread.join(timeout=DEADLINE + 5)
    assert_error(e, passmint.TimeoutError, "TIMEOUT", app_service.identity_header)
    assert DEADLINE - 1 <= elapsed <= DEADLINE + 3, elapsed
    assert ticks >= elapsed * 100 * 0.5, (ticks, elapsed)  # ~100 ticks a second when unblocked
    assert len(sync_result) == 1 and isinstance(sync_result[0], passmint.TimeoutError)
    assert len(route_requests(app_service, APPSERVICE)) == 1  # the waiters shared one fetch


# --- single flight ------------------------------------------------------------------------------------

def cold_provider(kind: str, mock) -> tuple[passmint.Provider, str]:
    """A provider of ``kind`` whose identity endpoint answers after 0.3 s, and that route."""
    route = APPSERVICE if kind == "azure" else CONTAINER
    mock.fault(route, delay=0.3)
    if kind == "azure":
        return passmint.azure(credential="managed"), route
    return passmint.dsql(DSQL_HOST), route


@pytest.mark.parametrize("kind", ["dsql", "azure"])
def test_50_threads_on_a_cold_cache_cause_one_identity_request(kind, aws, app_service):
    p, route = cold_provider(kind, aws)
    barrier = threading.Barrier(50)
    results: list[str] = []

    def worker():
        barrier.wait()
        results.append(p.token())

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 50 and len(set(results)) == 1
    assert len(route_requests(aws, route)) == 1


@pytest.mark.parametrize("kind", ["dsql", "azure"])
def test_500_tasks_on_a_cold_cache_cause_one_identity_request(kind, aws, app_service):
    p, route = cold_provider(kind, aws)

    async def main():
        infos = await asyncio.gather(*[p.token_info_async() for _ in range(250)],
                                     *[p.token_async() for _ in range(250)])
        return {i if isinstance(i, str) else i.secret for i in infos}

    assert len(asyncio.run(main())) == 1
    assert len(route_requests(aws, route)) == 1


def test_several_event_loops(app_service):
    """asyncio.run twice, then a loop per thread, all on one provider: one identity request."""
    p, route = cold_provider("azure", app_service)
    first = run(p.token_async)
    assert run(p.token_async) == first

    other = passmint.azure(credential="managed", user="x")
    results: list[str] = []
    barrier = threading.Barrier(8)

    def loop_in_thread():
        async def main():
            return await asyncio.gather(other.token_async(), other.token_async())

        barrier.wait()
        results.extend(asyncio.run(main()))

    threads = [threading.Thread(target=loop_in_thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 16 and len(set(results)) == 1
    assert len(route_requests(app_service, route)) == 2  # one per provider


def test_a_cache_hit_is_answered_on_the_loop_without_a_thread_hop(aws):
    p = passmint.dsql(DSQL_HOST)
    secret = p.token()

    async def main():
        # Its first step finishes it: awaiting a hit never yields to the loop.
        try:
            p.token_async().send(None)
        except StopIteration as done:
            return done.value
        return None

    assert asyncio.run(main()) == secret


def test_a_blocking_get_inside_a_callback_fetches_at_once(aws, app_service):
    """Review finding 4, from Python: a blocking token() of a cold provider called from a callback
    of a cold token_async() future. Python callbacks run on the loop's thread (passmint hands the
    outcome over with call_soon_threadsafe), so the fetch starts at once."""
    outer = passmint.azure(credential="managed")
    inner = passmint.dsql(DSQL_HOST, user="app")
    seen: list[tuple[str, float]] = []

    def callback(fut: asyncio.Future) -> None:
        started = time.monotonic()
        seen.append((inner.token(), time.monotonic() - started))

    async def main() -> None:
        fut = asyncio.ensure_future(outer.token_async())
        fut.add_done_callback(callback)
        await fut
        await asyncio.sleep(0)  # the callback runs on the next turn of the loop

    asyncio.run(main())
    [(token, took)] = seen
    assert token.startswith(f"{DSQL_HOST}/?Action=DbConnect&") and took < 2, took


# --- fork and spawn -------------------------------------------------------------------------------------

def _mint_in_child(provider: passmint.Provider, conn) -> None:
    try:
        conn.send({"token": provider.token(), "async": run(provider.token_async), "pid": os.getpid()})
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def _mint_from_url_in_child(url: str, conn) -> None:
    _mint_in_child(passmint.Provider(url), conn)


def test_os_fork_child_mints(app_service):
    warm = passmint.azure(credential="managed")
    parent_token = warm.token()  # passmint's runtime threads exist in the parent now
    cold = passmint.azure(credential="managed", user="child")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on
        status = 1
        try:
            out = {"warm": warm.token(), "cold": cold.token(), "async": run(cold.token_async)}
            os.write(write, json.dumps(out).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    out = json.loads(data)
    assert out["warm"] == parent_token                    # the inherited cache still serves
    assert out["cold"] == out["async"] != parent_token    # the child fetched on its own runtime
    assert len(route_requests(app_service, APPSERVICE)) == 2


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_child_mints(method, aws):
    parent = passmint.dsql(DSQL_HOST, user="app")
    parent_token = parent.token()
    ctx = multiprocessing.get_context(method)
    recv, send = ctx.Pipe(duplex=False)
    if method == "fork":
        child = ctx.Process(target=_mint_in_child, args=(passmint.dsql(DSQL_HOST, user="app"), send))
    else:
        child = ctx.Process(target=_mint_from_url_in_child, args=(f"dsql://{DSQL_HOST}?user=app", send))
    child.start()
    send.close()
    assert recv.poll(60), "the child sent nothing"
    out = recv.recv()
    child.join(timeout=30)
    assert child.exitcode == 0 and "error" not in out, out
    assert out["pid"] != os.getpid()
    assert out["token"] == out["async"] and out["token"] != parent_token
    assert out["token"].startswith(f"{DSQL_HOST}/?Action=DbConnect&")
    assert len(route_requests(aws, CONTAINER)) == 2  # the parent's fetch and the child's


FORKS = int(os.environ.get("PASSMINT_FORKS", "200"))


@pytest.mark.parametrize("kind", ["dsql", "azure"])
def test_children_forked_during_a_first_fetch_never_hang(kind, aws, app_service):
    """Review finding 1, the gunicorn --preload pattern, 200 times: a fresh process's first fetch
    is in flight in a thread when os.fork() happens, at points spread over 60 ms of a 40 ms fetch
    (harness/fork_stress.py). Every child's blocking and async gets end within the deadline, the
    future completes, and with the fork gate every child gets its tokens."""
    url = f"dsql://{DSQL_HOST}?user=app" if kind == "dsql" else "azure://?credential=managed"
    (aws if kind == "dsql" else app_service).fault(CONTAINER if kind == "dsql" else APPSERVICE, delay=0.04)
    r = subprocess.run([sys.executable, "-m", "harness.fork_stress", url, str(FORKS), "60"],
                       cwd=os.path.dirname(os.path.dirname(__file__)), capture_output=True, text=True, timeout=FORKS + 120,
                       check=False)
    assert r.returncode == 0, r.stderr[-4000:]
    outcome = json.loads(r.stdout.splitlines()[-1])
    print(outcome)
    assert outcome.get("ok") == FORKS, outcome


# --- nothing leaks ------------------------------------------------------------------------------------------

def test_no_token_in_a_process_output_or_its_failures(app_service, tmp_path):
    """A child that mints, prints what passmint shows about tokens and errors, and fails on
    purpose: its stdout and stderr carry no token (PASSMINT_LOG on, in case it ever logs)."""
    script = """
import asyncio, passmint
p = passmint.azure(credential="managed")
info = p.token_info()
print(repr(info), str(info), repr(p))
async def main():
    return await p.token_info_async()
print(asyncio.run(main()))
try:
    passmint.azure(credential="managed", client_id="11111111-2222-4333-8444-555555555555", scope="bad scope").token()
except passmint.Error as e:
    print(repr(e))
raise SystemExit(str(passmint.Provider("dsql://nowhere")))
"""
    env = {**os.environ, "PASSMINT_LOG": "trace", "RUST_LOG": "trace", "RUST_BACKTRACE": "1"}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 1 and "Provider" in r.stdout, (r.stdout, r.stderr)
    issued = [i["access_token"] for i in app_service.issued() if "access_token" in i]
    assert issued
    for secret in issued + app_service.issued_secrets():
        assert secret not in r.stdout and secret not in r.stderr


STATUS_KEYS = {"cached", "expires_at", "next_refresh_at", "consecutive_failures", "last_error_kind",
               "last_error_message", "credential"}


def test_status_reports_the_cached_token_and_the_credential(aws, app_service):
    p = passmint.dsql(DSQL_HOST, user="app")
    before = p.status()
    assert set(before) == STATUS_KEYS
    assert before == {"cached": False, "expires_at": None, "next_refresh_at": None, "consecutive_failures": 0,
                      "last_error_kind": None, "last_error_message": None, "credential": None}
    token = p.token_info()
    after = p.status()
    assert after["cached"] and after["expires_at"] == token.expires_at
    assert time.time() < after["next_refresh_at"] < token.expires_at
    assert after["credential"] == "AWS credentials (EcsContainer)"
    azure = passmint.azure(credential="managed")
    azure.token()
    assert azure.status()["credential"] == "managed identity (App Service)"


def test_status_shows_a_failing_fetch_and_clears_it(app_service):
    app_service.fault(APPSERVICE, status=503, times=1)
    p = passmint.azure(credential="managed")
    with pytest.raises(passmint.ProviderResponseError):
        p.token()
    s = p.status()
    assert (s["cached"], s["consecutive_failures"], s["last_error_kind"]) == (False, 1, "PROVIDER_RESPONSE")
    assert "503" in s["last_error_message"] and s["next_refresh_at"] > time.time() - 1
    assert app_service.identity_header not in repr(s)
    time.sleep(max(0, s["next_refresh_at"] - time.time()) + 1.1)  # the backoff: 0.5–1 s
    p.token()
    s = p.status()
    assert (s["cached"], s["consecutive_failures"], s["last_error_kind"]) == (True, 0, None)


def test_token_async_works_wherever_a_coroutine_does(aws):
    """Review of issue 17: ``token_async()`` is bound to no loop until awaited."""
    p = passmint.dsql(DSQL_HOST, user="app")
    early = p.token_async()  # made before any loop runs
    first = asyncio.run(p.token_async())  # a miss, run as a coroutine
    assert asyncio.run(early) == first  # a hit, awaited on another loop than the first's
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(p.token_async()) == first
        assert loop.run_until_complete(p.token_info_async()).secret == first
    finally:
        loop.close()

    async def tasks():
        made = [asyncio.create_task(p.token_async()) for _ in range(10)]
        return await asyncio.gather(*made)

    assert set(asyncio.run(tasks())) == {first}
    awaited = p.token_async()
    asyncio.run(_await(awaited))
    with pytest.raises(RuntimeError, match="already awaited"):
        asyncio.run(_await(awaited))


async def _await(aw):
    return await aw


def test_cancelling_an_awaited_miss_leaves_the_provider_usable(app_service):
    app_service.fault(APPSERVICE, delay=1.0, times=1)
    p = passmint.azure(credential="managed")

    async def cancelled():
        task = asyncio.create_task(p.token_async())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await p.token_async()

    assert isinstance(asyncio.run(cancelled()), str)


def test_the_provider_names_its_host():
    assert passmint.dsql("abc123example", region="us-east-1").host == "abc123example.dsql.us-east-1.on.aws"
    assert passmint.rds(RDS_HOST, user="app").host == RDS_HOST
    assert passmint.azure(credential="managed").host is None
