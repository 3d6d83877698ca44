"""Mock cloud identity endpoints on loopback, over HTTP and HTTPS.

One object serves both schemes so a test can point one SDK at http and another
at https and compare what they sent. Everything is recorded; faults are
injected per route. The same controls exist over HTTP under /_mock/ so suites
in other languages can drive a mock started with ``python -m harness.mock``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import signal
import socket
import ssl
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from . import aws, azure, gcp, hygiene, vault
from .ca import CA, make_ca
from .wire import NOT_SET, OMIT, Reply, Request

if TYPE_CHECKING:
    from typing import Self

DEFAULT_LIFETIME = 3600.0
DEFAULT_ROLE = "passmint-mock-role"

__all__ = ["OMIT", "ROUTES", "MockIdentityServer"]

# Every route name faults, lifetimes and expirations can be keyed by.
ROUTES = aws.ROUTES + azure.ROUTES + gcp.ROUTES + vault.ROUTES
# Google's metadata probe is a GET / with its header: asked before AWS's STS, which owns "/".
# Vault owns /v1/, which no other module's paths start with.
_ROUTE_MODULES = (gcp, vault, aws, azure)


def _module_for(route: str | None):
    if route in gcp.ROUTES:
        return gcp
    if route in vault.ROUTES:
        return vault
    return azure if route in azure.ROUTES else aws


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    hang: bool = False
    body: bytes | None = None
    headers: dict[str, str] | None = None
    times: int | None = None
    reset: bool = False
    trickle: float = 0.0


def _first(parsed: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in parsed.items()}


def _json_reply(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


class MockIdentityServer:
    """Emulates the AWS container, STS web-identity and IMDSv2 endpoints and
    the Azure managed identity, IMDS and Entra token endpoints (azure.py)."""

    def __init__(
        self,
        ca: CA | None = None,
        *,
        container_token: str | None = None,
        role_name: str = DEFAULT_ROLE,
        record_file: str | os.PathLike | None = None,
    ) -> None:
        self.ca = ca
        self._defaults = {"container_token": container_token, "role_name": role_name}
        self.container_token = container_token
        self.role_name = role_name
        self._record_file = Path(record_file) if record_file else None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[dict[str, Any]] = []
        self._faults: dict[str, Fault] = {}
        self._lifetimes: dict[str | None, float] = {}
        self._expirations: dict[str | None, Any] = {}
        self._imds_tokens: dict[str, float] = {}
        # Never cleared by reset(): leak scans want every secret ever handed out.
        self._issued: list[dict[str, Any]] = []
        self._imds_all: list[str] = []
        self._azure_secrets: list[str] = []
        self._azure_claims: dict[str, dict[str, Any]] = {}
        self._azure_queued: dict[str, list[str]] = {}
        self.azure_apps: dict[str, str] = {}
        # client id -> PEM certificates registered for certificate auth.
        self.azure_certificates: dict[str, str] = {}
        self.identity_header: str | None = None
        self.arc_key = ""
        self.arc_echoes = True
        self.federated_assertion = ""
        self.azure_app_name = azure.DEFAULT_APP_NAME
        self.azure_uami_name = azure.DEFAULT_UAMI_NAME
        self._reset_azure()
        self.gcp = gcp.new_state()
        # Every Google secret ever made (keys, refresh tokens, subject tokens), for leak scans.
        self._gcp_secrets: list[str] = []
        # HashiCorp Vault (vault.py): tokens, auth roles, leases, KV; its secrets outlive resets too.
        self.vault = vault.new_state()
        self._vault_secrets: list[str] = []
        self._counter = 0
        self._request_seq = 0
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._conns: set = set()
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.http_url: str | None = None
        self.https_url: str | None = None

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> MockIdentityServer:
        if self._servers:
            raise RuntimeError("mock already started")
        if self.ca is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="passmint-mock-ca-")
            self.ca = make_ca(self._tmp.name)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.ca.cert_pem), str(self.ca.key_pem))
        self._stopping.clear()
        for tls_ctx in (None, ctx):
            server = _Server(self, tls_ctx)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"mock-{'https' if tls_ctx else 'http'}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        self.http_url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.https_url = f"https://127.0.0.1:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        # Drops the PostgreSQL roles of leases still live, while the server may still be up.
        self.vault.close()
        hygiene.record(self.issued_secrets())
        # Wakes delayed and hanging handlers so they let go of their sockets.
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ca_pem(self) -> Path | None:
        return self.ca.ca_pem if self.ca else None

    # --- controls ----------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, faults and overrides; issued secrets are kept. Vault's live leases
        are revoked (their PostgreSQL roles dropped) and it starts over, sealed no more."""
        old_vault = self.vault
        old_vault.close()
        with self._lock:
            self._vault_secrets += old_vault.secrets
            self.vault = vault.new_state()
            self._requests.clear()
            self._faults.clear()
            self._lifetimes.clear()
            self._expirations.clear()
            self._imds_tokens.clear()
            self.container_token = self._defaults["container_token"]
            self.role_name = self._defaults["role_name"]
            self._gcp_secrets += self.gcp.secrets
            self.gcp = gcp.new_state()
        self._reset_azure()

    def _reset_azure(self) -> None:
        # Fresh secrets per test: a leak scan then knows which test leaked.
        header, assertion = azure.new_identity_header(), azure.new_federated_assertion()
        secret, arc_key = azure.new_client_secret(), azure.new_identity_header()
        with self._lock:
            self.identity_header, self.federated_assertion = header, assertion
            self.arc_key = arc_key
            # Agents that support user-assigned identities name the one they answered for.
            self.arc_echoes = True
            self.azure_apps = {azure.DEFAULT_CLIENT_ID: secret}
            self.azure_certificates = {}
            self.azure_app_name = azure.DEFAULT_APP_NAME
            self.azure_uami_name = azure.DEFAULT_UAMI_NAME
            self._azure_claims.clear()
            self._azure_queued.clear()
            self._azure_secrets += [header, assertion, secret, arc_key]

    # --- Azure ---------------------------------------------------------------

    azure_client_id = azure.DEFAULT_CLIENT_ID
    azure_tenant_id = azure.TENANT_ID
    azure_subscription_id = azure.SUBSCRIPTION_ID

    @property
    def azure_client_secret(self) -> str:
        """The secret of the default app registration (``azure_client_id``)."""
        return self.azure_apps[azure.DEFAULT_CLIENT_ID]

    def azure_app(self, client_id: str, secret: str | None = None) -> str:
        """Register (or re-key) an app for client-secret auth; returns its secret."""
        secret = secret if secret is not None else azure.new_client_secret()
        with self._lock:
            self.azure_apps = {**self.azure_apps, client_id: secret}
            self._azure_secrets.append(secret)
        return secret

    def azure_certificate(self, client_id: str, cert_pem: str) -> None:
        """Register a certificate for ``client_id``'s certificate auth (client assertions)."""
        with self._lock:
            self.azure_certificates = {**self.azure_certificates, client_id: cert_pem}

    def set_azure_claims(self, route: str, claims: dict[str, Any]) -> None:
        """Merge ``claims`` into every token ``route`` issues (None removes a claim)."""
        if route not in azure.ROUTES:
            raise ValueError(f"not an Azure token route: {route!r}; known: {', '.join(azure.ROUTES)}")
        with self._lock:
            self._azure_claims[route] = {**self._azure_claims.get(route, {}), **claims}

    def azure_claims(self, route: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._azure_claims.get(route, {}))

    def queue_azure_token(self, route: str, token: str | None = None) -> str:
        """Make the next token ``route`` issues ``token`` (queued: one per issue, in order).

        Lets a test give PostgreSQL the password before a client that mints and connects
        in one go (the C and Go examples) asks for it. Without ``token``, a JWT-shaped one
        for the mock's system-assigned identity (``azure_app_name``, the route's claim
        overrides applied) is made now. Returns the token.
        """
        if route not in azure.ROUTES:
            raise ValueError(f"not an Azure token route: {route!r}; known: {', '.join(azure.ROUTES)}")
        if token is None:
            now, lifetime, _ = self.expiry_settings(route)
            claims = azure.system_identity_claims(self.azure_app_name, int(now), int(now + lifetime))
            token = azure.jwt(azure.apply_overrides(claims, self.azure_claims(route)))
        with self._lock:
            self._azure_queued.setdefault(route, []).append(token)
        return token

    def take_queued_azure_token(self, route: str) -> str | None:
        with self._lock:
            queue = self._azure_queued.get(route)
            return queue.pop(0) if queue else None

    def azure_info(self) -> dict[str, Any]:
        """What a client needs to authenticate against the Azure routes."""
        with self._lock:
            return {
                "identity_header": self.identity_header,
                "federated_assertion": self.federated_assertion,
                "client_id": azure.DEFAULT_CLIENT_ID,
                "client_secret": self.azure_apps.get(azure.DEFAULT_CLIENT_ID),
                "apps": dict(self.azure_apps),
                "tenant_id": azure.TENANT_ID,
                "subscription_id": azure.SUBSCRIPTION_ID,
                "app_name": self.azure_app_name,
                "uami_name": self.azure_uami_name,
                "appservice_url": f"{self.http_url}{azure.APPSERVICE_PATH}",
                "msi_url": f"{self.http_url}{azure.MSI_PATH}",
            }

    def fault(
        self,
        route: str,
        status: int | None = None,
        delay: float = 0.0,
        hang: bool = False,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        reset: bool = False,
        trickle: float = 0.0,
    ) -> None:
        """Make the next ``times`` requests to ``route`` (all, if None) misbehave.

        status: answer with it (and ``body``, else a route-typical error body).
        body alone: answer 200 with these raw bytes instead of the real reply.
        delay: seconds to wait first; hang: never answer until stop().
        headers: extra response headers.
        reset: send half the reply, then reset the connection; trickle: send the body one byte
        every ``trickle`` seconds.
        """
        self._check_route(route)
        if times is not None and times <= 0:
            self.clear_fault(route)
            return
        if isinstance(body, str):
            body = body.encode()
        f = Fault(status, float(delay), bool(hang), body, dict(headers or {}), times, bool(reset), float(trickle))
        with self._lock:
            self._faults[route] = f

    def clear_fault(self, route: str) -> None:
        with self._lock:
            self._faults.pop(route, None)

    def set_credential_lifetime(self, route: str | None, seconds: float) -> None:
        """Lifetime of credentials issued by ``route`` (None: every route)."""
        if route is not None:
            self._check_route(route)
        with self._lock:
            self._lifetimes[route] = float(seconds)

    def set_expiration(self, route: str | None, value: Any) -> None:
        """Send ``value`` verbatim as Expiration (any JSON value, or OMIT)."""
        if route is not None:
            self._check_route(route)
        with self._lock:
            self._expirations[route] = value

    def clear_expiration(self, route: str | None = None) -> None:
        with self._lock:
            self._expirations.pop(route, None)

    def configure(self, container_token: Any = ..., role_name: Any = ..., identity_header: Any = ...,
                  federated_assertion: Any = ..., azure_app_name: Any = ..., azure_uami_name: Any = ...) -> None:
        """Change the container auth token (None: don't check), the IMDS role, the
        App Service identity header (None: don't check), the accepted federated
        assertion, or the names in the managed identities' xms_mirid."""
        with self._lock:
            if container_token is not ...:
                self.container_token = container_token
            if role_name is not ...:
                self.role_name = role_name
            if identity_header is not ...:
                self.identity_header = identity_header
            if federated_assertion is not ...:
                self.federated_assertion = federated_assertion
            if azure_app_name is not ...:
                self.azure_app_name = azure_app_name
            if azure_uami_name is not ...:
                self.azure_uami_name = azure_uami_name
            self._azure_secrets += [v for v in (identity_header, federated_assertion) if isinstance(v, str)]

    @staticmethod
    def _check_route(route: str) -> None:
        # A typo'd route would silently inject nothing; fail the test instead.
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; known: {', '.join(ROUTES)}")

    # --- observations ------------------------------------------------------

    def requests(self, path_prefix: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (not /_mock/ calls).

        Each has method, path, query, query_params, headers (names lower-cased),
        body (text), form (parsed urlencoded body or None), tls, time, route
        and faulted.
        """
        with self._lock:
            recs = [r for r in self._requests if not path_prefix or r["path"].startswith(path_prefix)]
            return copy.deepcopy(recs)

    def issued(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._issued)

    def issued_secrets(self) -> list[str]:
        """Every secret handed out so far: AWS secret keys, session and IMDS tokens;
        Azure access tokens, client secrets, federated assertions, identity headers; Vault
        tokens, database passwords, service account JWTs and AppRole secret ids."""
        with self._lock:
            out = [c[k] for c in self._issued for k in ("SecretAccessKey", "Token", "access_token") if k in c]
            google = self._gcp_secrets + self.gcp.secrets
            hashicorp = self._vault_secrets + list(self.vault.secrets)
            return out + list(self._imds_all) + [s for s in self._azure_secrets if s] + google + hashicorp

    def vault_issued(self) -> list[dict[str, Any]]:
        """Vault's leases since the last reset (vault.VaultState.leases)."""
        return self.vault.leases()

    # --- state used by the routes -----------------------------------------

    def issue(self, route: str, **meta: Any) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            self._counter += 1
            lifetime = self._lifetimes.get(route, self._lifetimes.get(None, DEFAULT_LIFETIME))
            if route in self._expirations:
                expiration = self._expirations[route]
            else:
                expiration = self._expirations.get(None, aws.rfc3339(now + lifetime))
            creds: dict[str, Any] = {
                "route": route,
                "AccessKeyId": f"ASIAMOCK{self._counter:06d}",
                "SecretAccessKey": aws.new_secret_key(),
                "Token": aws.new_session_token(),
                "issued_at": now,
                "expires_at": now + lifetime,
                **meta,
            }
            if expiration is not OMIT:
                creds["Expiration"] = expiration
            self._issued.append(creds)
            return dict(creds)

    def expiry_settings(self, route: str) -> tuple[float, float, Any]:
        """(now, lifetime, expiration override: NOT_SET, OMIT or a value) for ``route``."""
        with self._lock:
            lifetime = self._lifetimes.get(route, self._lifetimes.get(None, DEFAULT_LIFETIME))
            override = self._expirations.get(route, self._expirations.get(None, NOT_SET))
        return time.time(), lifetime, override

    def explicit_lifetime(self, route: str) -> float | None:
        """The lifetime set for ``route`` (or every route) by set_credential_lifetime, if any: for
        routes whose answers carry a lifetime of their own unless a test sets one."""
        with self._lock:
            return self._lifetimes.get(route, self._lifetimes.get(None))

    def record_issued(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._issued.append(copy.deepcopy(record))

    def new_imds_token(self, ttl: int) -> str:
        token = "AQAEAmock" + base64.urlsafe_b64encode(os.urandom(30)).decode()
        with self._lock:
            self._imds_tokens[token] = time.time() + ttl
            self._imds_all.append(token)
        return token

    def imds_token_valid(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._imds_tokens.get(token or "")
        return expiry is not None and expiry > time.time()

    # --- request handling --------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _take_fault(self, route: str | None) -> Fault | None:
        with self._lock:
            f = self._faults.get(route or "")
            if f is not None and f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    del self._faults[route or ""]
            return f

    def _record(self, req: Request, route: str | None, faulted: bool) -> None:
        with self._lock:
            self._request_seq += 1
            rec = {
                "id": self._request_seq,
                "time": time.time(),
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "query_params": req.query_params,
                "headers": req.headers,
                "body": req.body.decode("utf-8", "replace"),
                "form": req.form,
                "tls": req.tls,
                "route": route,
                "faulted": faulted,
            }
            self._requests.append(rec)
            if self._record_file is not None:
                with open(self._record_file, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")

    def _serve(self, req: Request) -> Reply | None:
        """The reply to send, or None to close the connection without one."""
        route = next((r for r in (m.route_of(req) for m in _ROUTE_MODULES) if r), None)
        routes = _module_for(route)
        fault = self._take_fault(route)
        self._record(req, route, fault is not None)
        if fault is None:
            return routes.handle(self, route, req)
        if fault.delay > 0 and self._stopping.wait(fault.delay):
            return None
        if fault.hang:
            self._stopping.wait()
            return None
        if fault.status is not None:
            reply = routes.fault_reply(route, fault.status, fault.body)
        elif fault.body is not None:
            reply = Reply(200, fault.body, {"Content-Type": routes.content_type(route)})
        else:
            reply = routes.handle(self, route, req)
        reply.headers.update(fault.headers or {})
        reply.reset, reply.trickle = fault.reset, fault.trickle
        return reply

    def _control(self, req: Request) -> Reply:
        op = req.path[len("/_mock/"):].strip("/")
        try:
            if req.method == "GET" and op == "requests":
                return _json_reply(200, self.requests(req.query_params.get("prefix")))
            if req.method == "GET" and op == "issued":
                return _json_reply(200, {"issued": self.issued(), "secrets": self.issued_secrets()})
            if req.method == "GET" and op == "azure":
                return _json_reply(200, self.azure_info())
            if op == "vault" or op.startswith("vault-"):
                data = json.loads(req.body or b"{}") if req.method == "POST" else {}
                if not isinstance(data, dict):
                    raise TypeError("body must be a JSON object")
                return _json_reply(200, vault.control(self, req.method, op, data))
            if req.method != "POST":
                return _json_reply(404, {"error": f"no control {req.method} {op}"})
            data = json.loads(req.body or b"{}")
            if not isinstance(data, dict):
                raise TypeError("body must be a JSON object")
            if op == "reset":
                self.reset()
            elif op == "fault":
                route = data.pop("route")
                self.fault(route, **data)
            elif op == "clear-fault":
                self.clear_fault(data["route"])
            elif op == "lifetime":
                self.set_credential_lifetime(data.get("route"), data["seconds"])
            elif op == "expiration":
                if data.get("clear"):
                    self.clear_expiration(data.get("route"))
                else:
                    value = OMIT if data.get("omit") else data["value"]
                    self.set_expiration(data.get("route"), value)
            elif op == "config":
                self.configure(**data)
            elif op == "azure-claims":
                self.set_azure_claims(data["route"], data["claims"])
            elif op == "azure-queue":
                return _json_reply(200, {"ok": True, "token": self.queue_azure_token(data["route"], data.get("token"))})
            elif op == "gcp-service-account":
                return _json_reply(200, {"ok": True, "key": gcp.service_account(self, data.get("name", "passmint-app"))})
            elif op == "azure-app":
                secret = self.azure_app(data["client_id"], data.get("secret"))
                return _json_reply(200, {"ok": True, "secret": secret})
            else:
                return _json_reply(404, {"error": f"no control POST {op}"})
        except (ValueError, KeyError, TypeError) as e:
            return _json_reply(400, {"error": f"{type(e).__name__}: {e}"})
        return _json_reply(200, {"ok": True})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Storms of hundreds of simultaneous connects (the benchmarks) must queue, not be refused.
    request_queue_size = 1024

    def __init__(self, mock: MockIdentityServer, ssl_context: ssl.SSLContext | None):
        self.mock = mock
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):  # type: ignore[override]
        # The TLS handshake happens here, in the connection's own thread: done
        # at accept() a client that never handshakes would stall the server.
        conn = request
        try:
            if self.ssl_context is not None:
                request.settimeout(10)
                try:
                    conn = self.ssl_context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            self.mock._track(conn, True)
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            self.mock._track(conn, False)
            if conn is not request:
                conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # SDKs keep connections alive; so do we
    server_version = "passmint-mock"
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded; stderr noise would bury test output

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        mock = self.server.mock
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"malformed body"))
            return
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = None
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            form = _first(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
        req = Request(
            method=self.command,
            path=split.path or "/",
            query=split.query,
            query_params=_first(parse_qs(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            form=form,
            tls=self.server.ssl_context is not None,
        )
        if req.path.startswith("/_mock/"):
            self._send(mock._control(req))
            return
        reply = mock._serve(req)
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.reset:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                # SO_LINGER 0: close() sends RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if reply.trickle > 0:
                for i in range(len(reply.body)):
                    self.wfile.write(reply.body[i : i + 1])
                    self.wfile.flush()
                    if self.server.mock._stopping.wait(reply.trickle):
                        break
                return
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.mock", description=__doc__)
    parser.add_argument("--ready-file", required=True, help="JSON with the URLs, written once serving")
    parser.add_argument("--ca-dir", help="reuse or create the test CA here (default: a temp dir)")
    parser.add_argument("--record-file", help="append every request here as JSON lines")
    parser.add_argument("--container-token", help="require this Authorization on container creds")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ca = make_ca(args.ca_dir) if args.ca_dir else None
    ready = Path(args.ready_file)
    with MockIdentityServer(ca, container_token=args.container_token, record_file=args.record_file) as mock:
        info = {
            "http_url": mock.http_url,
            "https_url": mock.https_url,
            "ca_pem": str(mock.ca_pem),
            "pid": os.getpid(),
        }
        # Written whole then renamed: a poller never reads half a file.
        tmp = ready.with_name(ready.name + ".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, ready)
        try:
            while not stop.wait(0.2):
                pass
        finally:
            ready.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
