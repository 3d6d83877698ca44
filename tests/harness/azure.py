"""Azure identity endpoints as the SDKs see them (identity-endpoints.md §2).

Pure functions of a request and the mock's state, like aws.py. Routes (the
names are a contract with the tests and the Rust side):

    azure-appservice  GET  /azure/appservice/token        (IDENTITY_ENDPOINT + IDENTITY_HEADER)
    azure-imds        GET  /metadata/identity/oauth2/token[/]  (AZURE_POD_IDENTITY_AUTHORITY_HOST)
    azure-msi         POST /azure/msi/token               (MSI_ENDPOINT alone: Cloud Shell)
    azure-msi2017     GET  /azure/msi2017/token           (MSI_ENDPOINT + MSI_SECRET: App Service 2017, Azure ML)
    azure-arc         GET  /azure/arc/token               (IDENTITY_ENDPOINT + IMDS_ENDPOINT: Arc's key challenge)
    azure-fabric      GET  /azure/fabric/token, https     (IDENTITY_* + IDENTITY_SERVER_THUMBPRINT: Service Fabric)
    azure-oidc        GET  /{tenant}/v2.0/.well-known/openid-configuration
    azure-token       POST /{tenant}/oauth2/v2.0/token    (client secret / client assertion)

Tokens are JWT-shaped (unsigned: the signature is random bytes) so passmint can
read the claims it derives a username from. The helpers that build them are
shared with the fake ``az``/``azd`` (azcli.py), which is why this module imports
nothing heavier than the stdlib.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

from .wire import NOT_SET, OMIT, Reply, Request

if TYPE_CHECKING:
    from .mock import MockIdentityServer

APPSERVICE_PATH = "/azure/appservice/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
MSI_PATH = "/azure/msi/token"
MSI2017_PATH = "/azure/msi2017/token"
ARC_PATH = "/azure/arc/token"
FABRIC_PATH = "/azure/fabric/token"
# Where the Arc agent keeps the key its challenge names (the only directory passmint and
# azure-identity read it from); tests put it there inside a private mount namespace.
ARC_KEY_DIR = "/var/opt/azcmagent/tokens"
ARC_KEY_FILE = ARC_KEY_DIR + "/passmint.key"

ROUTES = ("azure-appservice", "azure-imds", "azure-msi", "azure-msi2017", "azure-arc", "azure-fabric", "azure-oidc",
          "azure-token")
MANAGED_ROUTES = ("azure-appservice", "azure-imds", "azure-msi", "azure-msi2017", "azure-arc", "azure-fabric")

TENANT_ID = "7e57c0de-0000-4000-8000-00000000a2e0"
SUBSCRIPTION_ID = "5ab5c41b-0000-4000-8000-0000000005ab"
RESOURCE_GROUP = "passmint-rg"
DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"
DEFAULT_APP_NAME = "passmint-mock-app"
DEFAULT_UAMI_NAME = "passmint-mock-uami"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APP_SERVICE_API_VERSION = "2019-08-01"
# Query/form parameters that select a user-assigned identity (App Service spells
# a resource id mi_res_id, IMDS msi_res_id; both are accepted on every route).
# The 2017 API spells a client id `clientid`.
USER_ASSIGNED_PARAMS = ("client_id", "clientid", "object_id", "principal_id", "mi_res_id", "msi_res_id")

OSSRDBMS_RESOURCE = "https://ossrdbms-aad.database.windows.net"
OSSRDBMS_SCOPE = OSSRDBMS_RESOURCE + "/.default"

_NS = uuid.UUID("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")


def route_of(req: Request) -> str | None:
    path = req.path
    if path == APPSERVICE_PATH:
        return "azure-appservice"
    if path in (IMDS_PATH, IMDS_PATH + "/"):
        return "azure-imds"
    if path == MSI_PATH:
        return "azure-msi"
    if path == MSI2017_PATH:
        return "azure-msi2017"
    if path == ARC_PATH:
        return "azure-arc"
    if path == FABRIC_PATH:
        return "azure-fabric"
    parts = path.split("/")
    # ['', tenant, 'v2.0', '.well-known', 'openid-configuration'] / ['', tenant, 'oauth2', 'v2.0', 'token']
    if len(parts) == 5 and parts[1]:
        if parts[2:] == ["v2.0", ".well-known", "openid-configuration"]:
            return "azure-oidc"
        if parts[2:] == ["oauth2", "v2.0", "token"]:
            return "azure-token"
    return None


def tenant_of(req: Request) -> str:
    return req.path.split("/")[1]


# --- tokens ----------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token: real header and claims, random 'RS256' signature."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "mock"}

    def part(obj: dict) -> str:
        return b64url(json.dumps(obj, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}.{b64url(os.urandom(256))}"


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a token made by jwt() (no verification: there is no key)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def stable_uuid(*names: str) -> str:
    """The same id for the same identity on every run (object ids, app ids)."""
    return str(uuid.uuid5(_NS, "/".join(names)))


def resource_of(scope: str) -> str:
    """AADv2 scope -> AADv1 resource, as every SDK does it."""
    return scope.removesuffix("/.default")


def base_claims(resource: str, tenant: str, iat: int, exp: int) -> dict[str, Any]:
    return {
        "aud": resource,
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "tid": tenant,
        "uti": b64url(os.urandom(16)),
        "ver": "1.0",
    }


def _claims_of(token: str, default: dict[str, Any]) -> dict[str, Any]:
    """The claims a queued token carries (``default`` when it is not JWT-shaped)."""
    try:
        claims = decode_claims(token)
    except (IndexError, ValueError):
        return default
    return claims if isinstance(claims, dict) else default


def system_identity_claims(app_name: str, iat: int, exp: int) -> dict[str, Any]:
    """What a system-assigned managed identity's token for PostgreSQL carries."""
    mirid = managed_identity_resource_id("system", app_name)
    oid = stable_uuid("object", mirid)
    return {
        **base_claims(OSSRDBMS_RESOURCE, TENANT_ID, iat, exp),
        "appid": stable_uuid("client", mirid),
        "appidacr": "2",
        "idp": f"https://sts.windows.net/{TENANT_ID}/",
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "xms_mirid": mirid,
    }


def managed_identity_resource_id(kind: str, name: str) -> str:
    provider = ("Microsoft.ManagedIdentity/userAssignedIdentities" if kind == "user"
                else "Microsoft.Web/sites")
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourcegroups/{RESOURCE_GROUP}/providers/{provider}/{name}"


def user_claims(tenant: str) -> dict[str, Any]:
    """A developer signed in with `az login` / `azd auth login`."""
    oid = stable_uuid("user", "dev@passmint.example")
    return {
        "acr": "1",
        "amr": ["pwd"],
        "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # the Azure CLI's public client id
        "appidacr": "0",
        "family_name": "Developer",
        "given_name": "Passmint",
        "idtyp": "user",
        "name": "Passmint Developer",
        "oid": oid,
        "scp": "user_impersonation",
        "sub": stable_uuid("sub", oid),
        "tid": tenant,
        "unique_name": "dev@passmint.example",
        "upn": "dev@passmint.example",
    }


def apply_overrides(claims: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge ``overrides`` into ``claims``; a value of None removes the claim."""
    out = dict(claims)
    for name, value in overrides.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def new_client_secret() -> str:
    # Old Entra secrets carried '+', '/', '=' ; new ones '~' and '.': all of
    # them, so a form-encoding slip fails every run.
    while True:
        s = "mock~" + base64.b64encode(os.urandom(30)).decode() + ".s"
        if "+" in s and "/" in s:
            return s


def new_federated_assertion() -> str:
    claims = {"iss": "https://oidc.passmint.example/", "sub": "system:serviceaccount:default:passmint",
              "aud": "api://AzureADTokenExchange", "jti": uuid.uuid4().hex}
    return jwt(claims)


def new_identity_header() -> str:
    return uuid.uuid4().hex


# --- replies --------------------------------------------------------------

def _json(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json; charset=utf-8"})


def _app_service_error(status: int, message: str) -> Reply:
    # App Service / Functions error shape (MSAL reads statusCode and message).
    return _json(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})


def _imds_error(status: int, error: str, description: str) -> Reply:
    return _json(status, {"error": error, "error_description": description})


def _aad_error(status: int, error: str, code: int, description: str) -> Reply:
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return _json(status, {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}",
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
    })


# Route-typical (error, AADSTS code) per status for injected faults.
_AAD_FAULTS = {
    400: ("invalid_request", 900144),
    401: ("invalid_client", 7000215),
    403: ("unauthorized_client", 700016),
    404: ("invalid_tenant", 90002),
    429: ("temporarily_unavailable", 50196),
    500: ("server_error", 90033),
    503: ("temporarily_unavailable", 90033),
}
_IMDS_FAULTS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    404: "not_found",
    410: "gone",
    429: "too_many_requests",
    500: "unknown_error",
}


def fault_reply(route: str | None, status: int, body: bytes | None) -> Reply:
    """The error a real endpoint of this kind would send, unless a body is given."""
    if route in ("azure-token", "azure-oidc"):
        error, code = _AAD_FAULTS.get(status, ("server_error" if status >= 500 else "invalid_request", 90033))
        reply = _aad_error(status, error, code, "injected fault.")
    elif route in ("azure-imds", "azure-arc"):
        reply = _imds_error(status, _IMDS_FAULTS.get(status, "unknown_error"), "injected fault")
    else:
        reply = _app_service_error(status, "injected fault")
    if body is not None:
        reply.body = body
    return reply


def content_type(route: str | None) -> str:
    return "application/json; charset=utf-8"


# --- handlers -------------------------------------------------------------

def handle(mock: MockIdentityServer, route: str | None, req: Request) -> Reply:
    if route == "azure-appservice":
        return _app_service(mock, req)
    if route == "azure-imds":
        return _imds(mock, req)
    if route == "azure-msi":
        return _msi(mock, req)
    if route == "azure-msi2017":
        return _msi2017(mock, req)
    if route == "azure-arc":
        return _arc(mock, req)
    if route == "azure-fabric":
        return _fabric(mock, req)
    if route == "azure-oidc":
        return _oidc(mock, req)
    if route == "azure-token":
        return _token(mock, req)
    return _json(404, {"error": "no such route", "path": req.path})


def _issue(mock: MockIdentityServer, route: str, kind: str, claims_for: Any,
           **meta: Any) -> tuple[dict[str, Any], Any]:
    """Mint and record a token; ``claims_for(iat, exp)`` gives its claims.

    Returns the record and the expiry override to send (NOT_SET, OMIT or a value).
    """
    now, lifetime, override = mock.expiry_settings(route)
    iat, exp = int(now), int(now + lifetime)
    claims = apply_overrides(claims_for(iat, exp), mock.azure_claims(route))
    token = mock.take_queued_azure_token(route)
    if token is None:
        token = jwt(claims)
    else:
        claims = _claims_of(token, claims)
    rec = {
        "route": route,
        "kind": kind,
        "access_token": token,
        "claims": claims,
        "issued_at": now,
        "expires_at": exp,
        # Whole seconds left, rounded down: a client adding it to its own clock
        # never believes the token lives past ``exp``.
        "expires_in": max(exp - iat - 1, 0),
        **meta,
    }
    mock.record_issued(rec)
    return rec, override


def _managed_identity(mock: MockIdentityServer, route: str, resource: str,
                      params: dict[str, str]) -> tuple[dict[str, Any], Any]:
    selectors = {k: params[k] for k in USER_ASSIGNED_PARAMS if params.get(k)}
    kind = "user" if selectors else "system"
    name = mock.azure_uami_name if kind == "user" else mock.azure_app_name
    mirid = managed_identity_resource_id(kind, name)
    client_id = selectors.get("client_id") or selectors.get("clientid") or stable_uuid("client", mirid)
    object_id = selectors.get("object_id") or selectors.get("principal_id") or stable_uuid("object", mirid)

    def claims(iat: int, exp: int) -> dict[str, Any]:
        return {
            **base_claims(resource, TENANT_ID, iat, exp),
            "appid": client_id,
            "appidacr": "2",
            "idp": f"https://sts.windows.net/{TENANT_ID}/",
            "idtyp": "app",
            "oid": object_id,
            "sub": object_id,
            "xms_mirid": mirid,
        }

    return _issue(mock, route, kind, claims, resource=resource, client_id=client_id, selectors=selectors)


def _app_service_body(rec: dict[str, Any], override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": rec["access_token"]}
    # A string, as App Service sends it.
    expires_on = str(rec["expires_at"]) if override is NOT_SET else override
    if expires_on is not OMIT:
        body["expires_on"] = expires_on
    body.update({"resource": rec["resource"], "token_type": "Bearer", "client_id": rec["client_id"]})
    return body


def _app_service(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "GET":
        return _app_service_error(405, f"The requested resource does not support http method '{req.method}'.")
    expected = mock.identity_header
    if expected is not None and req.headers.get("x-identity-header") != expected:
        return _app_service_error(401, "Unauthorized. The X-IDENTITY-HEADER is missing or does not match.")
    q = req.query_params
    if q.get("api-version") != APP_SERVICE_API_VERSION:
        return _app_service_error(400, f"The api-version '{q.get('api-version')}' is not supported; "
                                       f"use {APP_SERVICE_API_VERSION}.")
    if not q.get("resource"):
        return _app_service_error(400, "The 'resource' parameter is required.")
    rec, override = _managed_identity(mock, "azure-appservice", q["resource"], q)
    return _json(200, _app_service_body(rec, override))


def _imds(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "GET":
        return _imds_error(405, "invalid_request", f"Method {req.method} not allowed")
    if "x-forwarded-for" in req.headers:
        return _imds_error(403, "access_denied", "Request was forwarded through a proxy")
    if req.headers.get("metadata", "").lower() != "true":
        return _imds_error(400, "invalid_request", "Required metadata header not specified")
    q = req.query_params
    if not q.get("api-version"):
        return _imds_error(400, "invalid_request", "Required query variable 'api-version' is missing")
    if not q.get("resource"):
        return _imds_error(400, "invalid_request", "Required audience parameter not specified")
    rec, override = _managed_identity(mock, "azure-imds", q["resource"], q)
    body: dict[str, Any] = {"access_token": rec["access_token"], "client_id": rec["client_id"],
                            "expires_in": str(rec["expires_in"])}
    expires_on = str(rec["expires_at"]) if override is NOT_SET else override
    if expires_on is not OMIT:
        body["expires_on"] = expires_on
    body.update({"ext_expires_in": str(rec["expires_in"]), "not_before": str(rec["claims"].get("nbf", "")),
                 "resource": rec["resource"], "token_type": "Bearer"})
    return _json(200, body)


def _msi(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "POST":
        return _app_service_error(405, f"The requested resource does not support http method '{req.method}'.")
    if req.headers.get("metadata", "").lower() != "true":
        return _app_service_error(400, "Required metadata header not specified")
    form = req.form or {}
    params = {**req.query_params, **form}
    if not params.get("resource"):
        return _app_service_error(400, "The 'resource' parameter is required.")
    rec, override = _managed_identity(mock, "azure-msi", params["resource"], params)
    return _json(200, _app_service_body(rec, override))


def _msi2017(mock: MockIdentityServer, req: Request) -> Reply:
    """App Service's 2017-09-01 API (also Azure ML's): the secret in a `secret` header."""
    if req.method != "GET":
        return _app_service_error(405, f"The requested resource does not support http method '{req.method}'.")
    if mock.identity_header is not None and req.headers.get("secret") != mock.identity_header:
        return _app_service_error(401, "Unauthorized. The secret header is missing or does not match.")
    q = req.query_params
    if q.get("api-version") != "2017-09-01":
        return _app_service_error(400, f"The api-version '{q.get('api-version')}' is not supported.")
    if not q.get("resource"):
        return _app_service_error(400, "The 'resource' parameter is required.")
    rec, override = _managed_identity(mock, "azure-msi2017", q["resource"], q)
    return _json(200, _app_service_body(rec, override))


def _arc(mock: MockIdentityServer, req: Request) -> Reply:
    """Azure Arc's agent: 401 naming the key file, then a token for `Authorization: Basic <key>`.
    A selected user-assigned identity is echoed back, as agents that support them do."""
    if req.method != "GET":
        return _imds_error(405, "invalid_request", f"Method {req.method} not allowed")
    if req.headers.get("metadata", "").lower() != "true":
        return _imds_error(400, "invalid_request", "Required metadata header not specified")
    q = req.query_params
    if q.get("api-version") != "2020-06-01" or not q.get("resource"):
        return _imds_error(400, "invalid_request", "api-version 2020-06-01 and resource are required")
    if req.headers.get("authorization") != f"Basic {mock.arc_key}":
        reply = _imds_error(401, "unauthorized", "Authorization header is missing or invalid")
        reply.headers["WWW-Authenticate"] = f"Basic realm={ARC_KEY_FILE}"
        return reply
    rec, override = _managed_identity(mock, "azure-arc", q["resource"], q)
    body: dict[str, Any] = {"access_token": rec["access_token"], "expires_in": str(rec["expires_in"])}
    expires_on = str(rec["expires_at"]) if override is NOT_SET else override
    if expires_on is not OMIT:
        body["expires_on"] = expires_on
    body.update({"resource": rec["resource"], "token_type": "Bearer"})
    for name in ("client_id", "object_id", "msi_res_id"):
        if q.get(name) and mock.arc_echoes:
            body[name] = q[name]
    return _json(200, body)


def _fabric(mock: MockIdentityServer, req: Request) -> Reply:
    """Service Fabric's token service: https only, the identity header sent as `Secret`."""
    if not req.tls:
        return _json(400, {"error": {"code": "SecretHeaderNotFound", "message": "https is required"}})
    if mock.identity_header is not None and req.headers.get("secret") != mock.identity_header:
        return _json(401, {"error": {"code": "SecretHeaderNotFound", "message": "Secret is not valid"}})
    q = req.query_params
    if q.get("api-version") != "2019-07-01-preview" or not q.get("resource"):
        return _json(400, {"error": {"code": "ArgumentNullOrEmpty", "message": "resource is required"}})
    rec, override = _managed_identity(mock, "azure-fabric", q["resource"], {})
    expires_on = rec["expires_at"] if override is NOT_SET else override
    body: dict[str, Any] = {"access_token": rec["access_token"], "resource": rec["resource"],
                            "token_type": "Bearer"}
    if expires_on is not OMIT:
        body["expires_on"] = expires_on
    return _json(200, body)


def _base_url(mock: MockIdentityServer, req: Request) -> str:
    # Echo the host the client used (localhost vs 127.0.0.1) so the document's
    # endpoints are on the authority the client was configured with.
    host = req.headers.get("host")
    if req.tls and host:
        return f"https://{host}"
    return str(mock.https_url)


def _oidc(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "GET":
        return _aad_error(405, "invalid_request", 900561, "The endpoint only accepts GET requests.")
    tenant = tenant_of(req)
    base = f"{_base_url(mock, req)}/{tenant}"
    return _json(200, {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{_base_url(mock, req)}/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    })


def token_endpoint(req: Request) -> str:
    """The token endpoint as the client addressed it (an assertion's audience)."""
    return f"{'https' if req.tls else 'http'}://{req.headers.get('host', '')}{req.path}"


def check_certificate_assertion(assertion: str, cert_pem: str, client_id: str, audience: str) -> str:
    """Why a client assertion signed with ``cert_pem``'s key is not valid ('' if it is), as
    Entra ID checks it: RS256 or PS256, a thumbprint of the registered certificate, the
    signature, and the claims."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    head_b64, body_b64, sig_b64 = assertion.split(".")
    header, claims = json.loads(b64(head_b64)), json.loads(b64(body_b64))
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    s256 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    s1 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    sent = {k: str(header.get(k, "")).rstrip("=") for k in ("x5t#S256", "x5t")}
    if sent["x5t#S256"] != s256 and sent["x5t"] != s1:
        return "The thumbprint is not of a certificate registered for the app."
    alg = header.get("alg")
    pad = {"PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
           "RS256": padding.PKCS1v15()}.get(alg)
    if pad is None:
        return f"Unsupported algorithm {alg}."
    try:
        cert.public_key().verify(b64(sig_b64), f"{head_b64}.{body_b64}".encode(), pad, hashes.SHA256())
    except Exception:  # noqa: BLE001 - InvalidSignature and malformed input alike
        return "The signature does not verify."
    now = time.time()
    if claims.get("aud") != audience:
        return f"Audience {claims.get('aud')!r} is not {audience!r}."
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "iss and sub must be the client id."
    if not (claims.get("exp", 0) > now >= claims.get("nbf", claims.get("iat", now)) - 300):
        return "The assertion is expired or not yet valid."
    return ""


def _token(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "POST":
        return _aad_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
    form = req.form
    if form is None:
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'grant_type'.")
    grant = form.get("grant_type")
    if not grant:
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'grant_type'.")
    if grant != "client_credentials":
        return _aad_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")
    client_id = form.get("client_id")
    if not client_id:
        return _aad_error(400, "invalid_request", 900144,
                          "The request body must contain the following parameter: 'client_id'.")
    scopes = [s for s in (form.get("scope") or "").split() if s.endswith("/.default")]
    if len(scopes) != 1:
        return _aad_error(400, "invalid_scope", 1002012,
                          f"The provided value for scope {form.get('scope', '')} is not valid. Client credential "
                          "flows must have a scope value with /.default suffixed to the resource identifier "
                          "(application ID URI).")
    assertion = form.get("client_assertion")
    secret = form.get("client_secret")
    if assertion is not None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _aad_error(400, "invalid_request", 700023,
                              "Invalid client_assertion_type; expected " + ASSERTION_TYPE + ".")
        certificate = mock.azure_certificates.get(client_id)
        if certificate is not None and assertion.count(".") == 2:
            why = check_certificate_assertion(assertion, certificate, client_id, token_endpoint(req))
            if why:
                return _aad_error(401, "invalid_client", 700027, f"Client assertion failed signature validation. {why}")
            kind = "certificate"
        elif assertion != mock.federated_assertion:
            return _aad_error(401, "invalid_client", 700213,
                              f"No matching federated identity record found for presented assertion. "
                              f"Assertion audience: 'api://AzureADTokenExchange'. App: '{client_id}'.")
        else:
            kind = "federated"
    elif secret is not None:
        registered = mock.azure_apps.get(client_id)
        if registered is None:
            return _aad_error(400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory.")
        if secret != registered:
            return _aad_error(401, "invalid_client", 7000215,
                              "Invalid client secret provided. Ensure the secret being sent in the request is "
                              f"the client secret value, not the client secret ID, for a secret added to app "
                              f"'{client_id}'.")
        kind = "secret"
    else:
        return _aad_error(401, "invalid_client", 7000218,
                          "The request body must contain the following parameter: 'client_assertion' or "
                          "'client_secret'.")

    tenant = tenant_of(req)
    resource = resource_of(scopes[0])
    object_id = stable_uuid("service-principal", client_id)

    def claims(iat: int, exp: int) -> dict[str, Any]:
        return {
            **base_claims(resource, tenant, iat, exp),
            "appid": client_id,
            "appidacr": "1" if kind == "secret" else "2",
            "idp": f"https://sts.windows.net/{tenant}/",
            "idtyp": "app",
            "oid": object_id,
            "sub": object_id,
        }

    rec, override = _issue(mock, "azure-token", "app", claims, resource=resource, tenant=tenant,
                           client_id=client_id, client_auth=kind)
    body: dict[str, Any] = {"token_type": "Bearer"}
    expires_in = rec["expires_in"] if override is NOT_SET else override  # numbers here, not strings
    if expires_in is not OMIT:
        body["expires_in"] = expires_in
    body.update({"ext_expires_in": rec["expires_in"], "access_token": rec["access_token"]})
    return _json(200, body)
