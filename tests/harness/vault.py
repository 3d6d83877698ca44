"""HashiCorp Vault (and OpenBao) as hvac sees it (sources-t2.md, Vault section).

Emulated from Vault's API documentation and checked against hvac (tests/providers/
test_harness_vault.py). Routes (names are a contract with the tests; a request is named by the
shape of its path, so a namespace prefix or a nested mount does not change its name):

    vault-login         POST /v1/auth/<mount>/login       kubernetes {role, jwt}; approle {role_id, secret_id}
    vault-token         /v1/auth/token/lookup-self (GET), renew-self, revoke-self (POST)
    vault-creds         GET  /v1/<mount>/creds/<role>     database dynamic credentials: a lease, and a
                                                          new PostgreSQL role when one is attached
    vault-static-creds  GET  /v1/<mount>/static-creds/<role>; POST /v1/<mount>/rotate-role/<role>
    vault-kv            GET  /v1/<mount>/data/<path>[?version=N]   KV version 2
    vault-renew         PUT  /v1/sys/leases/renew {lease_id, increment}   (and the old sys/renew)
    vault-revoke        PUT  /v1/sys/leases/revoke {lease_id} -> 204       (and the old sys/revoke)
    vault-lookup        PUT  /v1/sys/leases/lookup {lease_id}
    vault-sys           GET  /v1/sys/health, /v1/sys/seal-status (answered even when sealed)
    vault-other         anything else under /v1/

The state (``mock.vault``, a VaultState) holds tokens and policies, auth roles, namespaces,
database roles and leases, static roles, KV v2 secrets and the seal. A namespace is named by
``X-Vault-Namespace`` and/or leading path segments, joined, as Vault Enterprise does. Leases and
tokens expire by time.time(), checked on every request and by a reaper thread; a lease dies with
the token that read it, as in Vault.
"""

from __future__ import annotations

import json
import math
import re
import secrets as _secrets
import string
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .wire import NOT_SET, OMIT, Reply, Request

if TYPE_CHECKING:
    from .mock import MockIdentityServer

ROUTES = ("vault-login", "vault-token", "vault-creds", "vault-static-creds", "vault-kv", "vault-renew",
          "vault-revoke", "vault-lookup", "vault-sys", "vault-other")

API_PREFIX = "/v1/"
VERSION = "1.17.6"
# Vault's system default and maximum lease TTL (768h), for roles and mounts that set none.
SYSTEM_TTL = 768 * 3600
REAP_INTERVAL = 0.2

BASE62 = string.ascii_letters + string.digits
_SECRET_KEY = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_PASSWORD_LITERAL = re.compile(r"(PASSWORD\s+)'[^']*'?", re.IGNORECASE)
PERMISSION_DENIED = "permission denied"
# A policy refusal comes wrapped by go-multierror; a bad token is refused bare.
POLICY_DENIED = "1 error occurred:\n\t* permission denied\n\n"
UNSUPPORTED_OPERATION = "1 error occurred:\n\t* unsupported operation\n\n"
SEALED = "Vault is sealed"

# Vault's built-in "default" policy, attached to every token that is not root (the rules that
# matter here: look up, renew and revoke yourself; renew and look up leases; never revoke them).
DEFAULT_POLICY = {
    "auth/token/lookup-self": ["read"],
    "auth/token/renew-self": ["update"],
    "auth/token/revoke-self": ["update"],
    "sys/capabilities-self": ["update"],
    "sys/renew": ["update"],
    "sys/leases/renew": ["update"],
    "sys/leases/lookup": ["update"],
}
ALL_CAPABILITIES = ["create", "read", "update", "patch", "delete", "list"]
_CAPABILITY = {"GET": "read", "HEAD": "read", "POST": "update", "PUT": "update", "PATCH": "patch",
               "DELETE": "delete", "LIST": "list"}

# The PostgreSQL plugin's statements (vault plugins/database/postgresql), as a role's defaults.
DEFAULT_CREATION = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
DEFAULT_RENEW = "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';"
DEFAULT_ROTATION = "ALTER ROLE \"{{username}}\" WITH PASSWORD '{{password}}';"
# defaultDeleteUser: revoke what can be revoked, carrying on past failures, then drop the role.
# Sessions are not terminated: they stay open and lose what the role's grants gave them.
DEFAULT_REVOCATION = """\\set ON_ERROR_STOP 0
REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}";
REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM "{{name}}";
REVOKE USAGE ON SCHEMA public FROM "{{name}}";
REVOKE CONNECT ON DATABASE postgres FROM "{{name}}";
\\set ON_ERROR_STOP 1
DROP ROLE IF EXISTS "{{name}}";"""


# --- values as Vault writes them --------------------------------------------------------


def _random(n: int, alphabet: str = BASE62) -> str:
    return "".join(_secrets.choice(alphabet) for _ in range(n))


def new_password() -> str:
    """Vault's default password policy: 20 of [a-zA-Z0-9-], at least one of each kind (the '-'
    makes DSN and URL quoting bugs show)."""
    kinds = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-")
    while True:
        password = _random(20, "".join(kinds))
        if all(any(c in kind for c in password) for kind in kinds):
            return password


def new_token(namespace_id: str = "") -> str:
    # Service tokens since Vault 1.10: "hvs." and a long body; a namespace's end in ".<its id>".
    token = "hvs." + _random(91)
    return f"{token}.{namespace_id}" if namespace_id else token


def db_username(display_name: str, role: str, now: float) -> str:
    """The PostgreSQL plugin's default username_template: {{ printf "v-%s-%s-%s-%s"
    (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}."""
    return f"v-{display_name[:8]}-{role[:8]}-{_random(20)}-{int(now)}"[:63]


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole seconds: 1h0m0s, 1m30s, 45s."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> int:
    """Vault's TypeDurationSecond: seconds as a number or numeric string, or a Go duration ("1h30m")."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise TypeError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"time: invalid duration {text!r}")
    return int(sum(float(n) * _DURATION_SCALE[u] for n, u in parts))


def rfc3339(epoch: float) -> str:
    """RFC 3339 with nanoseconds, as Go marshals a time.Time in UTC."""
    whole = int(epoch)
    nanos = min(round((epoch - whole) * 1e9), 999_999_999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


def pg_expiration(epoch: float) -> str:
    # The PostgreSQL plugin's expirationFormat, "2006-01-02 15:04:05-0700".
    return time.strftime("%Y-%m-%d %H:%M:%S+0000", time.gmtime(epoch))


def policy_glob(pattern: str, path: str) -> bool:
    """Vault's policy path syntax: a trailing '*' matches any rest, a '+' segment any one segment."""
    body = pattern.removesuffix("*")
    regex = "/".join("[^/]+" if seg == "+" else re.escape(seg) for seg in body.split("/"))
    return re.fullmatch(regex + (".*" if pattern.endswith("*") else ""), path) is not None


def render(statements: list[str], **values: str) -> str:
    """Statements with Vault's {{name}}-style placeholders filled (Vault substitutes text too)."""
    text = "\n".join(statements)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


# --- state ---------------------------------------------------------------------------------


@dataclass
class Token:
    token: str
    accessor: str
    policies: list[str]
    namespace: str
    display_name: str
    path: str
    issued_at: float
    ttl: int  # seconds; 0: never expires (root and configured tokens)
    max_ttl: int
    renewable: bool
    meta: dict[str, str] | None = None
    entity_id: str = ""
    expires_at: float | None = None
    revoked: bool = False
    renewals: int = 0

    def live(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)

    def usable_in(self, namespace: str) -> bool:
        # A token works in its own namespace and the ones below it.
        return not self.namespace or namespace == self.namespace or namespace.startswith(self.namespace + "/")


@dataclass
class Lease:
    """A dynamic credential handed out (what ``leases()`` returns, as dicts)."""

    lease_id: str
    namespace: str
    mount: str
    role: str
    username: str
    password: str
    display_name: str
    token_accessor: str
    issued_at: float
    expires_at: float
    max_expires_at: float
    default_ttl: int
    renewable: bool
    renewals: list[dict[str, Any]] = field(default_factory=list)
    revoked: bool = False
    revoked_at: float | None = None
    revoked_by: str | None = None  # "api", "expiry", "token" (its token ended), "reset"
    revoke_error: str | None = None


@dataclass
class DbRole:
    name: str
    mount: str
    namespace: str
    default_ttl: int
    max_ttl: int
    renewable: bool
    creation_statements: list[str]
    revocation_statements: list[str]
    renew_statements: list[str]


@dataclass
class StaticRole:
    name: str
    mount: str
    namespace: str
    username: str
    password: str
    rotation_period: int
    last_rotation: float
    rotation_statements: list[str]
    rotations: int = 0
    rotate_error: str | None = None


@dataclass
class KvVersion:
    data: dict[str, Any]
    created_time: float
    custom_metadata: dict[str, str] | None = None
    deletion_time: float | None = None
    destroyed: bool = False


@dataclass
class LoginRole:
    """A kubernetes role (keyed by role name) or an AppRole (keyed by role_id)."""

    method: str
    mount: str  # "auth/<mount>"
    namespace: str
    role: str
    policies: list[str]
    ttl: int
    max_ttl: int
    credential: str  # kubernetes: the service account JWT; approle: the secret_id
    display_name: str
    meta: dict[str, str]
    role_id: str = ""


class SqlError(RuntimeError):
    """The database refused a statement (the password, if any, redacted from the message)."""


class PsqlAdmin:
    """Superuser SQL over a PostgreSQL's unix socket, for a server another process started
    (the /_mock/vault-postgres control); harness.pg.PostgresServer has the same ``sql``."""

    def __init__(self, socket_dir: str, port: int, superuser: str = "postgres") -> None:
        from .pg import find_psql

        self.args = [find_psql(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                     "-h", socket_dir, "-p", str(port), "-U", superuser, "-d", "postgres"]

    def sql(self, statement: str) -> str:
        import os
        import subprocess

        from .pg import PsqlError

        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PGCONNECT_TIMEOUT": "10"}
        proc = subprocess.run(self.args, input=statement, env=env, capture_output=True, text=True,
                              check=False, timeout=60)
        if proc.returncode != 0:
            raise PsqlError(self.args, proc.returncode, proc.stderr)
        return proc.stdout.rstrip("\n")


class VaultState:
    """What the mock Vault knows. Tests call the methods; the routes read the rest."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Serialises static rotations, so a password is never read between Vault and PostgreSQL.
        self._rotating = threading.Lock()
        self.sealed = False
        # Vault Agent and Proxy refuse requests without X-Vault-Request (412); the server doesn't.
        self.require_request_header = False
        self.namespaces: dict[str, str] = {"": ""}  # path -> id (lease and token suffixes)
        self.policies: dict[str, dict[str, list[str]]] = {"default": dict(DEFAULT_POLICY)}
        self.mounts: dict[tuple[str, str], str] = {}  # (namespace, path) -> database | kv | kubernetes | approle
        self.db_roles: dict[tuple[str, str, str], DbRole] = {}
        self.static_roles: dict[tuple[str, str, str], StaticRole] = {}
        self.kv: dict[tuple[str, str, str], list[KvVersion]] = {}
        self.logins: dict[tuple[str, str, str], LoginRole] = {}
        self._tokens: dict[str, Token] = {}
        self._leases: dict[str, Lease] = {}
        self._log: list[dict[str, Any]] = []
        self.secrets: list[str] = []
        self.pg: Any = None
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.reaper_errors: list[str] = []
        self.root_token = self.add_token(display_name="root")

    # --- setup (tests and /_mock/ controls) ------------------------------------------------

    def attach_postgres(self, pg: Any) -> None:
        """Create and drop real roles in ``pg`` (anything with ``sql(text)``: PostgresServer, PsqlAdmin)."""
        self.pg = pg

    def add_namespace(self, path: str) -> str:
        """Create namespace ``path`` (and its parents); returns its id."""
        path = path.strip("/")
        parts = path.split("/")
        with self.lock:
            for i in range(1, len(parts) + 1):
                self.namespaces.setdefault("/".join(parts[:i]), _random(5))
            return self.namespaces[path]

    def add_policy(self, name: str, rules: dict[str, list[str]] | list[str]) -> None:
        """A policy: {path pattern: capabilities}, or a list of patterns granting everything."""
        if isinstance(rules, list):
            rules = {path: list(ALL_CAPABILITIES) for path in rules}
        with self.lock:
            self.policies[name] = {path: list(caps) for path, caps in rules.items()}

    def add_token(self, policies: list[str] | tuple[str, ...] | None = None, *, token: str | None = None,
                  namespace: str = "", ttl: int = 0, max_ttl: int = 0, renewable: bool | None = None,
                  display_name: str = "token", meta: dict[str, str] | None = None) -> str:
        """A token as `vault token create` (or the root token) makes it; returns it.

        policies: None for root. Others get "default" too. ttl 0: never expires.
        """
        names = ["root"] if policies is None else _with_default(policies)
        now = time.time()
        record = Token(
            token=token or new_token(self._ns_id(namespace)), accessor=self._accessor(namespace),
            policies=names, namespace=namespace.strip("/"), display_name=display_name,
            path="auth/token/root" if names == ["root"] else "auth/token/create", issued_at=now, ttl=int(ttl),
            max_ttl=int(max_ttl or (SYSTEM_TTL if ttl else 0)), renewable=bool(ttl) if renewable is None else renewable,
            meta=meta, expires_at=now + ttl if ttl else None)
        self._keep_token(record)
        return record.token

    def add_kubernetes_role(self, role: str, policies: list[str], *, jwt: str | None = None,
                            mount: str = "kubernetes", namespace: str = "", ttl: int = 0, max_ttl: int = 0,
                            service_account: str = "app", service_account_namespace: str = "default") -> str:
        """A kubernetes auth role that accepts ``jwt`` (made up when None); returns the JWT."""
        jwt = jwt or _service_account_jwt(service_account, service_account_namespace)
        meta = {"role": role, "service_account_name": service_account,
                "service_account_namespace": service_account_namespace,
                "service_account_uid": str(uuid.uuid4()), "service_account_secret_name": ""}
        entry = LoginRole("kubernetes", f"auth/{mount.strip('/')}", namespace.strip("/"), role,
                          _with_default(policies), int(ttl), int(max_ttl), jwt,
                          f"{mount.strip('/')}-{service_account_namespace}-{service_account}", meta)
        self._add_login(entry, role, jwt)
        return jwt

    def add_approle(self, role: str, policies: list[str], *, mount: str = "approle", namespace: str = "",
                    ttl: int = 0, max_ttl: int = 0, role_id: str | None = None,
                    secret_id: str | None = None) -> tuple[str, str]:
        """An AppRole; returns (role_id, secret_id)."""
        role_id = role_id or str(uuid.uuid4())
        secret_id = secret_id or str(uuid.uuid4())
        entry = LoginRole("approle", f"auth/{mount.strip('/')}", namespace.strip("/"), role,
                          _with_default(policies), int(ttl), int(max_ttl), secret_id, mount.strip("/"),
                          {"role_name": role}, role_id=role_id)
        self._add_login(entry, role_id, secret_id)
        return role_id, secret_id

    def add_db_role(self, name: str, *, mount: str = "database", namespace: str = "", default_ttl: int = 3600,
                    max_ttl: int = 86400, renewable: bool = True, member_of: list[str] | tuple[str, ...] = (),
                    creation_statements: list[str] | None = None, revocation_statements: list[str] | None = None,
                    renew_statements: list[str] | None = None) -> None:
        """A database secrets engine role. ``member_of`` grants PostgreSQL groups to each user
        (added to the default creation statement); TTLs of 0 mean Vault's 768h."""
        creation = creation_statements or [DEFAULT_CREATION] + [f'GRANT "{g}" TO "{{{{name}}}}";' for g in member_of]
        role = DbRole(name, mount.strip("/"), namespace.strip("/"), int(default_ttl), int(max_ttl), renewable,
                      list(creation), list(revocation_statements or [DEFAULT_REVOCATION]),
                      list(renew_statements or [DEFAULT_RENEW]))
        with self.lock:
            self._mount(role.namespace, role.mount, "database")
            self.db_roles[(role.namespace, role.mount, name)] = role

    def add_static_role(self, name: str, username: str, *, mount: str = "database", namespace: str = "",
                        rotation_period: int = 86400, rotation_statements: list[str] | None = None) -> str:
        """A static role over ``username`` (a PostgreSQL login role, created if missing); its first
        password is set now. Returns that password."""
        role = StaticRole(name, mount.strip("/"), namespace.strip("/"), username, new_password(),
                          int(rotation_period), time.time(), list(rotation_statements or [DEFAULT_ROTATION]))
        with self.lock:
            self.secrets.append(role.password)
        exists = "SELECT FROM pg_roles WHERE rolname = '{{username}}'"
        create = f"SELECT format('CREATE ROLE %I LOGIN', '{{{{username}}}}') WHERE NOT EXISTS ({exists}) \\gexec"
        self._sql([create], username=username)
        self._sql(role.rotation_statements, name=username, username=username, password=role.password)
        with self.lock:
            self._mount(role.namespace, role.mount, "database")
            self.static_roles[(role.namespace, role.mount, name)] = role
        self._ensure_reaper()
        return role.password

    def rotate_static(self, name: str, *, mount: str = "database", namespace: str = "") -> str:
        """Rotate a static role's password now (ALTER ROLE ... PASSWORD); returns the new one."""
        role = self.static_roles[(namespace.strip("/"), mount.strip("/"), name)]
        self._rotate(role, force=True)
        return role.password

    def put_kv(self, mount: str, path: str, data: dict[str, Any], *, namespace: str = "",
               custom_metadata: dict[str, str] | None = None) -> int:
        """Write a new version of a KV v2 secret; returns its version number."""
        key = (namespace.strip("/"), mount.strip("/"), path.strip("/"))
        with self.lock:
            self._mount(key[0], key[1], "kv")
            versions = self.kv.setdefault(key, [])
            versions.append(KvVersion(dict(data), time.time(), custom_metadata))
            # Only the secret-looking fields: a username in a log is no leak.
            self.secrets += [v for k, v in data.items() if isinstance(v, str) and _SECRET_KEY.search(k)]
            return len(versions)

    def delete_kv(self, mount: str, path: str, versions: list[int] | None = None, *, namespace: str = "",
                  destroy: bool = False) -> None:
        """Soft-delete (or destroy) versions of a KV v2 secret (None: the latest)."""
        with self.lock:
            stored = self.kv[(namespace.strip("/"), mount.strip("/"), path.strip("/"))]
            for number in versions or [len(stored)]:
                version = stored[number - 1]
                version.deletion_time = version.deletion_time or time.time()
                version.destroyed = version.destroyed or destroy

    def expire(self, lease_id: str) -> None:
        """End a lease now, as its TTL running out would (the role is dropped)."""
        with self.lock:
            lease = self._leases[lease_id]
            lease.expires_at = min(lease.expires_at, time.time())
        self.reap()

    def expire_token(self, token: str) -> None:
        """End a token now, as its TTL running out would (its leases go with it)."""
        with self.lock:
            record = self._tokens[token]
            record.expires_at = time.time()
        self.reap()

    # --- observations ----------------------------------------------------------------------

    def leases(self) -> list[dict[str, Any]]:
        """Every dynamic credential handed out, oldest first: lease_id, namespace, mount, role,
        username, password, issued_at, expires_at, max_expires_at, renewable, renewals
        ([{at, increment, ttl, capped}]), revoked, revoked_at, revoked_by, revoke_error."""
        with self.lock:
            return [asdict(lease) for lease in self._leases.values()]

    def lease(self, lease_id: str) -> dict[str, Any]:
        with self.lock:
            return asdict(self._leases[lease_id])

    def tokens(self) -> list[dict[str, Any]]:
        """Every token: token, accessor, policies, namespace, display_name, path, ttl, expires_at, revoked."""
        with self.lock:
            return [asdict(t) for t in self._tokens.values()]

    def static_role(self, name: str, *, mount: str = "database", namespace: str = "") -> dict[str, Any]:
        with self.lock:
            return asdict(self.static_roles[(namespace.strip("/"), mount.strip("/"), name)])

    def log(self) -> list[dict[str, Any]]:
        """How each request was understood: route, method, path, namespace (resolved from the
        header and the path), rel_path (inside the namespace), status, accessor (of its token)."""
        with self.lock:
            return [dict(entry) for entry in self._log]

    # --- lifecycle -------------------------------------------------------------------------

    def reap(self) -> None:
        """End what is due: expired leases (dropping their roles), the leases of expired tokens,
        and static passwords past their rotation period."""
        now = time.time()
        with self.lock:
            dead_tokens = {t.accessor for t in self._tokens.values() if not t.live(now) and not t.revoked}
            for record in self._tokens.values():
                record.revoked = record.revoked or record.accessor in dead_tokens
            due = [(lease, "token" if lease.token_accessor in dead_tokens else "expiry")
                   for lease in self._leases.values()
                   if not lease.revoked and (lease.expires_at <= now or lease.token_accessor in dead_tokens)]
            stale = [r for r in self.static_roles.values() if r.last_rotation + r.rotation_period <= now]
        for lease, why in due:
            self._revoke(lease, why)
        for role in stale:
            self._rotate(role, force=False)

    def close(self) -> None:
        """Stop the reaper and revoke every live lease (their roles are dropped)."""
        self._stop.set()
        if self._reaper is not None and self._reaper is not threading.current_thread():
            self._reaper.join(timeout=5)
        with self.lock:
            live = [lease for lease in self._leases.values() if not lease.revoked]
        for lease in live:
            self._revoke(lease, "reset")

    def _ensure_reaper(self) -> None:
        with self.lock:
            if self._reaper is not None or self._stop.is_set():
                return
            self._reaper = threading.Thread(target=self._reap_loop, name="vault-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while not self._stop.wait(REAP_INTERVAL):
            try:
                self.reap()
            except Exception as e:  # noqa: BLE001 - keep reaping; the test can look
                self.reaper_errors.append(repr(e))

    # --- internals used by the routes -----------------------------------------------------

    def _ns_id(self, namespace: str) -> str:
        namespace = namespace.strip("/")
        if namespace not in self.namespaces:
            raise ValueError(f"no namespace {namespace!r}: add_namespace first")
        return self.namespaces[namespace]

    def _accessor(self, namespace: str) -> str:
        ns_id = self._ns_id(namespace)
        return _random(24) + (f".{ns_id}" if ns_id else "")

    def _keep_token(self, record: Token) -> None:
        with self.lock:
            self._tokens[record.token] = record
            self.secrets.append(record.token)
        if record.expires_at is not None:
            self._ensure_reaper()

    def _mount(self, namespace: str, path: str, kind: str) -> None:
        self._ns_id(namespace)
        have = self.mounts.setdefault((namespace, path), kind)
        if have != kind:
            raise ValueError(f"{path!r} is already a {have} mount in namespace {namespace!r}")

    def _add_login(self, entry: LoginRole, key: str, secret: str) -> None:
        with self.lock:
            self._mount(entry.namespace, entry.mount, entry.method)
            self.logins[(entry.namespace, entry.mount, key)] = entry
            self.secrets.append(secret)

    def _login_token(self, entry: LoginRole) -> Token:
        now = time.time()
        max_ttl = entry.max_ttl or SYSTEM_TTL
        ttl = min(entry.ttl or SYSTEM_TTL, max_ttl)
        record = Token(new_token(self._ns_id(entry.namespace)), self._accessor(entry.namespace), entry.policies,
                       entry.namespace, entry.display_name, f"{entry.mount}/login", now, ttl, max_ttl, True,
                       meta=dict(entry.meta), entity_id=str(uuid.uuid4()), expires_at=now + ttl)
        self._keep_token(record)
        return record

    def _sql(self, statements: list[str], **values: str) -> None:
        if self.pg is None:
            return
        try:
            self.pg.sql(render(statements, **values) + "\n")
        except Exception as e:  # noqa: BLE001 - PsqlError or a stopped server alike
            # psql quotes the failing statement (maybe cut short), password and all; Vault's
            # plugins redact it too.
            message = _PASSWORD_LITERAL.sub(r"\1'[password]'", str(e))
            if values.get("password"):
                message = message.replace(values["password"], "[password]")
            raise SqlError(message) from None

    def _new_lease(self, role: DbRole, token: Token, namespace: str) -> Lease:
        """Create the user in PostgreSQL (when attached), then the lease. PsqlError if refused."""
        now = time.time()
        max_ttl = role.max_ttl or SYSTEM_TTL
        ttl = min(role.default_ttl or SYSTEM_TTL, max_ttl)
        username, password = db_username(token.display_name, role.name, now), new_password()
        with self.lock:
            self.secrets.append(password)
        # In one transaction, as Vault runs them: a failing GRANT leaves no half-made user.
        self._sql(["BEGIN;", *role.creation_statements, "COMMIT;"], name=username, username=username,
                  password=password, expiration=pg_expiration(now + ttl))
        ns_id = self.namespaces[namespace]
        lease_id = f"{role.mount}/creds/{role.name}/{_random(24)}" + (f".{ns_id}" if ns_id else "")
        lease = Lease(lease_id, namespace, role.mount, role.name, username, password, token.display_name,
                      token.accessor, now, now + ttl, now + max_ttl, ttl, role.renewable)
        with self.lock:
            self._leases[lease_id] = lease
        self._ensure_reaper()
        return lease

    def _revoke(self, lease: Lease, why: str) -> str | None:
        """Revoke once (the first caller wins); the error text if the database refused."""
        with self.lock:
            if lease.revoked:
                return None
            lease.revoked, lease.revoked_at, lease.revoked_by = True, time.time(), why
            role = self.db_roles.get((lease.namespace, lease.mount, lease.role))
        statements = role.revocation_statements if role else [DEFAULT_REVOCATION]
        try:
            self._sql(statements, name=lease.username, username=lease.username)
        except SqlError as e:
            with self.lock:
                lease.revoke_error = str(e)
                # Revoked by the API: Vault keeps the lease and says why; expiry retries are not modelled.
                if why == "api":
                    lease.revoked, lease.revoked_at, lease.revoked_by = False, None, None
            return str(e)
        return None

    def _rotate(self, role: StaticRole, *, force: bool) -> None:
        with self._rotating:
            now = time.time()
            if not force and role.last_rotation + role.rotation_period > now:
                return  # another thread rotated it meanwhile
            password = new_password()
            with self.lock:
                self.secrets.append(password)
            try:
                self._sql(["BEGIN;", *role.rotation_statements, "COMMIT;"], name=role.username,
                          username=role.username, password=password)
            except SqlError as e:  # kept for the test to see; the old password stays
                role.rotate_error, role.last_rotation = str(e), now
                return
            with self.lock:
                role.password, role.last_rotation, role.rotations = password, now, role.rotations + 1

    def _record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._log.append(entry)


def new_state() -> VaultState:
    return VaultState()


def _with_default(policies: list[str] | tuple[str, ...]) -> list[str]:
    names = set(policies)
    return sorted(names if "root" in names else names | {"default"})


def _service_account_jwt(name: str, namespace: str) -> str:
    """A JWT-shaped projected service account token (the mock compares it whole, as a TokenReview
    would accept only this token)."""
    def part(obj: dict[str, Any]) -> str:
        import base64

        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"aud": ["https://kubernetes.default.svc.cluster.local"], "exp": now + 3600, "iat": now,
              "iss": "https://kubernetes.default.svc.cluster.local", "sub": f"system:serviceaccount:{namespace}:{name}",
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": str(uuid.uuid4())}}}
    return f"{part({'alg': 'RS256', 'kid': _random(16)})}.{part(claims)}.{_random(342, BASE62 + '-_')}"


# --- routes --------------------------------------------------------------------------------


def route_of(req: Request) -> str | None:
    if not req.path.startswith(API_PREFIX):
        return None
    segs = [s for s in req.path[len(API_PREFIX):].split("/") if s]
    for i, seg in enumerate(segs):
        nxt = segs[i + 1:i + 3]
        if seg == "sys" and nxt[:1] in (["health"], ["seal-status"]):
            return "vault-sys"
        if seg == "sys" and (nxt[:1] == ["renew"] or nxt == ["leases", "renew"]):
            return "vault-renew"
        if seg == "sys" and (nxt[:1] == ["revoke"] or nxt == ["leases", "revoke"]):
            return "vault-revoke"
        if seg == "sys" and nxt == ["leases", "lookup"]:
            return "vault-lookup"
        if seg == "auth" and nxt[:1] == ["token"]:
            return "vault-token"
    if "auth" in segs and segs[-1:] == ["login"]:
        return "vault-login"
    if "data" in segs[1:-1]:
        return "vault-kv"
    if len(segs) >= 3 and segs[-2] == "creds":
        return "vault-creds"
    if len(segs) >= 3 and segs[-2] in ("static-creds", "rotate-role"):
        return "vault-static-creds"
    return "vault-other"


def content_type(route: str | None) -> str:
    # hvac reads {"errors": [...]} only when the type is exactly this.
    return "application/json"


def _json(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", "Cache-Control": "no-store"})


def _errors(status: int, *messages: str) -> Reply:
    return _json(status, {"errors": list(messages)})


_FAULT_MESSAGES = {400: "invalid request", 403: POLICY_DENIED, 404: None, 405: UNSUPPORTED_OPERATION,
                   429: "rate limit quota exceeded", 500: "internal error", 502: "bad gateway", 503: SEALED}


def fault_reply(route: str | None, status: int, body: bytes | None) -> Reply:
    message = _FAULT_MESSAGES.get(status, "injected fault")
    reply = _errors(status, *([message] if message else []))
    if body is not None:
        reply.body = body
    return reply


def _envelope(data: Any = None, *, lease_id: str = "", renewable: bool = False, lease_duration: int = 0,
              auth: dict[str, Any] | None = None, warnings: list[str] | None = None,
              mount_type: str | None = None) -> dict[str, Any]:
    """Vault's answer around every secret (logical.HTTPResponse)."""
    out: dict[str, Any] = {"request_id": str(uuid.uuid4()), "lease_id": lease_id, "renewable": renewable,
                           "lease_duration": lease_duration, "data": data, "wrap_info": None,
                           "warnings": warnings, "auth": auth}
    if mount_type:
        out["mount_type"] = mount_type
    return out


@dataclass
class _Call:
    """One request as Vault resolves it."""

    req: Request
    route: str | None
    namespace: str
    path: str  # inside the namespace, without /v1/
    body: dict[str, Any]
    token: Token | None = None


def _resolve(state: VaultState, req: Request) -> tuple[str, str]:
    """(namespace, path inside it): the header and the path joined, the longest known namespace
    prefix taken, as Vault Enterprise splits them."""
    header = req.headers.get("x-vault-namespace", "").strip("/")
    rest = req.path[len(API_PREFIX):].strip("/")
    full = "/".join(p for p in (header, rest) if p)
    segs = full.split("/")
    with state.lock:
        for cut in range(len(segs) - 1, 0, -1):
            candidate = "/".join(segs[:cut])
            if candidate in state.namespaces:
                return candidate, "/".join(segs[cut:])
    return "", full


def _parse_body(req: Request) -> dict[str, Any]:
    if req.method in ("GET", "HEAD") or not req.body.strip():
        return {}
    body = json.loads(req.body)
    if not isinstance(body, dict):
        raise TypeError("request body must be a JSON object")
    return body


def handle(mock: MockIdentityServer, route: str | None, req: Request) -> Reply:
    state = mock.vault
    state.reap()
    namespace, path = _resolve(state, req)
    reply = _answer(state, route, req, namespace, path)
    if route == "vault-creds" and reply.status == 200:
        reply = _lease_duration_as_set(mock, reply)
    state._record({"time": time.time(), "route": route, "method": req.method, "path": req.path,
                   "namespace": namespace, "rel_path": path, "status": reply.status,
                   "accessor": getattr(_token_of(state, req), "accessor", None)})
    return reply


def _lease_duration_as_set(mock: MockIdentityServer, reply: Reply) -> Reply:
    """The fault matrix's expiry faults and lifetimes, applied to a credentials answer's
    ``lease_duration`` (seconds from now) as the other routes apply them to their expiry."""
    _, _, override = mock.expiry_settings("vault-creds")
    lifetime = mock.explicit_lifetime("vault-creds")
    if override is NOT_SET and lifetime is None:
        return reply
    body = json.loads(reply.body)
    if override is OMIT:
        body.pop("lease_duration", None)
    else:
        body["lease_duration"] = int(lifetime) if override is NOT_SET else override
    return _json(200, body)


def _answer(state: VaultState, route: str | None, req: Request, namespace: str, path: str) -> Reply:
    if state.require_request_header and req.headers.get("x-vault-request", "").lower() != "true":
        return _errors(412, "missing 'X-Vault-Request' header")
    if path in ("sys/health", "sys/seal-status"):
        return _sys_status(state, path)
    if state.sealed:
        return _errors(503, SEALED)
    try:
        body = _parse_body(req)
    except (ValueError, TypeError) as e:
        return _errors(400, f"failed to parse JSON input: {e}")
    call = _Call(req, route, namespace, path, body)
    login = _login_role_mount(state, call)
    if login is not None:
        return _login(state, call, login)
    call.token = _token_of(state, req, namespace)
    if call.token is None:
        return _errors(403, PERMISSION_DENIED)
    if not _allowed(state, call):
        return _errors(403, POLICY_DENIED)
    return _dispatch(state, call)


def _token_of(state: VaultState, req: Request, namespace: str | None = None) -> Token | None:
    value = req.headers.get("x-vault-token") or req.headers.get("authorization", "").removeprefix("Bearer ")
    with state.lock:
        record = state._tokens.get(value)
    if record is None or not record.live(time.time()):
        return None
    return record if namespace is None or record.usable_in(namespace) else None


def _allowed(state: VaultState, call: _Call) -> bool:
    """The token's policies grant the method's capability on the path (deny wins; policy paths
    are relative to the token's namespace, so a parent's token names the child's prefix)."""
    token = call.token
    assert token is not None
    if "root" in token.policies:
        return True
    inner = call.namespace[len(token.namespace):].strip("/")
    full = f"{inner}/{call.path}" if inner else call.path
    wanted = "list" if call.req.query_params.get("list") == "true" else _CAPABILITY.get(call.req.method, "")
    granted: set[str] = set()
    with state.lock:
        for name in token.policies:
            for pattern, caps in state.policies.get(name, {}).items():
                if policy_glob(pattern, full):
                    granted |= set(caps)
    if "deny" in granted:
        return False
    return wanted in granted or (wanted == "update" and "create" in granted)


def _mount_of(state: VaultState, namespace: str, path: str) -> tuple[str, str, str] | None:
    """(mount path, its kind, the rest) for the longest mount ``path`` is under."""
    with state.lock:
        mounts = {p: k for (ns, p), k in state.mounts.items() if ns == namespace}
    for mount in sorted(mounts, key=len, reverse=True):
        if path.startswith(mount + "/"):
            return mount, mounts[mount], path[len(mount) + 1:]
    return None


def _login_role_mount(state: VaultState, call: _Call) -> tuple[str, str] | None:
    # Login paths need no token, but only on a mounted auth method: elsewhere the token is checked.
    found = _mount_of(state, call.namespace, call.path)
    if found and found[1] in ("kubernetes", "approle") and found[2] == "login":
        return found[0], found[1]
    return None


def _dispatch(state: VaultState, call: _Call) -> Reply:
    segs = call.path.split("/")
    if segs[0] == "sys":
        return _sys(state, call, segs[1:])
    if segs[:2] == ["auth", "token"]:
        return _token_api(state, call, "/".join(segs[2:]))
    found = _mount_of(state, call.namespace, call.path)
    if found is None:
        return _errors(404, f'no handler for route "{call.path}". route entry not found.')
    mount, kind, rest = found
    if kind == "database":
        return _database(state, call, mount, rest)
    if kind == "kv":
        return _kv(state, call, mount, rest)
    return _errors(404, "unsupported path")


def _methods(call: _Call, *allowed: str) -> Reply | None:
    return None if call.req.method in allowed else _errors(405, UNSUPPORTED_OPERATION)


# --- auth ----------------------------------------------------------------------------------


def _auth_block(token: Token) -> dict[str, Any]:
    return {"client_token": token.token, "accessor": token.accessor, "policies": token.policies,
            "token_policies": token.policies, "metadata": token.meta, "lease_duration": token.ttl,
            "renewable": token.renewable, "entity_id": token.entity_id, "token_type": "service",
            "orphan": True, "mfa_requirement": None, "num_uses": 0}


def _login(state: VaultState, call: _Call, mount: tuple[str, str]) -> Reply:
    bad = _methods(call, "POST", "PUT")
    if bad:
        return bad
    path, kind = mount
    body = call.body
    if kind == "kubernetes":
        role, jwt = body.get("role"), body.get("jwt")
        if not role:
            return _errors(400, "missing role")
        if not jwt:
            return _errors(400, "missing jwt")
        entry = state.logins.get((call.namespace, path, role))
        if entry is None:
            return _errors(400, f'invalid role name "{role}"')
        if jwt != entry.credential:
            return _errors(403, PERMISSION_DENIED)
    else:
        role_id = body.get("role_id")
        if not role_id:
            return _errors(400, "missing role_id")
        entry = state.logins.get((call.namespace, path, role_id))
        if entry is None or body.get("secret_id") != entry.credential:
            return _errors(400, "invalid role or secret ID")
    return _json(200, _envelope(auth=_auth_block(state._login_token(entry))))


def _token_api(state: VaultState, call: _Call, op: str) -> Reply:
    token = call.token
    assert token is not None
    if op == "lookup-self":
        return _methods(call, "GET", "POST") or _json(200, _envelope(_lookup_data(token)))
    if op == "renew-self":
        return _methods(call, "POST", "PUT") or _renew_token(state, call, token)
    if op == "revoke-self":
        bad = _methods(call, "POST", "PUT")
        if bad:
            return bad
        with state.lock:
            token.expires_at = time.time()
        state.reap()  # its leases go with it
        return Reply(204)
    return _errors(404, "unsupported path")


def _lookup_data(token: Token) -> dict[str, Any]:
    now = time.time()
    data = {"accessor": token.accessor, "creation_time": int(token.issued_at), "creation_ttl": token.ttl,
            "display_name": token.display_name, "entity_id": token.entity_id,
            "expire_time": rfc3339(token.expires_at) if token.expires_at else None, "explicit_max_ttl": 0,
            "id": token.token, "issue_time": rfc3339(token.issued_at), "meta": token.meta, "num_uses": 0,
            "orphan": True, "path": token.path, "policies": token.policies, "renewable": token.renewable,
            "ttl": max(int(token.expires_at - now), 0) if token.expires_at else 0, "type": "service"}
    if token.namespace:
        data["namespace_path"] = token.namespace + "/"
    return data


def _extend(now: float, start: float, increment: int, default: int, max_ttl: int) -> tuple[int, list[str] | None]:
    """framework.CalculateTTL for a renewal: the increment (else the default), capped by what is
    left of the max TTL, with Vault's warning when capped. ValueError once past the max TTL."""
    ttl = increment if increment > 0 else default
    left = math.floor(start + max_ttl - now)
    if left <= 0:
        raise ValueError("past the max TTL, cannot renew")
    if ttl <= left:
        return ttl, None
    warning = (f'TTL of "{go_duration(ttl)}" exceeded the effective max_ttl of "{go_duration(left)}"; '
               "TTL value is capped accordingly")
    return left, [warning]


def _renew_token(state: VaultState, call: _Call, token: Token) -> Reply:
    try:
        increment = parse_duration(call.body.get("increment"))
    except (ValueError, TypeError) as e:
        return _errors(400, str(e))
    if not token.renewable:
        return _errors(400, "lease is not renewable")
    now = time.time()
    try:
        ttl, warnings = _extend(now, token.issued_at, increment, token.ttl, token.max_ttl)
    except ValueError as e:
        return _errors(400, str(e))
    with state.lock:
        token.expires_at, token.renewals = now + ttl, token.renewals + 1
    auth = {**_auth_block(token), "lease_duration": ttl}
    return _json(200, _envelope(auth=auth, warnings=warnings))


# --- sys -----------------------------------------------------------------------------------


def _sys_status(state: VaultState, path: str) -> Reply:
    if path == "sys/seal-status":
        return _json(200, {"type": "shamir", "initialized": True, "sealed": state.sealed, "t": 1, "n": 1,
                           "progress": 0, "nonce": "", "version": VERSION, "build_date": "2024-09-25T00:00:00Z",
                           "migration": False, "recovery_seal": False, "storage_type": "inmem"})
    health = {"initialized": True, "sealed": state.sealed, "standby": False, "performance_standby": False,
              "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
              "server_time_utc": int(time.time()), "version": VERSION, "cluster_name": "vault-cluster-mock",
              "cluster_id": "00000000-0000-4000-8000-000000000000"}
    return _json(503 if state.sealed else 200, health)


def _sys(state: VaultState, call: _Call, rest: list[str]) -> Reply:
    if rest[:2] == ["leases", "renew"] or rest[:1] == ["renew"]:
        op, tail = "renew", rest[2:] if rest[0] == "leases" else rest[1:]
    elif rest[:2] == ["leases", "revoke"] or rest[:1] == ["revoke"]:
        op, tail = "revoke", rest[2:] if rest[0] == "leases" else rest[1:]
    elif rest == ["leases", "lookup"]:
        op, tail = "lookup", []
    else:
        return _errors(404, "unsupported path")
    bad = _methods(call, "PUT", "POST")
    if bad:
        return bad
    lease_id = call.body.get("lease_id") or "/".join(tail)
    if not lease_id:
        return _errors(400, "lease_id must be specified" if op != "lookup" else "missing param: lease_id")
    if op == "revoke":
        return _revoke_api(state, call, lease_id)
    lease = _visible_lease(state, call, lease_id)
    if op == "lookup":
        return _lookup_lease(lease) if lease else _errors(400, "invalid lease")
    return _renew_lease(state, call, lease)


def _visible_lease(state: VaultState, call: _Call, lease_id: str) -> Lease | None:
    # A lease is found from its own namespace or one above it; a revoked one is gone.
    with state.lock:
        lease = state._leases.get(lease_id)
    if lease is None or lease.revoked:
        return None
    inside = not call.namespace or lease.namespace == call.namespace or lease.namespace.startswith(call.namespace + "/")
    return lease if inside else None


def _renew_lease(state: VaultState, call: _Call, lease: Lease | None) -> Reply:
    try:
        increment = parse_duration(call.body.get("increment"))
    except (ValueError, TypeError) as e:
        return _errors(400, str(e))
    if lease is None:
        return _errors(400, "lease not found")
    if not lease.renewable:
        return _errors(400, "lease is not renewable")
    now = time.time()
    try:
        ttl, warnings = _extend(now, lease.issued_at, increment, lease.default_ttl,
                                int(lease.max_expires_at - lease.issued_at))
    except ValueError as e:
        return _errors(400, str(e))
    with state.lock:
        role = state.db_roles.get((lease.namespace, lease.mount, lease.role))
    try:
        state._sql(role.renew_statements if role else [DEFAULT_RENEW], name=lease.username,
                   username=lease.username, expiration=pg_expiration(now + ttl))
    except SqlError as e:  # Vault reports the plugin's failure
        return _errors(500, f"1 error occurred:\n\t* {e}\n\n")
    with state.lock:
        lease.expires_at = now + ttl
        lease.renewals.append({"at": now, "increment": increment, "ttl": ttl, "capped": warnings is not None})
    return _json(200, _envelope(lease_id=lease.lease_id, renewable=True, lease_duration=ttl, warnings=warnings))


def _revoke_api(state: VaultState, call: _Call, lease_id: str) -> Reply:
    # Revoking an unknown or already revoked lease succeeds: revocation is idempotent in Vault.
    lease = _visible_lease(state, call, lease_id)
    if lease is not None:
        error = state._revoke(lease, "api")
        if error:
            return _errors(400, f"failed to revoke entry: {error}")
    return Reply(204)


def _lookup_lease(lease: Lease) -> Reply:
    now = time.time()
    last = lease.renewals[-1]["at"] if lease.renewals else None
    return _json(200, _envelope({"id": lease.lease_id, "issue_time": rfc3339(lease.issued_at),
                                 "expire_time": rfc3339(lease.expires_at), "last_renewal": rfc3339(last) if last else None,
                                 "renewable": lease.renewable, "ttl": max(int(lease.expires_at - now), 0)}))


# --- secrets engines -----------------------------------------------------------------------


def _database(state: VaultState, call: _Call, mount: str, rest: str) -> Reply:
    kind, _, name = rest.partition("/")
    if not name or "/" in name or kind not in ("creds", "static-creds", "rotate-role"):
        return _errors(404, "unsupported path")
    if kind == "rotate-role":
        bad = _methods(call, "POST", "PUT")
        if bad:
            return bad
        role = state.static_roles.get((call.namespace, mount, name))
        if role is None:
            return _errors(400, f"unknown role: {name}")
        state._rotate(role, force=True)
        return Reply(204)
    bad = _methods(call, "GET")
    if bad:
        return bad
    return _creds(state, call, mount, name) if kind == "creds" else _static_creds(state, call, mount, name)


def _creds(state: VaultState, call: _Call, mount: str, name: str) -> Reply:
    role = state.db_roles.get((call.namespace, mount, name))
    if role is None:
        return _errors(400, f"unknown role: {name}")
    assert call.token is not None
    try:
        lease = state._new_lease(role, call.token, call.namespace)
    except SqlError as e:  # Vault answers 500 with the plugin's error
        return _errors(500, f"1 error occurred:\n\t* failed to execute query: {e}\n\n")
    data = {"username": lease.username, "password": lease.password}
    return _json(200, _envelope(data, lease_id=lease.lease_id, renewable=lease.renewable,
                                lease_duration=lease.default_ttl, mount_type="database"))


def _static_creds(state: VaultState, call: _Call, mount: str, name: str) -> Reply:
    role = state.static_roles.get((call.namespace, mount, name))
    if role is None:
        return _errors(400, f"unknown role: {name}")
    with state._rotating:  # never between PostgreSQL's new password and ours
        data = {"last_vault_rotation": rfc3339(role.last_rotation), "password": role.password,
                "rotation_period": role.rotation_period,
                "ttl": max(int(role.last_rotation + role.rotation_period - time.time()), 0),
                "username": role.username}
    return _json(200, _envelope(data, mount_type="database"))


def _kv(state: VaultState, call: _Call, mount: str, rest: str) -> Reply:
    kind, _, path = rest.partition("/")
    if kind != "data" or not path:
        return _errors(404, "unsupported path")
    bad = _methods(call, "GET")
    if bad:
        return bad
    try:
        wanted = int(call.req.query_params.get("version") or 0)
    except ValueError:
        return _errors(400, "invalid version")
    with state.lock:
        versions = list(state.kv.get((call.namespace, mount, path.strip("/")), []))
    number = wanted or len(versions)
    if not versions or not 0 < number <= len(versions):
        return _errors(404)  # Vault: 404 {"errors": []}
    version = versions[number - 1]
    metadata = {"created_time": rfc3339(version.created_time), "custom_metadata": version.custom_metadata,
                "deletion_time": rfc3339(version.deletion_time) if version.deletion_time else "",
                "destroyed": version.destroyed, "version": number}
    gone = version.deletion_time is not None or version.destroyed
    # A deleted or destroyed version: 404 with the metadata and no data (hvac looks for it).
    body = _envelope({"data": None if gone else dict(version.data), "metadata": metadata}, mount_type="kv")
    return _json(404 if gone else 200, body)


# --- the /_mock/ control API -------------------------------------------------------------


def control(mock: MockIdentityServer, method: str, op: str, data: dict[str, Any]) -> dict[str, Any]:
    """/_mock/vault (GET: tokens, leases, seal) and /_mock/vault-<op> (POST), for suites in
    other languages. ValueError, KeyError or TypeError for a bad request."""
    state = mock.vault
    if method == "GET" and op == "vault":
        return {"root_token": state.root_token, "sealed": state.sealed, "namespaces": dict(state.namespaces),
                "leases": state.leases(), "tokens": state.tokens()}
    if method != "POST":
        raise ValueError(f"no control {method} {op}")
    actions = {
        "vault-token": lambda d: {"token": state.add_token(d.pop("policies", None), **d)},
        "vault-policy": lambda d: state.add_policy(d["name"], d["rules"]),
        "vault-namespace": lambda d: {"id": state.add_namespace(d["path"])},
        "vault-kubernetes": lambda d: {"jwt": state.add_kubernetes_role(d.pop("role"), d.pop("policies"), **d)},
        "vault-approle": lambda d: dict(zip(("role_id", "secret_id"),
                                            state.add_approle(d.pop("role"), d.pop("policies"), **d), strict=True)),
        "vault-db-role": lambda d: state.add_db_role(d.pop("name"), **d),
        "vault-static-role": lambda d: {"password": state.add_static_role(d.pop("name"), d.pop("username"), **d)},
        "vault-rotate": lambda d: {"password": state.rotate_static(d.pop("name"), **d)},
        "vault-kv": lambda d: {"version": state.put_kv(d.pop("mount"), d.pop("path"), d.pop("data"), **d)},
        "vault-seal": lambda d: setattr(state, "sealed", bool(d.get("sealed", True))),
        "vault-expire": lambda d: state.expire(d["lease_id"]),
        "vault-postgres": lambda d: state.attach_postgres(PsqlAdmin(d["socket_dir"], int(d["port"]),
                                                                    d.get("superuser", "postgres"))),
    }
    if op not in actions:
        raise ValueError(f"no control POST {op}")
    return {"ok": True, **(actions[op](dict(data)) or {})}
