"""Google identity endpoints as google-auth sees them (sources-t2.md, Google section).

Routes (names are a contract with the tests):

    gcp-token          POST /gcp/oauth2/token      JWT bearer grant (service account key) and
                                                   refresh_token grant (authorized_user)
    gcp-sts            POST /gcp/sts/v1/token      RFC 8693 token exchange (workload identity federation)
    gcp-iam            POST /gcp/iam/v1/projects/-/serviceAccounts/{email}:generateAccessToken
    gcp-metadata-ping  GET  / with Metadata-Flavor  the probe (GCE_METADATA_IP)
    gcp-metadata       GET  /computeMetadata/v1/instance/service-accounts/default/[token]
    gcp-subject        GET  /gcp/subject           a subject token served by URL (credential_source.url)

Access tokens are opaque (``ya29.`` and random bytes), as Google's are. Every one is recorded
with the database user it lets in (``db_user``), which the front door (cloudauth.py) checks.
"""

from __future__ import annotations

import base64
import calendar
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .wire import NOT_SET, OMIT, Reply, Request

if TYPE_CHECKING:
    from .mock import MockIdentityServer

ROUTES = ("gcp-token", "gcp-sts", "gcp-iam", "gcp-metadata-ping", "gcp-metadata", "gcp-subject")

TOKEN_PATH = "/gcp/oauth2/token"
STS_PATH = "/gcp/sts/v1/token"
IAM_PREFIX = "/gcp/iam"
IAM_PATH_HEAD = IAM_PREFIX + "/v1/projects/-/serviceAccounts/"
METADATA_PREFIX = "/computeMetadata/v1/instance/service-accounts/default"
SUBJECT_PATH = "/gcp/subject"

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AWS_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
AWS_VERIFICATION_URL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
SQL_LOGIN = "https://www.googleapis.com/auth/sqlservice.login"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
PROJECT = "my-project"
POOL_AUDIENCE = ("//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/passmint-pool/"
                 "providers/passmint-provider")
METADATA_EMAIL = f"passmint-vm@{PROJECT}.iam.gserviceaccount.com"
# Scopes that let a token call generateAccessToken.
_IMPERSONATION_SCOPES = {IAM_SCOPE, CLOUD_PLATFORM}


def db_user(email: str) -> str:
    """Cloud SQL's PostgreSQL user for an IAM principal."""
    return email.removesuffix(".gserviceaccount.com")


def new_access_token() -> str:
    return "ya29.mock" + base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")


@dataclass
class GcpState:
    """What the mock Google knows: keys, users, the federation's subject token."""

    service_accounts: dict[str, str] = field(default_factory=dict)  # email -> public key PEM
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # client_id -> secret, refresh_token, email
    subject_token: str = ""
    # The principal a federated token stands for, as a database user (None: it names none).
    federated_user: str | None = None
    # AWS keys a test gave the AWS source by environment (access key id -> secret), beside the
    # ones the mock's IMDS issued, for checking AWS subject tokens.
    aws_keys: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def new_state() -> GcpState:
    state = GcpState()
    state.subject_token = "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(os.urandom(60)).decode().rstrip("=") + ".sig"
    state.secrets.append(state.subject_token)
    return state


# --- credential files -------------------------------------------------------------------


def service_account(mock: MockIdentityServer, name: str = "passmint-app") -> dict[str, Any]:
    """A new service account key file (JSON), its key registered with the mock."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    email = f"{name}@{PROJECT}.iam.gserviceaccount.com"
    state = mock.gcp
    with state.lock:
        state.service_accounts[email] = public
        # The key's body, not the PEM: a leak of it is a leak whatever wraps it.
        state.secrets.append(pem.split("-----")[2].strip())
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": os.urandom(20).hex(),
        "private_key": pem,
        "client_email": email,
        "client_id": str(int.from_bytes(os.urandom(8), "big")),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{mock.https_url}{TOKEN_PATH}",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


def authorized_user(mock: MockIdentityServer, email: str = "ana@example.com") -> dict[str, Any]:
    """What `gcloud auth application-default login` writes (with the mock's token_uri)."""
    client_id = f"{int.from_bytes(os.urandom(6), 'big')}-mock.apps.googleusercontent.com"
    secret = "d-FL95Q" + base64.urlsafe_b64encode(os.urandom(18)).decode()
    refresh = "1//0" + base64.urlsafe_b64encode(os.urandom(60)).decode().rstrip("=")
    with mock.gcp.lock:
        mock.gcp.users[client_id] = {"secret": secret, "refresh_token": refresh, "email": email}
        mock.gcp.secrets += [secret, refresh]
    return {
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": secret,
        "refresh_token": refresh,
        "token_uri": f"{mock.https_url}{TOKEN_PATH}",
        "quota_project_id": PROJECT,
        "universe_domain": "googleapis.com",
    }


def iam_url(mock: MockIdentityServer, email: str) -> str:
    return f"{mock.https_url}{IAM_PATH_HEAD}{email}:generateAccessToken"


def external_account(mock: MockIdentityServer, *, file: str | None = None, url: str | None = None,
                     json_field: str | None = None, impersonate: str | None = None) -> dict[str, Any]:
    """A workload identity federation file whose subject token comes from ``file`` or ``url``."""
    source: dict[str, Any] = {"file": file} if file is not None else {"url": url, "headers": {"Metadata": "True"}}
    if json_field:
        source["format"] = {"type": "json", "subject_token_field_name": json_field}
    out: dict[str, Any] = {
        "type": "external_account",
        "audience": POOL_AUDIENCE,
        "subject_token_type": JWT_TOKEN_TYPE,
        "token_url": f"{mock.https_url}{STS_PATH}",
        "credential_source": source,
        "universe_domain": "googleapis.com",
    }
    if impersonate:
        out["service_account_impersonation_url"] = iam_url(mock, impersonate)
    return out


def aws_external_account(mock: MockIdentityServer, *, impersonate: str | None = None, imdsv2: bool = True,
                         region_url: bool = True) -> dict[str, Any]:
    """A workload identity federation file for AWS (environment_id aws1), its metadata URLs on the
    mock's IMDS."""
    source: dict[str, Any] = {
        "environment_id": "aws1",
        "url": f"{mock.http_url}/latest/meta-data/iam/security-credentials",
        "regional_cred_verification_url": AWS_VERIFICATION_URL,
    }
    if region_url:
        source["region_url"] = f"{mock.http_url}/latest/meta-data/placement/availability-zone"
    if imdsv2:
        source["imdsv2_session_token_url"] = f"{mock.http_url}/latest/api/token"
    out: dict[str, Any] = {
        "type": "external_account",
        "audience": POOL_AUDIENCE,
        "subject_token_type": AWS_TOKEN_TYPE,
        "token_url": f"{mock.https_url}{STS_PATH}",
        "credential_source": source,
    }
    if impersonate:
        out["service_account_impersonation_url"] = iam_url(mock, impersonate)
    return out


def check_aws_subject(subject: str, audience: str, secret_of: Any, now: float) -> str:
    """Why an AWS subject token is refused ('' if not), as Google's STS checks it with AWS: a
    POST to STS GetCallerIdentity for the pool, SigV4-signed (recomputed here from the
    canonical request, google-auth's way) with keys AWS issued, dated within 15 minutes."""
    import hashlib
    import hmac
    import re
    from urllib.parse import parse_qs, quote, urlsplit

    try:
        req = json.loads(unquote(subject))
        headers = {h["key"]: h["value"] for h in req["headers"]}
    except (ValueError, KeyError, TypeError):
        return "The subject token is not a serialized AWS request."
    lower = {k.lower(): v for k, v in headers.items()}
    if req.get("method") != "POST" or lower.get("x-goog-cloud-target-resource") != audience:
        return "The AWS request is not a POST for this workload identity pool."
    url = urlsplit(req.get("url", ""))
    query = parse_qs(url.query)
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", lower.get("authorization", ""))
    if not m or query.get("Action") != ["GetCallerIdentity"] or url.hostname != lower.get("host"):
        return "The AWS request is not a signed GetCallerIdentity."
    key, day, region, service, signed, signature = m.groups()
    if url.hostname != f"sts.{region}.amazonaws.com" or service != "sts":
        return "The AWS request is not for STS in its region."
    secret = secret_of(key)
    if secret is None:
        return "AWS does not know the access key."
    names = signed.split(";")
    if not {"host", "x-amz-date"} <= set(names) or any(n not in lower for n in names):
        return "The AWS request does not sign host and x-amz-date."
    canon_q = "&".join(f"{quote(k, safe='-_.~')}={quote(v[0], safe='-_.~')}" for k, v in sorted(query.items()))
    canon_h = "".join(f"{n}:{lower[n]}\n" for n in names)
    canon = "\n".join(["POST", url.path or "/", canon_q, canon_h, signed, hashlib.sha256(b"").hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", lower["x-amz-date"], scope, hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
        return "The AWS signature does not match."
    signed_at = calendar.timegm(time.strptime(lower["x-amz-date"], "%Y%m%dT%H%M%SZ"))
    if abs(now - signed_at) > 900:
        return "The AWS request is not dated within 15 minutes."
    return ""


def impersonated(source: dict[str, Any], target: str, mock: MockIdentityServer) -> dict[str, Any]:
    """What `gcloud auth application-default login --impersonate-service-account` writes."""
    return {
        "type": "impersonated_service_account",
        "service_account_impersonation_url": iam_url(mock, target),
        "source_credentials": source,
        "delegates": [],
    }


# --- routes ---------------------------------------------------------------------------


def route_of(req: Request) -> str | None:
    path = req.path
    if path == "/" and req.method == "GET" and "metadata-flavor" in req.headers:
        return "gcp-metadata-ping"
    if path == TOKEN_PATH:
        return "gcp-token"
    if path == STS_PATH:
        return "gcp-sts"
    if path.startswith(IAM_PATH_HEAD):
        return "gcp-iam"
    if path.startswith(METADATA_PREFIX):
        return "gcp-metadata"
    if path == SUBJECT_PATH:
        return "gcp-subject"
    return None


def _json(status: int, obj: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return _json(status, {"error": error, "error_description": description})


def _api_error(status: int, message: str, code_name: str) -> Reply:
    return _json(status, {"error": {"code": status, "message": message, "status": code_name}})


_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def fault_reply(route: str | None, status: int, body: bytes | None) -> Reply:
    if route == "gcp-iam":
        reply = _api_error(status, "injected fault", _STATUS_NAMES.get(status, "UNKNOWN"))
    elif route in ("gcp-metadata", "gcp-metadata-ping", "gcp-subject"):
        reply = Reply(status, b"injected fault\n", {"Content-Type": "text/html", "Metadata-Flavor": "Google"})
    else:
        error = {400: "invalid_grant", 401: "invalid_client", 403: "access_denied"}.get(status, "internal_failure")
        reply = _oauth_error(status, error, "injected fault")
    if body is not None:
        reply.body = body
    return reply


def content_type(route: str | None) -> str:
    return "application/json; charset=utf-8"


def handle(mock: MockIdentityServer, route: str | None, req: Request) -> Reply:
    if route == "gcp-token":
        return _token(mock, req)
    if route == "gcp-sts":
        return _sts(mock, req)
    if route == "gcp-iam":
        return _iam(mock, req)
    if route == "gcp-metadata-ping":
        return Reply(200, b"", {"Metadata-Flavor": "Google", "Content-Type": "application/text"})
    if route == "gcp-metadata":
        return _metadata(mock, req)
    if route == "gcp-subject":
        return _subject(mock, req)
    return _json(404, {"error": "no such route", "path": req.path})


def _issue(mock: MockIdentityServer, route: str, *, email: str | None, user: str | None,
           scopes: list[str], kind: str) -> tuple[dict[str, Any], Any]:
    """Mint and record a token; returns the record and the expiry override (NOT_SET, OMIT, value)."""
    now, lifetime, override = mock.expiry_settings(route)
    exp = int(now + lifetime)
    rec = {
        "route": route,
        "kind": kind,
        "access_token": new_access_token(),
        "email": email,
        "db_user": user,
        "scopes": scopes,
        "issued_at": now,
        "expires_at": exp,
        "expires_in": max(exp - int(now) - 1, 0),
    }
    mock.record_issued(rec)
    return rec, override


def _oauth_body(rec: dict[str, Any], override: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": rec["access_token"], "token_type": "Bearer", **(extra or {})}
    expires_in = rec["expires_in"] if override is NOT_SET else override
    if expires_in is not OMIT:
        body["expires_in"] = expires_in
    return body


def check_jwt(assertion: str, public_pem: str) -> tuple[str, dict[str, Any]]:
    """(why the assertion is refused or '', its claims): RS256 over the registered key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    try:
        head_b64, body_b64, sig_b64 = assertion.split(".")
        header, claims = json.loads(b64(head_b64)), json.loads(b64(body_b64))
    except ValueError:
        return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.", {}
    if header.get("alg") != "RS256":
        return f"Invalid JWT: unsupported alg {header.get('alg')!r}.", claims
    key = serialization.load_pem_public_key(public_pem.encode())
    try:
        key.verify(b64(sig_b64), f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - InvalidSignature and malformed input alike
        return "Invalid JWT Signature.", claims
    now = time.time()
    if claims.get("aud") != GOOGLE_AUDIENCE:
        return f"Invalid JWT: audience {claims.get('aud')!r}.", claims
    iat, exp = claims.get("iat", 0), claims.get("exp", 0)
    if not (iat - 300 <= now < exp) or exp - iat > 3600:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.", claims
    return "", claims


def _token(mock: MockIdentityServer, req: Request) -> Reply:
    form = req.form
    if req.method != "POST" or form is None:
        return _oauth_error(400, "invalid_request", "Required parameter is missing: grant_type")
    grant = form.get("grant_type")
    state = mock.gcp
    if grant == JWT_BEARER:
        assertion = form.get("assertion", "")
        try:
            iss = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "==="))["iss"]
        except (ValueError, IndexError, KeyError):
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        with state.lock:
            public = state.service_accounts.get(iss)
        if public is None:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        why, claims = check_jwt(assertion, public)
        if why:
            return _oauth_error(400, "invalid_grant", why)
        scopes = str(claims.get("scope", "")).split()
        if not scopes:
            return _oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        rec, override = _issue(mock, "gcp-token", email=iss, user=db_user(iss), scopes=scopes, kind="service_account")
        return _json(200, _oauth_body(rec, override))
    if grant == "refresh_token":
        with state.lock:
            user = state.users.get(form.get("client_id", ""))
        if user is None or form.get("client_secret") != user["secret"]:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("refresh_token") != user["refresh_token"]:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        granted = [CLOUD_PLATFORM, SQL_LOGIN, "openid", "https://www.googleapis.com/auth/userinfo.email"]
        asked = form.get("scope", "").split() or granted
        if any(s not in granted and s != "https://www.googleapis.com/auth/alloydb.login" for s in asked):
            return _oauth_error(400, "invalid_scope", "Some requested scopes were invalid.")
        rec, override = _issue(mock, "gcp-token", email=user["email"], user=user["email"], scopes=asked,
                               kind="authorized_user")
        return _json(200, _oauth_body(rec, override, {"scope": " ".join(asked)}))
    return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")


def _sts(mock: MockIdentityServer, req: Request) -> Reply:
    form = req.form or {}
    if req.method != "POST" or form.get("grant_type") != TOKEN_EXCHANGE:
        return _oauth_error(400, "invalid_request", "Invalid value for \"grant_type\".")
    if form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
        return _oauth_error(400, "invalid_request", "Invalid value for \"requested_token_type\".")
    if form.get("audience") != POOL_AUDIENCE:
        return _oauth_error(400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid.")
    kind = form.get("subject_token_type")
    if kind == AWS_TOKEN_TYPE:
        issued = {r["AccessKeyId"]: r["SecretAccessKey"] for r in mock.issued() if "AccessKeyId" in r}
        keys = {**issued, **mock.gcp.aws_keys}
        why = check_aws_subject(form.get("subject_token", ""), POOL_AUDIENCE, keys.get, time.time())
        if why:
            return _oauth_error(400, "invalid_grant", why)
    elif kind != JWT_TOKEN_TYPE:
        return _oauth_error(400, "invalid_request", "Invalid value for \"subject_token_type\".")
    elif form.get("subject_token") != mock.gcp.subject_token:
        return _oauth_error(400, "invalid_grant", "The incoming token has expired or is not valid.")
    scopes = form.get("scope", "").split()
    rec, override = _issue(mock, "gcp-sts", email=None, user=mock.gcp.federated_user, scopes=scopes, kind="federated")
    return _json(200, _oauth_body(rec, override, {"issued_token_type": ACCESS_TOKEN_TYPE}))


def _bearer(mock: MockIdentityServer, req: Request) -> dict[str, Any] | None:
    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return None
    token = auth[len("Bearer "):]
    now = time.time()
    return next((r for r in mock.issued() if r.get("access_token") == token and r.get("expires_at", 0) > now), None)


def _iam(mock: MockIdentityServer, req: Request) -> Reply:
    rest = unquote(req.path[len(IAM_PATH_HEAD):])
    if req.method != "POST" or not rest.endswith(":generateAccessToken"):
        return _api_error(404, "Method not found.", "NOT_FOUND")
    target = rest.removesuffix(":generateAccessToken")
    source = _bearer(mock, req)
    if source is None:
        return _api_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
    if not _IMPERSONATION_SCOPES & set(source.get("scopes", [])):
        return _api_error(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
    try:
        body = json.loads(req.body)
        scopes, lifetime = body["scope"], body.get("lifetime", "3600s")
        seconds = int(str(lifetime).removesuffix("s"))
    except (ValueError, KeyError, TypeError):
        return _api_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
    if not scopes or not isinstance(scopes, list):
        return _api_error(400, "Scope required.", "INVALID_ARGUMENT")
    if not target.endswith(".gserviceaccount.com"):
        return _api_error(404, f"Not found; Gaia id not found for email {target}", "NOT_FOUND")
    now, lifetime_default, override = mock.expiry_settings("gcp-iam")
    life = min(seconds, int(lifetime_default)) if seconds else int(lifetime_default)
    exp = int(now + life)
    rec = {"route": "gcp-iam", "kind": "impersonated", "access_token": new_access_token(), "email": target,
           "db_user": db_user(target), "scopes": scopes, "issued_at": now, "expires_at": exp,
           "source": source.get("kind"), "delegates": body.get("delegates")}
    mock.record_issued(rec)
    expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)) if override is NOT_SET else override
    out: dict[str, Any] = {"accessToken": rec["access_token"]}
    if expire is not OMIT:
        out["expireTime"] = expire
    return _json(200, out)


def _metadata(mock: MockIdentityServer, req: Request) -> Reply:
    flavor = {"Metadata-Flavor": "Google"}
    if req.headers.get("metadata-flavor") != "Google":
        return Reply(403, b"Missing required header: Metadata-Flavor\n", {"Content-Type": "text/html", **flavor})
    rest = req.path[len(METADATA_PREFIX):]
    if rest == "/" and req.query_params.get("recursive") == "true":
        return _json(200, {"aliases": ["default"], "email": METADATA_EMAIL, "scopes": [CLOUD_PLATFORM]}, flavor)
    if rest == "/email":
        return Reply(200, METADATA_EMAIL.encode(), {"Content-Type": "application/text", **flavor})
    if rest == "/token":
        scopes = [s for s in req.query_params.get("scopes", "").split(",") if s] or [CLOUD_PLATFORM]
        rec, override = _issue(mock, "gcp-metadata", email=METADATA_EMAIL, user=db_user(METADATA_EMAIL),
                               scopes=scopes, kind="metadata")
        return _json(200, _oauth_body(rec, override), flavor)
    return Reply(404, b"Not Found\n", {"Content-Type": "text/html", **flavor})


def _subject(mock: MockIdentityServer, req: Request) -> Reply:
    if req.headers.get("metadata") != "True":
        return _json(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
    token = mock.gcp.subject_token
    if req.query_params.get("format") == "text":
        return Reply(200, token.encode(), {"Content-Type": "text/plain"})
    return _json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
