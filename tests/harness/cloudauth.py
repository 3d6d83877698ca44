"""A PostgreSQL front door that checks a token the way the cloud does, for `make demo`.

The tests give PostgreSQL the token as the role's password before the driver sends it. That
works when the test mints the token itself. It cannot work when the program under test mints
and connects in one go with an AWS token, which is signed locally at a time the test cannot
know. Azure, DSQL and RDS do not store passwords at all: they check the token at login. So
does this front door.

    with CloudAuthFront(pg, ca, known_credentials, known_azure_tokens) as front:
        ...  # clients connect to 127.0.0.1:front.port with sslmode=verify-full

Per connection, it:

1. answers `SSLRequest` and serves TLS with the harness certificate (plaintext is refused, as
   the clouds refuse it);
2. asks for a cleartext password, which is the production path of all three clouds;
3. checks the password.
   - An AWS token needs a SigV4 signature made with credentials the mock issued. The
     credentials must be unexpired, and the token must be unexpired with its date at most
     5 minutes ahead. The user must be the token's `DBUser` (RDS). For DSQL, `DbConnectAdmin`
     is for `admin` only.
   - An Entra token needs to be one the mock or the fake `az`/`azd` issued, unexpired, whose
     identity names the role (`xms_mirid`'s last segment, `upn` or `preferred_username`).
   - A Google access token (`ya29.…`) needs to be one the mock issued, unexpired, whose IAM
     principal is the role as Cloud SQL names it (`name@project.iam` for a service account).
4. hands the session to the harness PostgreSQL over its unix socket (trusted there), then
   relays bytes both ways.

Refusals are the server's usual `28P01 password authentication failed`, with the reason
recorded in `.log` (never the token: each entry has its SHA-256 prefix, `digest`, so a test can
tell which of the tokens it knows a login used).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import quote, unquote

SSL_REQUEST, GSS_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
SKEW = 300  # seconds a token's date may run ahead of this clock, as SigV4 allows


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    return buf


def _error(message: str, code: str = "28P01") -> bytes:
    body = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


# --- the checks ---------------------------------------------------------------------------


def _sigv4_query_signature(params: dict[str, str], host: str, secret: str) -> str:
    """The X-Amz-Signature of a presigned GET / (aws-tokens.md §1)."""
    enc = lambda s: quote(s, safe="-_.~")
    amz_date = params["X-Amz-Date"]
    _, day, region, service, _ = params["X-Amz-Credential"].split("/")
    signed = {k: v for k, v in params.items() if k != "X-Amz-Signature"}
    canon_q = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(signed.items()))
    canon = "\n".join(["GET", "/", canon_q, f"host:{host}", "", "host", hashlib.sha256(b"").hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def check_aws(token: str, user: str, credentials: Iterable[dict[str, Any]], now: float) -> tuple[str | None, str]:
    """(None, kind) when `token` lets `user` in, else (reason, kind)."""
    host, sep, query = token.partition("/?")
    if not sep:
        return "not a SigV4 token", "aws"
    params = {unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in query.split("&"))}
    action = params.get("Action", "")
    kind = "dsql" if action.startswith("DbConnect") and "DBUser" not in params else "rds"
    try:
        access_key = params["X-Amz-Credential"].split("/")[0]
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        expires = int(params["X-Amz-Expires"])
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError, IndexError):
        return "a SigV4 parameter is missing or malformed", kind
    creds = next((c for c in credentials if c.get("AccessKeyId") == access_key), None)
    if creds is None:
        return "signed with credentials the identity service never issued", kind
    if params.get("X-Amz-Security-Token") != creds.get("Token"):
        return "the session token does not belong to the signing key", kind
    if not hmac.compare_digest(_sigv4_query_signature(params, host, creds["SecretAccessKey"]), signature):
        return "signature mismatch", kind
    if signed_at > now + SKEW:
        return "signed in the future (clock skew)", kind
    if now > signed_at + expires:
        return "Signature expired", kind
    if now > creds.get("expires_at", float("inf")):
        return "the signing credentials have expired", kind
    if kind == "rds":
        if params.get("DBUser") != user:
            return f"the token is for user {params.get('DBUser')!r}, not {user!r}", kind
    elif (action == "DbConnectAdmin") != (user == "admin"):
        return f"{action} does not let {user!r} in", kind
    return None, kind


def _claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None


def check_azure(token: str, user: str, issued: Iterable[str], now: float) -> str | None:
    if token not in set(issued):
        return "not a token Entra ID issued"
    claims = _claims(token) or {}
    if now >= float(claims.get("exp", 0)):
        return "the token has expired"
    names = {str(claims[k]) for k in ("upn", "preferred_username", "unique_name") if k in claims}
    if "xms_mirid" in claims:
        names.add(str(claims["xms_mirid"]).rstrip("/").rsplit("/", 1)[-1])
    if user not in names:
        return f"the token's identity ({', '.join(sorted(names)) or 'none'}) is not role {user!r}"
    return None


def check_gcp(token: str, user: str, issued: Iterable[dict[str, Any]], now: float) -> str | None:
    rec = next((r for r in issued if r.get("access_token") == token and str(r.get("route", "")).startswith("gcp-")),
               None)
    if rec is None:
        return "not a token Google issued"
    if now >= float(rec.get("expires_at", 0)):
        return "the token has expired"
    if rec.get("db_user") != user:
        return f"the token's principal ({rec.get('db_user') or 'none'}) is not role {user!r}"
    login = {"https://www.googleapis.com/auth/sqlservice.login", "https://www.googleapis.com/auth/alloydb.login",
             "https://www.googleapis.com/auth/cloud-platform"}
    if not login & set(rec.get("scopes") or []):
        return "the token's scopes do not include a database login scope"
    return None


# --- the server ---------------------------------------------------------------------------


def digest(password: str) -> str:
    """What the log keeps of a password: enough to tell which token a login used, never the token."""
    return hashlib.sha256(password.encode()).hexdigest()[:16]


class CloudAuthFront:
    def __init__(
        self,
        pg: Any,
        ca: Any,
        aws_credentials: Callable[[], list[dict[str, Any]]],
        azure_tokens: Callable[[], list[str]],
        port: int = 0,
        keep_log: bool = True,
        passwords: Callable[[], Iterable[tuple[str, str]]] | None = None,
    ) -> None:
        self.pg, self.ca = pg, ca
        # Secret stores' (user, password) pairs (Vault leases, Secrets Manager secrets): what a
        # server with password authentication would accept.
        self._passwords = passwords or (lambda: ())
        self._aws_credentials, self._azure_tokens = aws_credentials, azure_tokens
        self.port: int = port
        # Every login, or (keep_log=False, for long runs whose memory is measured) only the
        # refusals, the first 1,000 of them; `accepted` and `refused` always count.
        self.log: list[dict[str, Any]] = []
        self.keep_log = keep_log
        self.accepted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(str(ca.cert_pem), str(ca.key_pem))

    def __enter__(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        accept = threading.Thread(target=self._accept, name="cloudauth-accept", daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), name="cloudauth-conn", daemon=True)
            t.start()
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _record(self, **entry: Any) -> None:
        with self._lock:
            if entry.get("ok"):
                self.accepted += 1
            else:
                self.refused += 1
            if self.keep_log or (not entry.get("ok") and len(self.log) < 1000):
                self.log.append({"time": time.time(), **entry})

    def check(self, user: str, password: str) -> tuple[str | None, str]:
        """(refusal reason or None, token kind)."""
        now = time.time()
        if (user, password) in set(self._passwords()):
            return None, "password"
        if password.startswith("ya29."):
            return check_gcp(password, user, self._aws_credentials(), now), "gcp"
        if password.startswith("ey") and password.count(".") == 2:
            return check_azure(password, user, self._azure_tokens(), now), "azure"
        return check_aws(password, user, self._aws_credentials(), now)

    def _serve(self, raw: socket.socket) -> None:
        client: socket.socket = raw
        try:
            client.settimeout(30)
            while True:
                length, code = struct.unpack("!II", _recv_exact(client, 8))
                if code == SSL_REQUEST and not isinstance(client, ssl.SSLSocket):
                    client.sendall(b"S")
                    client = self._tls.wrap_socket(client, server_side=True)
                elif code == GSS_REQUEST:
                    client.sendall(b"N")
                elif code == CANCEL_REQUEST:
                    self._forward_cancel(_recv_exact(client, length - 8))
                    return
                else:
                    startup = struct.pack("!II", length, code) + _recv_exact(client, length - 8)
                    break
            fields = startup[8:].split(b"\0")
            params = dict(zip(fields[0::2], fields[1::2]))
            user = params.get(b"user", b"").decode()
            if not isinstance(client, ssl.SSLSocket):
                self._record(user=user, ok=False, reason="plaintext")
                client.sendall(_error(f'no encryption: connections for user "{user}" must use TLS', "28000"))
                return
            client.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
            tag, size = struct.unpack("!cI", _recv_exact(client, 5))
            password = _recv_exact(client, size - 4).rstrip(b"\0").decode("utf-8", "replace")
            if tag != b"p":
                return
            reason, kind = self.check(user, password)
            self._record(user=user, kind=kind, ok=reason is None, reason=reason, tls=client.version(),
                         digest=digest(password))
            if reason is not None:
                client.sendall(_error(f'password authentication failed for user "{user}"'))
                return
            backend = socket.socket(socket.AF_UNIX)
            backend.connect(f"{self.pg.dir}/.s.PGSQL.{self.pg.port}")
            backend.sendall(startup)
            self._relay(client, backend)
        except (OSError, ssl.SSLError, ConnectionError, struct.error):
            return
        finally:
            client.close()

    def _forward_cancel(self, body: bytes) -> None:
        with socket.socket(socket.AF_UNIX) as backend:
            backend.connect(f"{self.pg.dir}/.s.PGSQL.{self.pg.port}")
            backend.sendall(struct.pack("!II", 16, CANCEL_REQUEST) + body)

    def _relay(self, client: socket.socket, backend: socket.socket) -> None:
        client.settimeout(None)
        peers = {client: backend, backend: client}
        try:
            while not self._stop.is_set():
                # TLS may hold decrypted bytes that select cannot see.
                ready = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not ready:
                    ready, _, _ = select.select(list(peers), [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        finally:
            backend.close()
