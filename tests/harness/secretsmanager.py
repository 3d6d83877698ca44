"""AWS Secrets Manager on loopback: moto's server, the real emulator, for the `awssm://` source.

moto runs in a child process (``python -m harness.secretsmanager serve``), never in the test
process: importing moto adds a handler to every botocore client made afterwards, and its state
and settings would then share the test's environment. The child binds 127.0.0.1 only, on a
port the kernel picks (no race between finding a free port and binding it), over http and,
given the harness CA, https too; it exits when its stdin closes, so a crashed test run does not
leave it behind.

Signatures are checked (moto's own IAM authentication, INITIAL_NO_AUTH_ACTION_COUNT=0): the
credentials are an IAM user's access key that the child makes at start and after each reset,
allowed secretsmanager:*, so a client whose SigV4 is wrong gets SignatureDoesNotMatch as it
would from AWS rather than a secret. ``env()`` always gives the current key.

In front of moto sits a small WSGI layer that
  - records every request except the harness's controls (/moto-api/..., /_harness/...), with
    the status answered: ``GET /_harness/requests`` returns them, ``DELETE`` forgets them (moto's
    own recorder writes to a file, keeps no status and sees only the requests it routed);
  - refuses, as AWS does, what moto would hand to another service: moto routes by the SigV4
    scope and sends anything it cannot place to S3, which answers 200 with a bucket list. An
    unsigned request gets 400 MissingAuthenticationTokenException, a non-SigV4 Authorization 400
    IncompleteSignatureException, a scope for another service 403 InvalidSignatureException
    (JSON bodies with ``__type``, as AWS's JSON services answer);
  - rewrites moto's authentication errors (SignatureDoesNotMatch, InvalidClientTokenId,
    AccessDenied: 403, in XML) into that JSON shape, code and status unchanged;
  - ``POST /_harness/reset``: moto's /moto-api/reset, the record forgotten and a new access key
    made; answers {"access_key_id", "secret_access_key"}. Plain /moto-api/reset would leave no
    key to sign with.

Stdlib only at import time, like the rest of the harness; boto3 is imported when the admin
helpers first need it, and always talks to this server's endpoint.

    server = SecretsManagerServer(ca).start()
    server.create_rds_secret("db", "app", "pw...", "127.0.0.1", 5432, "app")
    env = hermetic_env(**server.env())   # what a client needs
    server.rotate("db", "new pw...")     # AWSPENDING, then promoted to AWSCURRENT
    server.requests(target=GET_SECRET_VALUE)
"""

from __future__ import annotations

import io
import json
import select
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import hygiene
from .ca import CA

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ACCOUNT_ID",
    "ADMIN_AGENT",
    "CONTENT_TYPE",
    "DEFAULT_REGION",
    "GET_SECRET_VALUE",
    "SERVICE",
    "SecretsManagerServer",
    "sigv4_scope",
]

SERVICE = "secretsmanager"
GET_SECRET_VALUE = "secretsmanager.GetSecretValue"
CONTENT_TYPE = "application/x-amz-json-1.1"
# Not us-east-1: a client that forgets the configured region and falls back to the SDKs'
# habitual default signs for a region holding no secrets, and gets ResourceNotFoundException.
DEFAULT_REGION = "eu-west-2"
# moto's default account: every ARN it makes carries it.
ACCOUNT_ID = "123456789012"
# The harness's own boto3 calls carry this in their User-Agent, so requests() can leave them out
# and show only what the client under test sent.
ADMIN_AGENT = "passmint-harness-admin"
CONTROL_PREFIXES = ("/moto-api", "/_harness/")
REQUESTS_PATH = "/_harness/requests"
RESET_PATH = "/_harness/reset"
# The IAM user whose key signs: allowed every Secrets Manager action, nothing else.
HARNESS_USER = "passmint-harness"
_POLICY = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
TESTS_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


def sigv4_scope(authorization: str | None) -> dict[str, Any] | None:
    """The parts of a SigV4 ``Authorization`` header a comparison wants: access_key, date,
    region, service, terminator (the credential scope) and signed_headers; None when the header
    is absent or not SigV4."""
    if not authorization or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = {}
    for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5:
        return None
    access_key, date, region, service, terminator = scope
    return {"access_key": access_key, "date": date, "region": region, "service": service,
            "terminator": terminator,
            "signed_headers": fields["SignedHeaders"].split(";") if fields.get("SignedHeaders") else []}


# --- the child: moto behind the front layer -----------------------------------------------

def _environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    # Lower-cased: HTTP header names are case-insensitive and WSGI has already lost the case.
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out[key.replace("_", "-").lower()] = value
    return out


def _json_error(start_response: Any, status: str, kind: str, message: str,
                extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    payload = json.dumps({"__type": kind, "message": message}).encode()
    start_response(status, [*(extra or []), ("Content-Type", CONTENT_TYPE), ("x-amzn-ErrorType", kind),
                            ("Content-Length", str(len(payload)))])
    return [payload]


def _xml_error(body: bytes) -> tuple[str, str] | None:
    """(code, message) of moto's XML ErrorResponse. moto's authentication answers in the query
    protocol's XML even for JSON services, which no JSON client (boto3 included) can read; the
    code, message and status are kept, in the JSON shape Secrets Manager's own errors have."""
    if not body.lstrip().startswith(b"<"):
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    code = root.findtext(".//Code")
    return (code, root.findtext(".//Message") or "") if code else None


def _refusal(headers: dict[str, str]) -> tuple[str, str, str] | None:
    """(status, __type, message) for a request AWS would refuse before Secrets Manager saw it."""
    authorization = headers.get("authorization")
    if not authorization:
        return "400 Bad Request", "MissingAuthenticationTokenException", "Missing Authentication Token"
    scope = sigv4_scope(authorization)
    if scope is None:
        return ("400 Bad Request", "IncompleteSignatureException",
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
    if scope["service"] != SERVICE:
        return ("403 Forbidden", "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{SERVICE}'. ")
    return None


def _new_key() -> dict[str, str]:
    # Straight into moto's IAM backend, not over HTTP: with authentication on, the first key
    # cannot be asked for by a request that would already need one.
    from moto.iam.models import iam_backends

    backend = iam_backends[ACCOUNT_ID]["aws"]
    if HARNESS_USER not in backend.users:
        backend.create_user(region_name="us-east-1", user_name=HARNESS_USER)
        backend.put_user_policy(HARNESS_USER, "secretsmanager", json.dumps(_POLICY))
    for old in backend.list_access_keys(HARNESS_USER):
        backend.delete_access_key(old.access_key_id, HARNESS_USER)
    key = backend.create_access_key(HARNESS_USER)
    return {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key}


class _Front:
    """WSGI layer before moto: the record, AWS's refusals of what moto would misroute, and the
    harness's controls."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []
        self.seq = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in (REQUESTS_PATH, RESET_PATH):
            return self._control(path, environ, start_response)
        if path.startswith(CONTROL_PREFIXES):
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = b""
        # moto reads the body again.
        environ["wsgi.input"] = io.BytesIO(body)
        headers = _environ_headers(environ)
        text = body.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        with self.lock:
            self.seq += 1
            entry: dict[str, Any] = {
                "seq": self.seq,
                "scheme": environ.get("wsgi.url_scheme", "http"),
                "method": environ.get("REQUEST_METHOD", ""),
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "headers": headers,
                "body": text,
                "json": parsed,
                "scope": sigv4_scope(headers.get("authorization")),
                "status": None,
            }
            self.entries.append(entry)

        refusal = _refusal(headers)
        if refusal is not None:
            entry["status"] = int(refusal[0].split(" ", 1)[0])
            return _json_error(start_response, *refusal)
        status, response_headers, answer = self._moto(environ)
        entry["status"] = int(status.split(" ", 1)[0])
        error = _xml_error(answer) if entry["status"] >= 400 else None
        if error is not None:
            kept = [(k, v) for k, v in response_headers if k.lower() not in ("content-type", "content-length")]
            return _json_error(start_response, status, *error, extra=kept)
        start_response(status, response_headers)
        return [answer]

    def _moto(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        # Buffered (moto's answers are small) so an error can be rewritten before it is sent.
        captured: dict[str, Any] = {}

        def capture(status: str, response_headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            captured["status"], captured["headers"] = status, response_headers
            return lambda data: None

        chunks = self.app(environ, capture)
        try:
            answer = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], answer

    def _control(self, path: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ.get("REQUEST_METHOD")
        answer: Any
        if path == RESET_PATH:
            if method != "POST":
                return _json_error(start_response, "405 Method Not Allowed", "MethodNotAllowed", "POST")
            from moto.moto_api._internal.models import moto_api_backend

            with self.lock:
                moto_api_backend.reset()
                self.entries.clear()
                answer = _new_key()
        else:
            with self.lock:
                if method == "DELETE":
                    self.entries.clear()
                answer = list(self.entries)
        payload = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


def _serve(argv: list[str]) -> int:
    import argparse
    import logging

    parser = argparse.ArgumentParser(prog="python -m harness.secretsmanager serve")
    parser.add_argument("--cert", help="PEM certificate: also serve https")
    parser.add_argument("--key", help="PEM private key for --cert")
    args = parser.parse_args(argv)

    # Werkzeug logs a line per request; the record already has them, and quiet children keep
    # suite logs short.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = _Front(DomainDispatcherApplication(create_backend_app))
    contexts: list[ssl.SSLContext | None] = [None]
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        contexts.append(ctx)
    servers = [make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler,
                           ssl_context=context) for context in contexts]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    ports = [s.server_address[1] for s in servers]
    ready = {"http": ports[0], "https": ports[1] if len(ports) > 1 else None, **_new_key()}
    print(json.dumps(ready), flush=True)
    # EOF: the parent stopped us, or died.
    sys.stdin.read()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


# --- the parent's handle -----------------------------------------------------------------

def _rds_secret(username: str, password: str, host: str, port: int, dbname: str, engine: str) -> dict[str, Any]:
    # The shape RDS writes for a managed or rotated master secret.
    return {"username": username, "password": password, "engine": engine, "host": host, "port": port,
            "dbname": dbname}


class SecretsManagerServer:
    """moto's Secrets Manager in a child process on 127.0.0.1, with admin helpers.

    ``ca``: also serve https with the harness CA's localhost certificate (``https_url``).
    ``region``: where the helpers create secrets and what ``env()`` tells clients.
    ``verify_signatures``: moto checks each request's SigV4 signature against the harness's IAM
    key (on by default; off, any well-formed scope is accepted, as moto does out of the box).
    """

    def __init__(self, ca: CA | None = None, *, region: str = DEFAULT_REGION,
                 verify_signatures: bool = True) -> None:
        self.ca = ca
        self.region = region
        self.verify_signatures = verify_signatures
        # The IAM key moto made (new at each reset); recorded, so a client that logs the secret
        # half is caught by the hygiene scan like any other leak.
        self.access_key_id = ""
        self.secret_access_key = ""
        self.url: str | None = None
        self.https_url: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Never cleared by reset(): leak scans want every secret ever handed out.
        self._issued: list[str] = []

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError("secretsmanager server already started")
        self._tmp = tempfile.TemporaryDirectory(prefix="passmint-moto-")
        home = Path(self._tmp.name) / "home"
        home.mkdir()
        args = [sys.executable, "-m", "harness.secretsmanager", "serve"]
        if self.ca is not None:
            args += ["--cert", str(self.ca.cert_pem), "--key", str(self.ca.key_pem)]
        # A clean environment: no AWS settings of the test run's reach moto, and nothing
        # tells it to reach anything but its own sockets.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "TZ": "UTC", "NO_PROXY": "*", "no_proxy": "*", "PYTHONDONTWRITEBYTECODE": "1"}
        if self.verify_signatures:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        stderr_path = Path(self._tmp.name) / "moto.stderr"
        with open(stderr_path, "w") as stderr:
            self._proc = subprocess.Popen(args, cwd=TESTS_DIR, env=env, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self._ready_line(time.monotonic() + START_TIMEOUT)
        if line is None:
            self.stop()
            raise RuntimeError(f"moto did not start: {stderr_path.read_text()[-2000:] if stderr_path.exists() else ''}")
        ready = json.loads(line)
        self.url = f"http://127.0.0.1:{ready['http']}"
        if ready.get("https"):
            self.https_url = f"https://127.0.0.1:{ready['https']}"
        self._use_key(ready)
        return self

    def _ready_line(self, deadline: float) -> str | None:
        # The first JSON line; anything a library prints before it is skipped.
        assert self._proc is not None and self._proc.stdout is not None
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._proc.stdout], [], [], left)
            if not readable:
                return None
            line = self._proc.stdout.readline()
            if not line:
                return None
            if line.startswith("{"):
                return line
        return None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()
        self._clients.clear()
        self.url = self.https_url = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every secret (moto's /moto-api/reset) and every recorded request, and sign with
        a new IAM key from now on (``env()`` gives it); issued secrets are kept."""
        status, _, body = self._control("POST", RESET_PATH)
        if status != 200:
            raise RuntimeError(f"POST {RESET_PATH}: {status} {body[:200]!r}")
        self._use_key(json.loads(body))

    def _use_key(self, key: dict[str, str]) -> None:
        self.access_key_id = key["access_key_id"]
        self.secret_access_key = key["secret_access_key"]
        self._clients.clear()
        self._issue([self.secret_access_key])

    # --- what a client needs -------------------------------------------------------------

    def endpoint(self, https: bool = False) -> str:
        url = self.https_url if https else self.url
        if url is None:
            raise RuntimeError("https needs a CA" if https and self.url else "server not started")
        return url

    def env(self, https: bool = False, region: str | None = None) -> dict[str, str]:
        """The variables a client on the default AWS chain needs to reach this server. Both
        region variables: botocore reads AWS_DEFAULT_REGION, the Rust SDK AWS_REGION. With
        ``https``, the https endpoint and AWS_CA_BUNDLE (hermetic_env sets it too)."""
        out = {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint(https),
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": region or self.region,
            "AWS_DEFAULT_REGION": region or self.region,
        }
        if https and self.ca is not None:
            out["AWS_CA_BUNDLE"] = str(self.ca.ca_pem)
        return out

    def issued_secrets(self) -> list[str]:
        """Every secret handed out: each IAM secret key, SecretString and password."""
        with self._lock:
            return list(self._issued)

    def _issue(self, values: list[str]) -> None:
        values = [v for v in values if v]
        with self._lock:
            self._issued += values
        # Now rather than at stop() as the mock does: a run that dies mid-way still has them
        # scanned, and a test that points PASSMINT_SECRETS_FILE elsewhere sees its own.
        hygiene.record(values)

    # --- admin: boto3 against this server only ---------------------------------------------

    def client(self, region: str | None = None) -> Any:
        """A boto3 secretsmanager client bound to this server (http) with the current key; its
        requests are marked as the harness's (ADMIN_AGENT)."""
        region = region or self.region
        if region not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session(aws_access_key_id=self.access_key_id,
                                            aws_secret_access_key=self.secret_access_key, region_name=region)
            self._clients[region] = session.client(
                "secretsmanager", endpoint_url=self.endpoint(),
                config=Config(user_agent_extra=ADMIN_AGENT, retries={"mode": "standard", "max_attempts": 1}))
        return self._clients[region]

    def create_rds_secret(self, name: str, username: str, password: str, host: str, port: int, dbname: str,
                          engine: str = "postgres", *, region: str | None = None) -> str:
        """A secret in the RDS JSON shape, its first version AWSCURRENT; returns its ARN."""
        body = json.dumps(_rds_secret(username, password, host, port, dbname, engine))
        self._issue([body, password])
        return self.client(region).create_secret(Name=name, SecretString=body)["ARN"]

    def current(self, name: str, stage: str = "AWSCURRENT", *, region: str | None = None) -> dict[str, Any]:
        """The secret's value under ``stage``, parsed, with ``VersionId`` and ``VersionStages``."""
        answer = self.client(region).get_secret_value(SecretId=name, VersionStage=stage)
        value = json.loads(answer["SecretString"])
        return {**value, "VersionId": answer["VersionId"], "VersionStages": answer["VersionStages"]}

    def stage_pending(self, name: str, new_password: str, new_username: str | None = None, *,
                      region: str | None = None) -> str:
        """Rotation's first step: a new version labelled AWSPENDING (AWSCURRENT stays where it
        is); returns its version id. The other fields are copied from AWSCURRENT."""
        value = self.current(name, region=region)
        for key in ("VersionId", "VersionStages"):
            value.pop(key)
        value["password"] = new_password
        if new_username is not None:
            value["username"] = new_username
        body = json.dumps(value)
        self._issue([body, new_password])
        answer = self.client(region).put_secret_value(SecretId=name, SecretString=body,
                                                      VersionStages=["AWSPENDING"])
        return answer["VersionId"]

    def versions(self, name: str, *, region: str | None = None) -> dict[str, list[str]]:
        """version id -> its staging labels."""
        return self.client(region).describe_secret(SecretId=name)["VersionIdsToStages"]

    def rotate(self, name: str, new_password: str, new_username: str | None = None, *,
               region: str | None = None) -> str:
        """A real rotation: stage_pending(), then AWSCURRENT moved onto that version, which makes
        the old one AWSPREVIOUS. The AWSPENDING label stays on the promoted version (moto, like
        put_secret_value, moves it off at the next stage_pending). Returns the new version id."""
        pending = self.stage_pending(name, new_password, new_username, region=region)
        current = next(v for v, stages in self.versions(name, region=region).items() if "AWSCURRENT" in stages)
        self.client(region).update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                                        MoveToVersionId=pending, RemoveFromVersionId=current)
        return pending

    def delete(self, name: str, *, force: bool = True, region: str | None = None) -> None:
        """``force``: gone at once (reads get ResourceNotFoundException); otherwise scheduled for
        deletion, as the console does (reads get InvalidRequestException)."""
        kwargs: dict[str, Any] = {"ForceDeleteWithoutRecovery": True} if force else {"RecoveryWindowInDays": 7}
        self.client(region).delete_secret(SecretId=name, **kwargs)

    # --- what the server received ----------------------------------------------------------

    def requests(self, target: str | None = None, *, include_admin: bool = False) -> list[dict[str, Any]]:
        """Requests received since the last reset, oldest first, each a dict: seq, scheme,
        method, path, query, headers (names lower-cased), body (text), json (body parsed, or
        None), scope (sigv4_scope of the Authorization header, or None) and status (what moto answered). ``target``: only
        those with that X-Amz-Target. The harness's own calls are left out unless
        ``include_admin``."""
        status, _, body = self._control("GET", REQUESTS_PATH)
        if status != 200:
            raise RuntimeError(f"GET {REQUESTS_PATH}: {status}")
        out = json.loads(body)
        if not include_admin:
            out = [r for r in out if ADMIN_AGENT not in r["headers"].get("user-agent", "")]
        if target is not None:
            out = [r for r in out if r["headers"].get("x-amz-target") == target]
        return out

    # --- raw calls -------------------------------------------------------------------------

    def raw_call(self, target: str, payload: dict[str, Any], *, sign: bool = True, service: str = SERVICE,
                 region: str | None = None, https: bool = False,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """POST / with ``X-Amz-Target: target`` and ``payload`` as JSON, SigV4-signed for
        ``service``/``region`` with the current key unless not ``sign``; ``headers`` are set
        after signing (to spoil it); -> (status, headers with lower-cased names, body). No SDK
        in the way: for what SDKs never send."""
        url = self.endpoint(https) + "/"
        base = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target}
        data = json.dumps(payload).encode()
        if sign:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            request = AWSRequest(method="POST", url=url, data=data, headers=base)
            SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), service,
                      region or self.region).add_auth(request)
            sent = dict(request.headers.items())
        else:
            sent = dict(base)
        return self._http("POST", url, {**sent, **(headers or {})}, data)

    def _control(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        return self._http(method, self.endpoint() + path, {}, b"" if method == "POST" else None)

    def _http(self, method: str, url: str, headers: dict[str, str],
              data: bytes | None) -> tuple[int, dict[str, str], bytes]:
        handlers: list[Any] = [urllib.request.ProxyHandler({})]
        if url.startswith("https:"):
            ctx = ssl.create_default_context(cafile=str(self.ca.ca_pem) if self.ca else None)
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with opener.open(request, timeout=30) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "serve":
        print("usage: python -m harness.secretsmanager serve [--cert PEM --key PEM]", file=sys.stderr)
        return 2
    return _serve(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
