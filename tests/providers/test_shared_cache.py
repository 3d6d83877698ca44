"""The shared token cache (issue 18): one identity request per token lifetime for every process
of this user on this host that uses the same provider configuration and identity, the CLI by
default; a private directory whose every file is checked before it is read; a token never
trusted past the expiry it states; and the faults a shared file can meet (a killed fetcher, a
truncated file, a full disk)."""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import bins
from harness.native import route_requests

MANAGED = "azure://?credential=managed"
DSQL = "dsql://abc123example.dsql.us-east-1.on.aws"
APPSERVICE = "azure-appservice"
WARNING = "the shared token cache is not used"


@pytest.fixture
def env(mock, hermetic_env):
    """App Service managed identity and container credentials from the mock; warnings on stderr."""

    def make(**overrides):
        return hermetic_env(**{
            "IDENTITY_ENDPOINT": mock.http_url + "/azure/appservice/token",
            "IDENTITY_HEADER": mock.identity_header,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": mock.http_url + "/aws/container-credentials",
            "PASSMINT_LOG": "warn",
            **overrides})

    return make


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "passmint"


def token(env: dict[str, str], *args: str, url: str = MANAGED) -> dict:
    r = bins.cli(["token", "--json", *args, url], env)
    assert r.returncode == 0, r.stderr
    return {**json.loads(r.stdout), "stderr": r.stderr}


def entries(env: dict[str, str]) -> list[Path]:
    return sorted(cache_dir(env).glob("*.json"))


# --- one request for many runs ---------------------------------------------------------------

def test_a_hundred_cli_runs_make_one_identity_request(mock, env):
    e = env()
    secrets = {token(e)["token"] for _ in range(100)}
    assert len(secrets) == 1
    assert len(route_requests(mock, APPSERVICE)) == 1
    # DSQL: the container credentials are fetched once, and the signed token is shared too.
    signed = {token(e, url=DSQL)["token"] for _ in range(20)}
    assert len(signed) == 1
    assert len(route_requests(mock, "container")) == 1
    # What is on disk: a 0700 directory of this user, 0600 files.
    d = cache_dir(e)
    assert d.stat().st_mode & 0o777 == 0o700 and d.stat().st_uid == os.geteuid()
    for f in d.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f


def test_no_cache_and_the_environment_switch_turn_it_off(mock, env):
    e = env()
    for _ in range(3):
        token(e, "--no-cache")
    off = env(PASSMINT_SHARED_CACHE="0")
    for _ in range(2):
        token(off)
    assert len(route_requests(mock, APPSERVICE)) == 5
    assert entries(e) == [] and entries(off) == []


def test_cache_clear_empties_the_directory(mock, env):
    e = env()
    token(e)
    token(e, url=DSQL)
    r = bins.cli(["cache", "clear"], e)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("removed 4 files from ") and str(cache_dir(e)) in r.stdout
    assert list(cache_dir(e).iterdir()) == []
    token(e)
    assert len(route_requests(mock, APPSERVICE)) == 2
    assert bins.cli(["cache", "wipe"], e).returncode == 2


def test_different_identities_and_configurations_never_share(mock, env):
    base = env()
    a = token(env(AZURE_CLIENT_ID="11111111-1111-1111-1111-111111111111", XDG_RUNTIME_DIR=base["XDG_RUNTIME_DIR"]))
    b = token(env(AZURE_CLIENT_ID="22222222-2222-2222-2222-222222222222", XDG_RUNTIME_DIR=base["XDG_RUNTIME_DIR"]))
    c = token(base, url="azure://?credential=managed&user=other_role")
    d = token(base)
    assert len({a["token"], b["token"], c["token"], d["token"]}) == 4
    assert len(route_requests(mock, APPSERVICE)) == 4
    assert len(entries(base)) == 4


# --- many processes at once ------------------------------------------------------------------

PREFORK = """
import os, sys, passmint
# As gunicorn --preload or celery prefork do: the provider is made in the parent, the workers
# are forked from it and each asks for a token on its own.
p = passmint.Provider(sys.argv[1], shared_cache=True)
workers = []
for _ in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        try:
            os.write(1, (p.token() + "\\n").encode())
        finally:
            os._exit(0)
    workers.append(pid)
for pid in workers:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
"""


def start_many(e: dict[str, str], n: int) -> list[str]:
    r = subprocess.run([sys.executable, "-c", PREFORK, MANAGED, str(n)], env=e, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    tokens = r.stdout.split()
    assert len(tokens) == n, r.stdout
    return tokens


def test_64_prefork_workers_on_a_cold_cache_make_one_request_then_one_per_refresh(mock, env):
    e = env()
    mock.set_credential_lifetime(APPSERVICE, 62)  # refreshed 31 s after it was fetched
    mock.fault(APPSERVICE, delay=0.5, times=1)  # all 64 arrive while the first fetch is in flight
    first = start_many(e, 64)
    assert len(set(first)) == 1
    assert len(route_requests(mock, APPSERVICE)) == 1
    time.sleep(32)
    second = start_many(e, 64)
    assert len(set(second)) == 1 and second[0] != first[0]
    assert len(route_requests(mock, APPSERVICE)) == 2


# --- what is refused -------------------------------------------------------------------------

def refused(mock, e: dict[str, str], before: int) -> str:
    """A run that must not read the cache: it fetches itself and warns once."""
    r = bins.cli(["token", MANAGED], e)
    assert r.returncode == 0, r.stderr
    assert len(route_requests(mock, APPSERVICE)) == before + 1, "the cache was read"
    assert r.stderr.count(WARNING) == 1, r.stderr
    return r.stderr


def test_a_directory_others_can_enter_or_a_symlink_is_refused(mock, env, tmp_path):
    e = env()
    token(e)
    d = cache_dir(e)
    d.chmod(0o755)
    assert "lets other users in" in refused(mock, e, 1)
    d.chmod(0o700)
    token(e)
    assert len(route_requests(mock, APPSERVICE)) == 2, "back to private: read again"
    # A symlink in its place (someone else's directory, say) is not followed.
    elsewhere = tmp_path / "elsewhere"
    d.rename(elsewhere)
    d.symlink_to(elsewhere)
    assert "not a directory" in refused(mock, e, 2)


def test_files_others_could_read_or_symlinks_are_refused(mock, env, tmp_path):
    e = env()
    token(e)
    [entry] = entries(e)
    entry.chmod(0o644)
    assert "lets other users in" in refused(mock, e, 1)
    entry.unlink()
    token(e)  # rewritten, 0600
    [entry] = entries(e)
    assert entry.stat().st_mode & 0o777 == 0o600
    planted = tmp_path / "planted.json"
    planted.write_bytes(entry.read_bytes())
    planted.chmod(0o600)
    entry.unlink()
    entry.symlink_to(planted)
    assert "cannot be opened" in refused(mock, e, 3)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_directory_or_file_of_another_user_is_refused(mock, env):
    e = env()
    token(e)
    d = cache_dir(e)
    [entry] = entries(e)
    os.chown(entry, 65534, 65534)
    assert "belongs to uid 65534" in refused(mock, e, 1)
    os.chown(entry, 0, 0)
    os.chown(d, 65534, 65534)
    assert "belongs to uid 65534" in refused(mock, e, 2)


def test_an_edited_expiry_is_held_to_what_the_token_states(mock, env):
    e = env()
    for url in (MANAGED, DSQL):
        first = token(e, url=url)
        [entry] = [p for p in entries(e) if json.loads(p.read_text())["token"] == first["token"]]
        record = json.loads(entry.read_text())
        record["expires_at_ms"] += 86_400_000  # a day longer than the token says
        entry.write_text(json.dumps(record))
        again = token(e, url=url)
        assert again["token"] == first["token"]
        assert again["expires_at"] == first["expires_at"], "not a second past what the token states"
    # A token whose own expiry is past is never served, whatever the file says.
    [azure_entry] = [p for p in entries(e) if json.loads(p.read_text())["kind"] == "azure"]
    record = json.loads(azure_entry.read_text())
    header, claims, sig = record["token"].split(".")
    pad = "=" * (-len(claims) % 4)
    body = json.loads(base64.urlsafe_b64decode(claims + pad))
    body["exp"] = int(time.time()) - 10
    record["token"] = ".".join([header, base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("="), sig])
    azure_entry.write_text(json.dumps(record))
    before = len(route_requests(mock, APPSERVICE))
    token(e)
    assert len(route_requests(mock, APPSERVICE)) == before + 1


# --- faults ----------------------------------------------------------------------------------

def test_a_fetcher_killed_mid_fetch_hands_over_to_the_waiters(mock, env):
    e = env()
    mock.fault(APPSERVICE, delay=3.0, times=1)
    killed = subprocess.Popen([str(bins.PASSMINT), "token", MANAGED], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while not route_requests(mock, APPSERVICE) and time.time() < deadline:
        time.sleep(0.02)  # it holds the lock once its request is in flight
    started = time.monotonic()
    waiter = subprocess.Popen([str(bins.PASSMINT), "token", MANAGED], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert time.monotonic() - started < 10.5, "within the deadline"
    assert out.strip()
    assert len(route_requests(mock, APPSERVICE)) == 2


def test_a_truncated_or_foreign_file_is_ignored_and_rewritten(mock, env):
    e = env()
    first = token(e)
    [entry] = entries(e)
    whole = entry.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"", b"\x00" * 64, json.dumps({"v": 99}).encode()):
        entry.write_bytes(damaged)
        again = token(e)
        assert again["token"] and WARNING not in again["stderr"]
        assert json.loads(entry.read_text())["v"] == 1, "rewritten"
    assert len(route_requests(mock, APPSERVICE)) == 5
    assert first["token"] != again["token"]


def test_a_full_disk_falls_back_to_fetching_alone_with_one_warning(mock, env):
    e = env()

    def no_room():  # writes beyond 0 bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    for n in (1, 2):
        r = subprocess.run([str(bins.PASSMINT), "token", MANAGED], check=False, env=e, capture_output=True,
                           text=True, preexec_fn=no_room, timeout=30)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr
        assert r.stderr.count(WARNING) == 1, r.stderr
        assert len(route_requests(mock, APPSERVICE)) == n
    assert entries(e) == []


# --- the switches in every language ----------------------------------------------------------

def test_the_python_switches_and_the_url_parameter(mock, env):
    import passmint

    assert passmint.Provider(MANAGED).shared_cache is False
    assert passmint.Provider(MANAGED, shared_cache=True).shared_cache is True
    assert passmint.Provider(MANAGED + "&shared_cache=1").shared_cache is True
    assert passmint.Provider(MANAGED + "&shared_cache=1", shared_cache=False).shared_cache is False
    assert passmint.dsql("abc123example.dsql.us-east-1.on.aws", shared_cache=True).shared_cache is True
    assert passmint.azure(credential="managed", shared_cache=True).shared_cache is True
    with pytest.raises(passmint.InvalidConfigError, match="shared_cache=maybe"):
        passmint.Provider("azure://?shared_cache=maybe")
    with pytest.raises(passmint.InvalidConfigError, match="credentials of your own"):
        passmint.dsql("abc123example.dsql.us-east-1.on.aws", shared_cache=True,
                      credentials=lambda: {"access_key_id": "AKIA", "secret_access_key": "s"})
    # The URL parameter (what C and Go pass) shares between processes: two runs of the mint
    # example, one request.
    e = env()
    for _ in range(2):
        [minted] = bins.mint(MANAGED + "&shared_cache=1", e)
        assert minted.get("error") is None, minted
    assert len(route_requests(mock, APPSERVICE)) == 1
    # PASSMINT_SHARED_CACHE=1 turns it on without a code change; =0 wins over everything.
    for value, want in (("1", True), ("0", False)):
        os.environ["PASSMINT_SHARED_CACHE"] = value
        try:
            assert passmint.Provider(MANAGED).shared_cache is want
            assert passmint.Provider(MANAGED, shared_cache=True).shared_cache is want
        finally:
            del os.environ["PASSMINT_SHARED_CACHE"]
