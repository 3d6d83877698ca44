"""`vault://` against the harness's Vault (harness/vault.py), with hvac as the reference: the
same requests for each auth method and kind of secret; leases renewed before their end, replaced
when not renewable or capped; new connections take the new lease's role while pooled sessions
continue; typed errors without secrets."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from harness import bins, vaultref

READERS = "vault_app_readers"


@pytest.fixture
def vault(mock):
    return mock.vault


@pytest.fixture
def vault_env(mock, hermetic_env):
    def make(**overrides):
        return hermetic_env(**{"VAULT_ADDR": mock.https_url, "VAULT_CACERT": str(mock.ca_pem), **overrides})

    return make


@pytest.fixture
def vault_pg(mock, pg):
    pg.sql(f"""
        SELECT 'CREATE ROLE {READERS} NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READERS}') \\gexec
        CREATE TABLE IF NOT EXISTS vault_check (x int);
        GRANT SELECT ON vault_check TO {READERS};
        INSERT INTO vault_check SELECT 42 WHERE NOT EXISTS (SELECT FROM vault_check);
    """)
    mock.vault.attach_postgres(pg)
    return pg


@pytest.fixture
def app_token(vault):
    vault.add_policy("app-creds", {"database/creds/app": ["read"], "database/static-creds/*": ["read"],
                                   "secret/data/*": ["read"]})
    return vault.add_token(["app-creds"])


def vault_requests(mock, during) -> list[dict]:
    before = len(mock.requests())
    during()
    return [vaultref.shape(r) for r in mock.requests()[before:] if str(r["route"]).startswith("vault-")]


def cli(url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return bins.cli(["token", "--json", "--no-cache", url], env)


def token(url: str, env: dict[str, str]) -> dict:
    r = cli(url, env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def same_as_hvac(mock, ours, op: str, **kw) -> list[dict]:
    mine = vault_requests(mock, ours)
    theirs = vault_requests(mock, lambda: vaultref.run(op, mock.https_url, mock.ca_pem, **kw))
    assert mine == theirs
    return mine


# --- requests, as hvac sends them -----------------------------------------------------------


def test_token_auth_credentials_are_hvacs_requests(mock, vault, app_token, vault_env):
    vault.add_db_role("app")
    env = vault_env(VAULT_TOKEN=app_token)
    got: dict = {}
    [req] = same_as_hvac(mock, lambda: got.update(token("vault:///database/creds/app", env)), "creds",
                         token=app_token, role="app")
    assert (req["route"], req["path"]) == ("vault-creds", "/v1/database/creds/app")
    [lease] = [le for le in mock.vault_issued() if le["password"] == got["token"]]
    assert (got["username"], got["provider"]) == (lease["username"], "vault")
    assert abs(got["expires_at"] - lease["expires_at"]) <= 2


def test_kubernetes_and_approle_logins_are_hvacs(mock, vault, app_token, vault_env, tmp_path):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["app-creds"], mount="k8s-prod")
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text(jwt)
    env = vault_env()
    url = f"vault:///database/creds/app?auth=kubernetes&role=web&auth_mount=k8s-prod&jwt_file={jwt_file}"
    login, _ = same_as_hvac(mock, lambda: token(url, env), "creds", auth="kubernetes", login_role="web",
                                auth_mount="k8s-prod", jwt=jwt, role="app")
    assert (login["path"], login["body"]) == ("/v1/auth/k8s-prod/login", {"role": "web", "jwt": jwt})
    role_id, secret_id = vault.add_approle("ci", ["app-creds"])
    sid = tmp_path / "sid"
    sid.write_text(secret_id + "\n")
    url = f"vault:///database/creds/app?auth=approle&role_id={role_id}&secret_id_file={sid}"
    login, _ = same_as_hvac(mock, lambda: token(url, env), "creds", auth="approle", role_id=role_id,
                            secret_id=secret_id, role="app")
    assert login["body"] == {"role_id": role_id, "secret_id": secret_id}


def test_static_credentials_kv_and_namespace(mock, vault, app_token, vault_env, vault_pg):
    vault.add_static_role("reporting", "vault_static_reporting", rotation_period=3600)
    env = vault_env(VAULT_TOKEN=app_token)
    got = token("vault:///database/static-creds/reporting", env)
    assert got["username"] == "vault_static_reporting"
    assert got["expires_at"] == pytest.approx(time.time() + 3600, abs=5)
    vault.put_kv("secret", "prod/db", {"username": "kv_user", "password": "kv-password-value-1"})
    got = token("vault:///secret/data/prod/db", env)
    assert (got["token"], got["username"]) == ("kv-password-value-1", "kv_user")
    same_as_hvac(mock, lambda: token("vault:///secret/data/prod/db", env), "kv", token=app_token,
                 mount="secret", path="prod/db")
    # A namespace, from VAULT_NAMESPACE as the CLI reads it, or from the URL.
    vault.add_namespace("team-a")
    vault.add_policy("ns-creds", {"database/creds/app": ["read"]})
    vault.add_db_role("app", namespace="team-a")
    ns_token = vault.add_token(["ns-creds"], namespace="team-a")
    [req] = same_as_hvac(mock, lambda: token("vault:///database/creds/app",
                                             vault_env(VAULT_TOKEN=ns_token, VAULT_NAMESPACE="team-a")),
                         "creds", token=ns_token, namespace="team-a", role="app")
    assert req["x-vault-namespace"] == "team-a"
    assert token("vault:///database/creds/app?namespace=team-a", vault_env(VAULT_TOKEN=ns_token))["provider"] == "vault"


# --- leases ---------------------------------------------------------------------------------


def provider(monkeypatch, env: dict[str, str], url: str):
    import passmint

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return passmint.Provider(url)


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_renewable_lease_is_renewed_before_its_end(mock, vault, app_token, vault_env, monkeypatch):
    vault.add_db_role("app", default_ttl=6, max_ttl=600)
    p = provider(monkeypatch, vault_env(VAULT_TOKEN=app_token), "vault:///database/creds/app")
    first = p.token_info()
    wait_for(lambda: p.token_info().expires_at > first.expires_at)
    renewed = p.token_info()
    assert (renewed.secret, renewed.username) == (first.secret, first.username)
    [lease] = vault.leases()
    assert lease["renewals"] and not lease["revoked"]
    renew = next(r for r in mock.requests() if r["route"] == "vault-renew")
    assert vaultref.shape(renew)["body"] == {"lease_id": "database/creds/app/…", "increment": None}


@pytest.mark.parametrize("how", ["not renewable", "capped by max_ttl"])
def test_a_lease_that_cannot_be_renewed_for_its_term_is_replaced(mock, vault, app_token, vault_env, monkeypatch, how):
    if how == "not renewable":
        vault.add_db_role("app", default_ttl=6, max_ttl=600, renewable=False)
    else:
        vault.add_db_role("app", default_ttl=6, max_ttl=8)
    p = provider(monkeypatch, vault_env(VAULT_TOKEN=app_token), "vault:///database/creds/app")
    first = p.token_info()
    wait_for(lambda: p.token_info().username != first.username)
    assert p.token_info().secret != first.secret
    assert len(vault.leases()) == 2
    # The old lease is left to end on its own: its role serves pooled sessions until then.
    assert vault.leases()[0]["revoked_by"] != "api"


def test_new_connections_use_the_new_role_while_pooled_sessions_continue(mock, vault, app_token, vault_env, vault_pg,
                                                                         monkeypatch):
    import passmint.psycopg

    vault.add_db_role("app", default_ttl=6, max_ttl=600, renewable=False, member_of=[READERS])
    p = provider(monkeypatch, vault_env(VAULT_TOKEN=app_token), "vault:///database/creds/app")
    Connection = passmint.psycopg.connection_class(p)
    conninfo = f"host=localhost port={vault_pg.port} dbname=postgres sslrootcert={vault_pg.ca_pem}"
    with Connection.connect(conninfo) as pooled:
        first = pooled.execute("select current_user").fetchone()[0]
        assert first == vault.leases()[0]["username"]
        # Leases are renewed or replaced when a caller needs a token, as any token is refreshed.
        wait_for(lambda: p.token() and len(vault.leases()) == 2)
        with Connection.connect(conninfo) as fresh:
            assert fresh.execute("select current_user").fetchone()[0] == vault.leases()[1]["username"] != first
            assert fresh.execute("select x from vault_check").fetchone()[0] == 42
        # The first lease ends and Vault drops its role: the pooled session goes on.
        wait_for(lambda: vault.leases()[0]["revoked"])
        assert pooled.execute("select 1").fetchone()[0] == 1


# --- errors ---------------------------------------------------------------------------------


def test_errors_are_typed_and_name_the_fix(mock, vault, app_token, vault_env, tmp_path):
    vault.add_db_role("app")
    env = vault_env(VAULT_TOKEN=app_token)
    cases = [
        ("vault:///database/creds/other", env, "AUTHENTICATION_FAILED", "permission denied"),
        ("vault:///nope/creds/app", vault_env(VAULT_TOKEN=vault.root_token), "CREDENTIAL_UNAVAILABLE", "nothing at"),
        ("vault:///database/creds/app", vault_env(), "CREDENTIAL_UNAVAILABLE", "VAULT_TOKEN"),
        ("vault:///database/creds/app", vault_env(VAULT_TOKEN=app_token, VAULT_SKIP_VERIFY="true", VAULT_CACERT=None), "INVALID_CONFIG",
         "VAULT_CACERT"),
        ("vault:///database/creds/app", vault_env(VAULT_ADDR="http://vault.example:8200"), "INVALID_CONFIG", "https://"),
        ("vault:///database/app", env, "INVALID_CONFIG", "<mount>/creds/<role>"),
        (f"vault:///database/creds/app?auth=approle&role_id=x&secret_id_file={tmp_path / 'none'}", env,
         "CREDENTIAL_UNAVAILABLE", "secret id"),
    ]
    for url, e, code, says in cases:
        r = cli(url, e)
        assert r.returncode != 0 and code in r.stderr and says in r.stderr, (url, r.stderr)
        assert app_token not in r.stderr
    vault.sealed = True
    r = cli("vault:///database/creds/app", env)
    assert "NETWORK" in r.stderr and "sealed" in r.stderr, r.stderr
