"""The harness's Vault emulation (harness/vault.py) against the official client, hvac.

hvac sends every request the emulation expects (method, path, query, X-Vault-Request,
X-Vault-Token, X-Vault-Namespace, JSON bodies, as recorded by the mock) and accepts every answer:
database dynamic and static credentials, lease renewal (capped or not) and revocation, KV v2,
kubernetes and AppRole logins, token self-service, and Vault's errors as hvac's exceptions. The
credentials log into the harness PostgreSQL over verified TLS; revocation and lease end drop the
role, as Vault's PostgreSQL plugin does: new logins fail, open sessions stay (without the
role's grants). The reference runner (harness/vaultref.py), which passmint's own requests will be
compared with, is checked here too."""

from __future__ import annotations

import json
import re
import time
import uuid

import hvac
import hvac.exceptions
import psycopg
import pytest
from harness import vault as hv
from harness import vaultref
from harness.client import control, fetch

ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
# Greedy: a display name or role cut to 8 characters may hold a dash itself.
USERNAME = re.compile(r"v-(?P<display>.{1,8})-(?P<role>.{1,8})-[A-Za-z0-9]{20}-(?P<unix>\d{10})")
PASSWORD = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])(?=.*-)[A-Za-z0-9-]{20}")
READERS = "vault_app_readers"


def client(mock, token: str | None = None, **kw) -> hvac.Client:
    return hvac.Client(url=mock.https_url, token=token, verify=str(mock.ca_pem), **kw)


def vault_requests(mock, during) -> list[dict]:
    before = len(mock.requests())
    during()
    return [r for r in mock.requests()[before:] if str(r["route"]).startswith("vault-")]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def connect(pg, username: str, password: str) -> psycopg.Connection:
    return psycopg.connect(pg.dsn(username, password), autocommit=True)


def refused(pg, username: str, password: str) -> str:
    with pytest.raises(psycopg.OperationalError) as e:
        connect(pg, username, password).close()
    return str(e.value)


def role_exists(pg, name: str) -> bool:
    return pg.sql("SELECT count(*) FROM pg_roles WHERE rolname = :'name'\n", name=name) == "1"


@pytest.fixture
def vault(mock):
    return mock.vault


@pytest.fixture
def vault_pg(mock, pg):
    """The mock's Vault making its users in the harness PostgreSQL; members of READERS can read
    table vault_check."""
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
    """A token that may read database/creds/app (and, by the default policy, renew leases)."""
    vault.add_policy("app-creds", {"database/creds/app": ["read"]})
    return vault.add_token(["app-creds"])


# --- dynamic database credentials -----------------------------------------------------------


def test_token_auth_reads_dynamic_credentials(mock, vault, app_token):
    vault.add_db_role("app", default_ttl=600, max_ttl=3600)
    answer: dict = {}
    [req] = vault_requests(mock, lambda: answer.update(client(mock, app_token).secrets.database.generate_credentials("app")))

    assert (req["route"], req["method"], req["path"], req["query"], req["body"], req["tls"]) == \
        ("vault-creds", "GET", "/v1/database/creds/app", "", "", True)
    assert req["headers"]["x-vault-request"] == "true" and req["headers"]["x-vault-token"] == app_token
    assert "x-vault-namespace" not in req["headers"]

    assert set(answer) == ENVELOPE | {"mount_type"} and answer["mount_type"] == "database"
    assert re.fullmatch(r"database/creds/app/[A-Za-z0-9]{24}", answer["lease_id"])
    assert (answer["renewable"], answer["lease_duration"], answer["auth"], answer["warnings"]) == (True, 600, None, None)
    creds = answer["data"]
    assert set(creds) == {"username", "password"} and PASSWORD.fullmatch(creds["password"])
    name = USERNAME.fullmatch(creds["username"])
    assert name and name["display"] == "token" and name["role"] == "app"
    assert abs(int(name["unix"]) - time.time()) < 60

    [lease] = mock.vault_issued()
    assert (lease["lease_id"], lease["username"], lease["password"]) == (answer["lease_id"], creds["username"], creds["password"])
    assert lease["expires_at"] - lease["issued_at"] == pytest.approx(600) and lease["revoked"] is False
    assert lease["max_expires_at"] - lease["issued_at"] == pytest.approx(3600)


def test_credentials_log_in_and_revocation_drops_the_role(mock, vault, vault_pg):
    vault.add_db_role("app", member_of=[READERS])
    hvc = client(mock, vault.root_token)
    answer = hvc.secrets.database.generate_credentials("app")
    user, password = answer["data"]["username"], answer["data"]["password"]
    assert user.startswith("v-root-app-")

    session = connect(vault_pg, user, password)
    assert session.execute("SELECT current_user, (SELECT x FROM vault_check)").fetchone() == (user, 42)
    # The creation statement's VALID UNTIL is the lease's end, as Vault's PostgreSQL plugin sets it.
    until = float(vault_pg.sql("SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = :'n'\n", n=user))
    assert until == pytest.approx(mock.vault_issued()[0]["expires_at"], abs=1.5)

    [req] = vault_requests(mock, lambda: hvc.sys.revoke_lease(answer["lease_id"]))
    assert (req["route"], req["method"], req["path"]) == ("vault-revoke", "PUT", "/v1/sys/leases/revoke")
    assert req["headers"]["content-type"] == "application/json"
    assert vaultref.shape(req)["body"] == {"lease_id": "database/creds/app/…"}
    assert (req["body"], mock.requests()[-1]["faulted"]) == (f'{{"lease_id": "{answer["lease_id"]}"}}', False)
    [lease] = mock.vault_issued()
    assert (lease["revoked"], lease["revoked_by"], lease["revoke_error"]) == (True, "api", None)

    assert not role_exists(vault_pg, user)
    assert "password authentication failed" in refused(vault_pg, user, password)
    # Vault's PostgreSQL plugin terminates no session: the open one goes on, without the role's
    # grants (its group membership went with the role).
    assert session.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        session.execute("SELECT x FROM vault_check")
    session.close()


def test_custom_revocation_can_keep_sessions_whole(mock, vault, vault_pg):
    # A role's own revocation_statements replace the plugin's revoke-and-drop: NOLOGIN stops new
    # logins and leaves open sessions their grants (what a pool would want).
    vault.add_db_role("soft", member_of=[READERS], revocation_statements=['ALTER ROLE "{{name}}" NOLOGIN;'])
    answer = client(mock, vault.root_token).secrets.database.generate_credentials("soft")
    user, password = answer["data"]["username"], answer["data"]["password"]
    session = connect(vault_pg, user, password)
    vault.expire(answer["lease_id"])
    assert "not permitted to log in" in refused(vault_pg, user, password)
    assert session.execute("SELECT current_user, (SELECT x FROM vault_check)").fetchone() == (user, 42)
    session.close()
    vault_pg.sql('DROP ROLE :"n";\n', n=user)


def test_database_refusals_are_500s_without_the_password(mock, vault, vault_pg):
    broken = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' BOGUS;"
    vault.add_db_role("broken", creation_statements=[broken])
    vault.add_db_role("half", creation_statements=[hv.DEFAULT_CREATION, 'GRANT "no_such_group" TO "{{name}}";'])
    hvc = client(mock, vault.root_token)
    with pytest.raises(hvac.exceptions.InternalServerError) as e:
        hvc.secrets.database.generate_credentials("broken")
    [message] = e.value.errors
    assert 'role option "bogus"' in message and "PASSWORD '[password]' BOGUS" in message
    assert vault.secrets[-1] not in message
    with pytest.raises(hvac.exceptions.InternalServerError, match="no_such_group"):
        hvc.secrets.database.generate_credentials("half")
    # One transaction, as Vault runs the statements: no user was left behind, and no lease.
    assert vault_pg.sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-root-half-%'") == "0"
    assert mock.vault_issued() == []


def test_revoke_answers_204_and_is_idempotent(mock, vault):
    vault.add_db_role("app")
    hvc = client(mock, vault.root_token)
    lease_id = hvc.secrets.database.generate_credentials("app")["lease_id"]
    first = hvc.sys.revoke_lease(lease_id)
    assert (first.status_code, first.content, first.headers.get("content-type")) == (204, b"", None)
    # Vault revokes an unknown or already revoked lease without complaint.
    assert hvc.sys.revoke_lease(lease_id).status_code == 204
    assert hvc.sys.revoke_lease("database/creds/app/nosuchlease").status_code == 204


def test_lease_end_drops_the_role_and_sessions_go_on(mock, vault, vault_pg):
    vault.add_db_role("app", default_ttl=1, max_ttl=1, member_of=[READERS])
    hvc = client(mock, vault.root_token)
    answer = hvc.secrets.database.generate_credentials("app")
    assert answer["lease_duration"] == 1
    user, password = answer["data"]["username"], answer["data"]["password"]
    session = connect(vault_pg, user, password)

    # No request needed: the reaper thread ends it.
    wait_for(lambda: mock.vault_issued()[0]["revoked"])
    lease = mock.vault_issued()[0]
    assert lease["revoked_by"] == "expiry" and lease["revoked_at"] >= lease["expires_at"]
    assert not role_exists(vault_pg, user)
    assert "password authentication failed" in refused(vault_pg, user, password)
    assert session.execute("SELECT 1").fetchone() == (1,)
    session.close()
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        hvc.sys.renew_lease(answer["lease_id"])
    assert e.value.errors == ["lease not found"]


def test_expire_ends_a_lease_at_once(mock, vault, vault_pg):
    vault.add_db_role("app")
    answer = client(mock, vault.root_token).secrets.database.generate_credentials("app")
    vault.expire(answer["lease_id"])
    assert vault.lease(answer["lease_id"])["revoked_by"] == "expiry"
    assert not role_exists(vault_pg, answer["data"]["username"])


# --- renewal --------------------------------------------------------------------------------


def test_renewal_extends_the_lease_within_max_ttl(mock, vault, vault_pg):
    vault.add_db_role("app", default_ttl=60, max_ttl=3600)
    hvc = client(mock, vault.root_token)
    creds = hvc.secrets.database.generate_credentials("app")
    lease_id, user = creds["lease_id"], creds["data"]["username"]

    answers: list = []
    reqs = vault_requests(mock, lambda: answers.extend([hvc.sys.renew_lease(lease_id),
                                                        hvc.sys.renew_lease(lease_id, increment=120)]))
    assert [(r["route"], r["method"], r["path"]) for r in reqs] == [("vault-renew", "PUT", "/v1/sys/leases/renew")] * 2
    assert [vaultref.shape(r)["body"] for r in reqs] == [{"lease_id": "database/creds/app/…", "increment": None},
                                                         {"lease_id": "database/creds/app/…", "increment": 120}]
    assert all(r["headers"]["x-vault-token"] == vault.root_token for r in reqs)

    default, longer = answers
    assert set(default) == ENVELOPE
    assert (default["lease_id"], default["renewable"], default["lease_duration"], default["data"], default["warnings"]) == \
        (lease_id, True, 60, None, None)
    assert (longer["lease_duration"], longer["warnings"]) == (120, None)
    lease = vault.lease(lease_id)
    assert [(r["increment"], r["ttl"], r["capped"]) for r in lease["renewals"]] == [(0, 60, False), (120, 120, False)]
    assert lease["expires_at"] == pytest.approx(time.time() + 120, abs=2)
    # Renewal moves PostgreSQL's VALID UNTIL too (the plugin's renew statement).
    until = float(vault_pg.sql("SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = :'n'\n", n=user))
    assert until == pytest.approx(lease["expires_at"], abs=1.5)


def test_renewal_capped_by_max_ttl_warns(mock, vault):
    vault.add_db_role("app", default_ttl=60, max_ttl=90)
    hvc = client(mock, vault.root_token)
    lease_id = hvc.secrets.database.generate_credentials("app")["lease_id"]
    answer = hvc.sys.renew_lease(lease_id, increment=3600)
    left = answer["lease_duration"]
    assert 85 <= left <= 90
    warning = (f'TTL of "1h0m0s" exceeded the effective max_ttl of "{hv.go_duration(left)}"; '
               "TTL value is capped accordingly")
    assert answer["warnings"] == [warning]
    assert vault.lease(lease_id)["renewals"][-1]["capped"] is True
    # A capped renewal leaves it at the max: asking again grows nothing.
    again = hvc.sys.renew_lease(lease_id)
    assert again["lease_duration"] == 60 and again["warnings"] is None
    assert hvc.sys.renew_lease(lease_id, increment="1h")["lease_duration"] <= left


def test_renewal_refusals(mock, vault):
    vault.add_db_role("fixed", renewable=False)
    hvc = client(mock, vault.root_token)
    fixed = hvc.secrets.database.generate_credentials("fixed")
    assert fixed["renewable"] is False
    for lease_id, message in ((fixed["lease_id"], "lease is not renewable"),
                              ("database/creds/fixed/nosuchlease", "lease not found")):
        with pytest.raises(hvac.exceptions.InvalidRequest) as e:
            hvc.sys.renew_lease(lease_id)
        assert e.value.errors == [message]
    hvc.sys.revoke_lease(fixed["lease_id"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match="lease not found"):
        hvc.sys.renew_lease(fixed["lease_id"])


def test_lease_lookup(mock, vault):
    vault.add_db_role("app", default_ttl=300)
    hvc = client(mock, vault.root_token)
    lease_id = hvc.secrets.database.generate_credentials("app")["lease_id"]
    [req] = vault_requests(mock, lambda: hvc.sys.read_lease(lease_id))
    assert (req["route"], req["method"], req["path"]) == ("vault-lookup", "PUT", "/v1/sys/leases/lookup")
    data = hvc.sys.read_lease(lease_id)["data"]
    assert data["id"] == lease_id and data["renewable"] is True and 295 <= data["ttl"] <= 300
    assert data["last_renewal"] is None and data["expire_time"].endswith("Z")


# --- permissions, outages, missing things -------------------------------------------------


def test_policies_decide_and_bad_tokens_are_refused(mock, vault, app_token):
    vault.add_db_role("app")
    vault.add_db_role("admin")
    hvc = client(mock, app_token)
    lease_id = hvc.secrets.database.generate_credentials("app")["lease_id"]
    assert hvc.sys.renew_lease(lease_id)["lease_duration"] == 3600  # the default policy renews

    # No rule for the path, or Vault's default policy (which has none for revoking).
    for attempt in (lambda: hvc.secrets.database.generate_credentials("admin"), lambda: hvc.sys.revoke_lease(lease_id)):
        with pytest.raises(hvac.exceptions.Forbidden) as e:
            attempt()
        assert e.value.errors == [hv.POLICY_DENIED]
    vault.add_policy("revoker", {"sys/leases/revoke": ["update"]})
    assert client(mock, vault.add_token(["revoker"])).sys.revoke_lease(lease_id).status_code == 204

    vault.add_policy("denied", {"database/creds/*": ["read"], "database/creds/admin": ["deny"]})
    with pytest.raises(hvac.exceptions.Forbidden):
        client(mock, vault.add_token(["denied"])).secrets.database.generate_credentials("admin")

    # Vault answers 403 for a missing, unknown or expired token (bare, not policy-wrapped).
    short = vault.add_token(["app-creds"], ttl=60)
    vault.expire_token(short)
    for token in (None, "hvs.not-a-token", short):
        with pytest.raises(hvac.exceptions.Forbidden) as e:
            client(mock, token).secrets.database.generate_credentials("app")
        assert e.value.errors == [hv.PERMISSION_DENIED]
    assert [r["headers"].get("x-vault-token") for r in mock.requests("/v1/")[-3:]] == [None, "hvs.not-a-token", short]


def test_sealed_vault_is_down(mock, vault):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["default"])
    hvc = client(mock, vault.root_token)
    vault.sealed = True
    for attempt in (lambda: hvc.secrets.database.generate_credentials("app"),
                    lambda: client(mock).auth.kubernetes.login("web", jwt)):
        with pytest.raises(hvac.exceptions.VaultDown) as e:
            attempt()
        assert e.value.errors == [hv.SEALED]
    assert hvc.sys.is_sealed() is True
    assert hvc.sys.read_health_status(method="GET").status_code == 503
    vault.sealed = False
    assert hvc.sys.is_sealed() is False and hvc.sys.read_health_status(method="GET")["sealed"] is False
    assert hvc.secrets.database.generate_credentials("app")["data"]["username"]


def test_route_faults_look_like_vault(mock, vault):
    vault.add_db_role("app")
    hvc = client(mock, vault.root_token)
    mock.fault("vault-creds", status=503, times=1)
    with pytest.raises(hvac.exceptions.VaultDown) as e:
        hvc.secrets.database.generate_credentials("app")
    assert e.value.errors == [hv.SEALED]
    lease_id = hvc.secrets.database.generate_credentials("app")["lease_id"]
    assert [r["faulted"] for r in mock.requests("/v1/")] == [True, False]

    mock.fault("vault-renew", status=500)
    with pytest.raises(hvac.exceptions.InternalServerError):
        hvc.sys.renew_lease(lease_id)
    mock.fault("vault-renew", status=429)
    with pytest.raises(hvac.exceptions.RateLimitExceeded):
        hvc.sys.renew_lease(lease_id)
    mock.clear_fault("vault-renew")
    mock.fault("vault-kv", status=404)
    with pytest.raises(hvac.exceptions.InvalidPath) as e:
        hvc.secrets.kv.v2.read_secret_version("app", raise_on_deleted_version=True)
    assert e.value.errors == []
    with pytest.raises(ValueError, match="unknown route"):
        mock.fault("vault-nope", status=500)


def test_missing_things(mock, vault):
    vault.add_db_role("app")
    vault.put_kv("secret", "app/db", {"username": "app", "password": "kv-pw-0123456789"})
    hvc = client(mock, vault.root_token)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        hvc.secrets.database.generate_credentials("nope")
    assert e.value.errors == ["unknown role: nope"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown role: nope"):
        hvc.secrets.database.get_static_credentials("nope")
    # KV v2: Vault's bare 404 for a path or version that is not there.
    for path, version in (("app/nope", None), ("app/db", 2)):
        with pytest.raises(hvac.exceptions.InvalidPath) as e:
            hvc.secrets.kv.v2.read_secret_version(path, version=version, raise_on_deleted_version=True)
        assert e.value.errors == []
    with pytest.raises(hvac.exceptions.InvalidPath, match="no handler for route"):
        hvc.secrets.database.generate_credentials("app", mount_point="elsewhere")
    # Dynamic credentials are read with GET only.
    with pytest.raises(hvac.exceptions.UnexpectedError, match="unsupported operation"):
        hvc.adapter.post("/v1/database/creds/app")


# --- static roles and KV v2 ---------------------------------------------------------------


def test_static_credentials_and_rotation(mock, vault, vault_pg):
    username = f"static_{uuid.uuid4().hex[:10]}"
    first = vault.add_static_role("reporting", username, rotation_period=3600)
    hvc = client(mock, vault.root_token)
    answer: dict = {}
    [req] = vault_requests(mock, lambda: answer.update(hvc.secrets.database.get_static_credentials("reporting")))
    assert (req["route"], req["method"], req["path"]) == ("vault-static-creds", "GET", "/v1/database/static-creds/reporting")

    assert set(answer) == ENVELOPE | {"mount_type"}
    assert (answer["lease_id"], answer["renewable"], answer["lease_duration"]) == ("", False, 0)
    data = answer["data"]
    assert set(data) == {"username", "password", "ttl", "last_vault_rotation", "rotation_period"}
    assert (data["username"], data["password"], data["rotation_period"]) == (username, first, 3600)
    assert 3590 <= data["ttl"] <= 3600 and PASSWORD.fullmatch(first)
    session = connect(vault_pg, username, first)

    second = vault.rotate_static("reporting")
    assert second != first
    rotated = hvc.secrets.database.get_static_credentials("reporting")["data"]
    assert rotated["password"] == second and rotated["last_vault_rotation"] > data["last_vault_rotation"]
    assert "password authentication failed" in refused(vault_pg, username, first)
    connect(vault_pg, username, second).close()
    assert session.execute("SELECT current_user").fetchone() == (username,)  # the role stays: sessions too
    session.close()

    # Through the API as well (hvac's rotate_static_role_credentials).
    assert hvc.secrets.database.rotate_static_role_credentials("reporting").status_code == 204
    assert vault.static_role("reporting")["rotations"] == 2


def test_static_password_rotates_every_period(mock, vault, vault_pg):
    username = f"static_{uuid.uuid4().hex[:10]}"
    first = vault.add_static_role("fast", username, rotation_period=1)
    wait_for(lambda: vault.static_role("fast")["rotations"] >= 1)
    data = client(mock, vault.root_token).secrets.database.get_static_credentials("fast")["data"]
    assert data["password"] != first and data["ttl"] <= 1

    def logs_in() -> bool:
        # It may rotate again between reading the password and logging in: then try the next.
        try:
            connect(vault_pg, username, vault.static_role("fast")["password"]).close()
        except psycopg.OperationalError:
            return False
        return True

    wait_for(logs_in)


def test_kv_v2_versions(mock, vault):
    assert vault.put_kv("secret", "app/db", {"username": "app", "password": "first-pw-0123456"}) == 1
    assert vault.put_kv("secret", "app/db", {"username": "app", "password": "second-pw-012345"},
                        custom_metadata={"owner": "team"}) == 2
    hvc = client(mock, vault.root_token)
    answers: list = []
    reqs = vault_requests(mock, lambda: answers.extend([
        hvc.secrets.kv.v2.read_secret_version("app/db", raise_on_deleted_version=True),
        hvc.secrets.kv.v2.read_secret_version("app/db", version=1, raise_on_deleted_version=True)]))
    assert [(r["route"], r["method"], r["path"], r["query_params"]) for r in reqs] == [
        ("vault-kv", "GET", "/v1/secret/data/app/db", {}), ("vault-kv", "GET", "/v1/secret/data/app/db", {"version": "1"})]

    latest, first = answers
    assert set(latest) == ENVELOPE | {"mount_type"} and latest["lease_id"] == "" and latest["mount_type"] == "kv"
    assert latest["data"]["data"] == {"username": "app", "password": "second-pw-012345"}
    meta = latest["data"]["metadata"]
    assert set(meta) == {"created_time", "custom_metadata", "deletion_time", "destroyed", "version"}
    assert (meta["version"], meta["custom_metadata"], meta["deletion_time"], meta["destroyed"]) == \
        (2, {"owner": "team"}, "", False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", meta["created_time"])
    assert first["data"]["data"]["password"] == "first-pw-0123456" and first["data"]["metadata"]["version"] == 1

    # A deleted latest version: hvac raises, or hands back Vault's 404 body with the deletion time.
    vault.delete_kv("secret", "app/db")
    with pytest.raises(hvac.exceptions.InvalidPath):
        hvc.secrets.kv.v2.read_secret_version("app/db", raise_on_deleted_version=True)
    deleted = hvc.secrets.kv.v2.read_secret_version("app/db", raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None and deleted["data"]["metadata"]["deletion_time"].endswith("Z")


# --- logins and tokens --------------------------------------------------------------------


def test_kubernetes_login_then_credentials(mock, vault, app_token):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["app-creds"], mount="k8s-prod", ttl=900)
    hvc = client(mock)
    steps: list = []
    login, creds = vault_requests(mock, lambda: steps.extend([
        hvc.auth.kubernetes.login("web", jwt, mount_point="k8s-prod"), hvc.secrets.database.generate_credentials("app")]))

    assert (login["route"], login["method"], login["path"]) == ("vault-login", "POST", "/v1/auth/k8s-prod/login")
    assert vaultref.shape(login)["body"] == {"role": "web", "jwt": jwt}
    assert login["headers"]["content-type"] == "application/json" and login["headers"]["x-vault-request"] == "true"
    assert "x-vault-token" not in login["headers"]

    auth = steps[0]["auth"]
    assert set(steps[0]) == ENVELOPE and steps[0]["data"] is None
    assert {"client_token", "accessor", "policies", "token_policies", "lease_duration", "renewable", "metadata",
            "entity_id", "token_type", "orphan"} <= set(auth)
    assert (auth["policies"], auth["token_policies"], auth["lease_duration"], auth["renewable"], auth["token_type"]) == \
        (["app-creds", "default"], ["app-creds", "default"], 900, True, "service")
    assert auth["metadata"]["role"] == "web" and auth["metadata"]["service_account_name"] == "app"
    assert creds["headers"]["x-vault-token"] == auth["client_token"] and hvc.token == auth["client_token"]
    assert USERNAME.fullmatch(steps[1]["data"]["username"])["display"] == "k8s-prod"  # "k8s-prod-default-app"[:8]

    with pytest.raises(hvac.exceptions.Forbidden) as e:
        client(mock).auth.kubernetes.login("web", jwt + "x", mount_point="k8s-prod")
    assert e.value.errors == [hv.PERMISSION_DENIED]
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client(mock).auth.kubernetes.login("nope", jwt, mount_point="k8s-prod")
    assert e.value.errors == ['invalid role name "nope"']


def test_approle_login_then_credentials(mock, vault, app_token):
    vault.add_db_role("app")
    role_id, secret_id = vault.add_approle("ci", ["app-creds"])
    hvc = client(mock)
    steps: list = []
    login, creds = vault_requests(mock, lambda: steps.extend([
        hvc.auth.approle.login(role_id, secret_id), hvc.secrets.database.generate_credentials("app")]))
    assert (login["route"], login["method"], login["path"]) == ("vault-login", "POST", "/v1/auth/approle/login")
    assert vaultref.shape(login)["body"] == {"role_id": role_id, "secret_id": secret_id}
    assert "x-vault-token" not in login["headers"]
    assert creds["headers"]["x-vault-token"] == steps[0]["auth"]["client_token"]
    assert steps[0]["auth"]["metadata"] == {"role_name": "ci"}
    assert steps[1]["data"]["username"].startswith("v-approle-app-")

    for rid, sid in ((role_id, "wrong"), ("wrong", secret_id)):
        with pytest.raises(hvac.exceptions.InvalidRequest) as e:
            client(mock).auth.approle.login(rid, sid)
        assert e.value.errors == ["invalid role or secret ID"]


def test_token_lookup_and_renew_self(mock, vault):
    jwt = vault.add_kubernetes_role("web", ["default"], ttl=60, max_ttl=90)
    hvc = client(mock)
    token = hvc.auth.kubernetes.login("web", jwt)["auth"]["client_token"]
    answers: list = []
    lookup, renew, capped = vault_requests(mock, lambda: answers.extend([
        hvc.auth.token.lookup_self(), hvc.auth.token.renew_self(), hvc.auth.token.renew_self(increment=3600)]))
    assert [(r["route"], r["method"], r["path"], r["body"]) for r in (lookup, renew, capped)] == [
        ("vault-token", "GET", "/v1/auth/token/lookup-self", ""),
        ("vault-token", "POST", "/v1/auth/token/renew-self", "{}"),
        ("vault-token", "POST", "/v1/auth/token/renew-self", '{"increment": 3600}')]
    assert all(r["headers"]["x-vault-token"] == token for r in (lookup, renew, capped))

    data = answers[0]["data"]
    assert (data["id"], data["display_name"], data["path"], data["policies"], data["renewable"], data["type"]) == \
        (token, "kubernetes-default-app", "auth/kubernetes/login", ["default"], True, "service")
    assert 55 <= data["ttl"] <= 60 and data["creation_ttl"] == 60
    assert answers[1]["auth"]["client_token"] == token and answers[1]["auth"]["lease_duration"] == 60
    assert 85 <= answers[2]["auth"]["lease_duration"] <= 90 and "capped accordingly" in answers[2]["warnings"][0]

    root = client(mock, vault.root_token).auth.token.lookup_self()["data"]
    assert (root["policies"], root["expire_time"], root["ttl"], root["path"]) == (["root"], None, 0, "auth/token/root")


def test_leases_die_with_their_token(mock, vault, vault_pg):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["root"], ttl=600)
    hvc = client(mock)
    token = hvc.auth.kubernetes.login("web", jwt)["auth"]["client_token"]
    first = hvc.secrets.database.generate_credentials("app")
    second = hvc.secrets.database.generate_credentials("app")
    vault.expire_token(token)
    assert [vault.lease(a["lease_id"])["revoked_by"] for a in (first, second)] == ["token", "token"]
    assert not role_exists(vault_pg, first["data"]["username"])
    with pytest.raises(hvac.exceptions.Forbidden):
        hvc.secrets.database.generate_credentials("app")

    # revoke-self does the same, at once.
    other = client(mock)
    other.auth.kubernetes.login("web", jwt)
    lease_id = other.secrets.database.generate_credentials("app")["lease_id"]
    assert other.auth.token.revoke_self().status_code == 204
    assert vault.lease(lease_id)["revoked_by"] == "token"


# --- namespaces -----------------------------------------------------------------------------


def test_namespace_by_header_and_by_path(mock, vault):
    ns_id = vault.add_namespace("ns1")
    vault.add_db_role("app", namespace="ns1")
    jwt = vault.add_kubernetes_role("web", ["app-creds"], namespace="ns1")
    vault.add_policy("app-creds", {"database/creds/app": ["read"]})

    hvc = client(mock, namespace="ns1")
    steps: list = []
    reqs = vault_requests(mock, lambda: steps.extend([hvc.auth.kubernetes.login("web", jwt),
                                                      hvc.secrets.database.generate_credentials("app")]))
    assert [(r["path"], r["headers"].get("x-vault-namespace")) for r in reqs] == [
        ("/v1/auth/kubernetes/login", "ns1"), ("/v1/database/creds/app", "ns1")]
    assert [(e["namespace"], e["rel_path"]) for e in vault.log()[-2:]] == [
        ("ns1", "auth/kubernetes/login"), ("ns1", "database/creds/app")]
    token, lease_id = steps[0]["auth"]["client_token"], steps[1]["lease_id"]
    # A namespace's tokens and lease ids end in its id.
    assert token.endswith("." + ns_id) and lease_id.endswith("." + ns_id)
    assert vault.lease(lease_id)["namespace"] == "ns1"
    assert hvc.sys.renew_lease(lease_id)["lease_id"] == lease_id

    # The same namespace as a path prefix, with a root-namespace token (no header).
    root = client(mock, vault.root_token)
    [req] = vault_requests(mock, lambda: root.secrets.database.generate_credentials("app", mount_point="ns1/database"))
    assert req["path"] == "/v1/ns1/database/creds/app" and "x-vault-namespace" not in req["headers"]
    assert mock.vault_issued()[-1]["namespace"] == "ns1"

    # A namespace's token works with the prefix too, but is no good above its namespace; and the
    # root namespace has no such mount.
    assert client(mock, token).secrets.database.generate_credentials("app", mount_point="ns1/database")["lease_id"]
    with pytest.raises(hvac.exceptions.Forbidden) as e:
        client(mock, token).secrets.database.generate_credentials("app")
    assert e.value.errors == [hv.PERMISSION_DENIED]
    with pytest.raises(hvac.exceptions.InvalidPath, match="no handler for route"):
        root.secrets.database.generate_credentials("app")


# --- what the other suites rely on --------------------------------------------------------


def test_secrets_are_recorded_for_the_leak_scan(mock, vault, vault_pg):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["root"])
    role_id, secret_id = vault.add_approle("ci", ["root"])
    static = vault.add_static_role("reporting", f"static_{uuid.uuid4().hex[:10]}")
    vault.put_kv("secret", "app", {"username": "kv_app_username_long", "password": "kv-secret-0123456789"})
    k8s = client(mock)
    login = k8s.auth.kubernetes.login("web", jwt)["auth"]["client_token"]
    creds = k8s.secrets.database.generate_credentials("app")["data"]["password"]
    approle = client(mock).auth.approle.login(role_id, secret_id)["auth"]["client_token"]
    wanted = {vault.root_token, jwt, secret_id, static, "kv-secret-0123456789", login, creds, approle}
    assert wanted <= set(mock.issued_secrets())
    assert "kv_app_username_long" not in mock.issued_secrets()  # a username in a log is no leak
    mock.reset()  # a reset starts Vault over; the scan still knows them
    assert wanted <= set(mock.issued_secrets())


def test_reset_drops_live_roles(mock, vault, vault_pg):
    vault.add_db_role("app")
    user = client(mock, vault.root_token).secrets.database.generate_credentials("app")["data"]["username"]
    assert role_exists(vault_pg, user)
    mock.reset()
    assert not role_exists(vault_pg, user) and mock.vault_issued() == []


def test_http_control_api(mock, pg):
    def call(op, payload=None):
        status, body, _ = control(mock, op, payload)
        assert status == 200, body
        return json.loads(body)

    call("vault-postgres", {"socket_dir": str(pg.dir), "port": pg.port, "superuser": pg.superuser})
    call("vault-policy", {"name": "app-creds", "rules": {"database/creds/app": ["read"]}})
    token = call("vault-token", {"policies": ["app-creds"], "ttl": 600})["token"]
    call("vault-db-role", {"name": "app", "default_ttl": 300})
    assert call("vault-kv", {"mount": "secret", "path": "x", "data": {"password": "ctl-pw-0123456789"}})["version"] == 1
    jwt = call("vault-kubernetes", {"role": "web", "policies": ["app-creds"]})["jwt"]
    creds = client(mock, token).secrets.database.generate_credentials("app")
    connect(pg, creds["data"]["username"], creds["data"]["password"]).close()  # made through PsqlAdmin
    assert client(mock).auth.kubernetes.login("web", jwt)["auth"]["policies"] == ["app-creds", "default"]

    status, body, _ = fetch(f"{mock.http_url}/_mock/vault")
    info = json.loads(body)
    assert status == 200 and info["sealed"] is False and info["root_token"] == mock.vault.root_token
    assert [lease["lease_id"] for lease in info["leases"]] == [creds["lease_id"]]
    call("vault-expire", {"lease_id": creds["lease_id"]})
    assert not role_exists(pg, creds["data"]["username"])
    call("vault-seal", {"sealed": True})
    assert mock.vault.sealed is True
    assert control(mock, "vault-nope", {})[0] == 400


def test_request_header_can_be_required(mock, vault):
    # Vault Agent and Proxy insist on X-Vault-Request; hvac always sends it.
    vault.require_request_header = True
    vault.add_db_role("app")
    assert client(mock, vault.root_token).secrets.database.generate_credentials("app")["lease_id"]
    status, body, _ = fetch(f"{mock.http_url}/v1/database/creds/app", headers={"X-Vault-Token": vault.root_token})
    assert status == 412 and "X-Vault-Request" in body


def test_helpers_speak_go():
    assert [hv.go_duration(s) for s in (0, 45, 90, 3600, 3661, 2764800)] == \
        ["0s", "45s", "1m30s", "1h0m0s", "1h1m1s", "768h0m0s"]
    assert [hv.parse_duration(v) for v in (None, 30, "30", "1h30m", "90s", "1.5h")] == [0, 30, 30, 5400, 90, 5400]
    assert hv.policy_glob("database/creds/*", "database/creds/app") and hv.policy_glob("+/creds/app", "db/creds/app")
    assert not hv.policy_glob("database/creds/app", "database/creds/app2")
    assert len(hv.db_username("kubernetes-default-app", "a-very-long-role-name", time.time())) <= 63


# --- the reference runner -----------------------------------------------------------------


def reference(mock, op: str, **kw) -> tuple[dict, list[dict]]:
    """vaultref's answer and the shapes of the requests it made."""
    out: dict = {}
    reqs = vault_requests(mock, lambda: out.update(vaultref.run(op, mock.https_url, mock.ca_pem, **kw)))
    assert "error" not in out, out.get("message")
    return out, [vaultref.shape(r) for r in reqs]


def expected(route: str, method: str, path: str, body=None, *, token=True, namespace=None, query=None) -> dict:
    return {"route": route, "method": method, "path": path, "query": query or {}, "x-vault-request": "true",
            "x-vault-namespace": namespace, "token": token,
            "content-type": "application/json" if body is not None else None, "body": body}


def test_reference_lifecycle_with_token_auth(mock, vault, app_token):
    vault.add_db_role("app", default_ttl=60, max_ttl=600)
    vault.add_policy("revoker", {"sys/leases/revoke": ["update"]})
    token = vault.add_token(["app-creds", "revoker"])
    out, shapes = reference(mock, "lifecycle", token=token, role="app", increment=120)
    lease = {"lease_id": "database/creds/app/…"}
    assert shapes == [
        expected("vault-creds", "GET", "/v1/database/creds/app"),
        expected("vault-renew", "PUT", "/v1/sys/leases/renew", {**lease, "increment": 120}),
        expected("vault-revoke", "PUT", "/v1/sys/leases/revoke", lease),
    ]
    creds, renewed, revoked = out["steps"]
    assert renewed["lease_duration"] == 120 and revoked == {"status": 204}
    assert vault.lease(creds["lease_id"])["revoked_by"] == "api"


def test_reference_logins(mock, vault, app_token):
    vault.add_db_role("app")
    jwt = vault.add_kubernetes_role("web", ["app-creds"])
    role_id, secret_id = vault.add_approle("ci", ["app-creds"], mount="ci-approle")
    _, shapes = reference(mock, "creds", auth="kubernetes", login_role="web", jwt=jwt, role="app")
    assert shapes == [expected("vault-login", "POST", "/v1/auth/kubernetes/login", {"role": "web", "jwt": jwt}, token=False),
                      expected("vault-creds", "GET", "/v1/database/creds/app")]
    out, shapes = reference(mock, "creds", auth="approle", auth_mount="ci-approle", role_id=role_id,
                            secret_id=secret_id, role="app")
    assert shapes == [expected("vault-login", "POST", "/v1/auth/ci-approle/login",
                               {"role_id": role_id, "secret_id": secret_id}, token=False),
                      expected("vault-creds", "GET", "/v1/database/creds/app")]
    assert out["result"]["data"]["username"].startswith("v-ci-appro-app-")


def test_reference_static_kv_and_namespace(mock, vault, app_token):
    vault.add_static_role("reporting", f"static_{uuid.uuid4().hex[:10]}")
    vault.put_kv("secret", "app/db", {"username": "app", "password": "ref-pw-0123456789"})
    vault.put_kv("secret", "app/db", {"username": "app", "password": "ref-pw-9876543210"})
    out, shapes = reference(mock, "static-creds", token=vault.root_token, role="reporting")
    assert shapes == [expected("vault-static-creds", "GET", "/v1/database/static-creds/reporting")]
    assert out["result"]["data"]["password"] == vault.static_role("reporting")["password"]
    out, shapes = reference(mock, "kv", token=vault.root_token, path="app/db", version=1)
    assert shapes == [expected("vault-kv", "GET", "/v1/secret/data/app/db", query={"version": "1"})]
    assert out["result"]["data"]["data"]["password"] == "ref-pw-0123456789"

    vault.add_namespace("team/prod")
    vault.add_db_role("app", namespace="team/prod")
    out, shapes = reference(mock, "creds", token=vault.root_token, namespace="team/prod", role="app")
    assert shapes == [expected("vault-creds", "GET", "/v1/database/creds/app", namespace="team/prod")]
    assert vault.lease(out["result"]["lease_id"])["namespace"] == "team/prod"


def test_reference_reports_vault_errors(mock, vault):
    vault.add_db_role("app")
    out = vaultref.run("creds", mock.https_url, mock.ca_pem, token="hvs.not-a-token", role="app")
    assert (out["error"], out["errors"]) == ("Forbidden", [hv.PERMISSION_DENIED])
    vault.sealed = True
    assert vaultref.run("renew", mock.https_url, mock.ca_pem, token=vault.root_token, lease_id="x")["error"] == "VaultDown"
