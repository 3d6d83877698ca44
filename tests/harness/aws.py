"""AWS identity endpoints as the SDKs see them (identity-endpoints.md §3).

Pure functions of a request and the mock's state, so the server module stays
about transport, recording and faults.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .wire import Reply, Request

if TYPE_CHECKING:
    from .mock import MockIdentityServer

CONTAINER_PATH = "/aws/container-credentials"
IMDS_CREDS_PREFIX = "/latest/meta-data/iam/security-credentials"
AVAILABILITY_ZONE_PATH = "/latest/meta-data/placement/availability-zone"
AVAILABILITY_ZONE = "us-east-2b"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ACCOUNT = "123456789012"

ROUTES = ("container", "sts", "imds-token", "imds-role", "imds-creds", "imds-other")


def route_of(req: Request) -> str | None:
    """Map a request to the route key that faults and lifetimes are keyed by."""
    path = req.path
    if path == CONTAINER_PATH:
        return "container"
    if path == "/":
        return "sts"
    if path == "/latest/api/token":
        return "imds-token"
    if path == IMDS_CREDS_PREFIX or path.startswith(IMDS_CREDS_PREFIX + "/"):
        rest = path[len(IMDS_CREDS_PREFIX):].strip("/")
        return "imds-creds" if rest else "imds-role"
    if path == "/latest" or path.startswith("/latest/"):
        return "imds-other"
    return None


# --- credential material -------------------------------------------------

def _b64_with(nbytes: int, need: str) -> str:
    # Real secrets and session tokens contain '/', '+' and '=': insist on them
    # so URL/form/XML encoding bugs show up on every run, not one in a hundred.
    while True:
        s = base64.b64encode(os.urandom(nbytes)).decode()
        if all(c in s for c in need):
            return s


def new_secret_key() -> str:
    return _b64_with(30, "/+")  # 40 characters, like AWS's


def new_session_token() -> str:
    # 601 bytes: not a multiple of 3, so base64 ends in '=='; ~800 characters
    # keeps the minted DSQL/RDS tokens at a realistic 1-2 KB.
    return "IQoJmock" + _b64_with(601, "/+=")


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- replies --------------------------------------------------------------

def _json(status: int, obj: object) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


def _text(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain"})


def _sts_error(status: int, code: str, message: str) -> Reply:
    kind = "Receiver" if status >= 500 else "Sender"
    xml = (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        "<RequestId>mock-error</RequestId></ErrorResponse>"
    )
    return Reply(status, xml.encode(), {"Content-Type": "text/xml"})


_STS_CODES = {
    400: "InvalidIdentityToken",
    403: "AccessDenied",
    429: "Throttling",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}


def fault_reply(route: str | None, status: int, body: bytes | None) -> Reply:
    """The error a real endpoint of this kind would send, unless a body is given."""
    if route == "sts":
        reply = _sts_error(status, _STS_CODES.get(status, "MockFault"), "injected fault")
    elif route == "container":
        reply = _json(status, {"code": "MockFault", "message": "injected fault"})
    else:
        reply = _text(status, "injected fault")
    if body is not None:
        reply.body = body
    return reply


def content_type(route: str | None) -> str:
    if route == "sts":
        return "text/xml"
    if route in ("container", "imds-creds"):
        return "application/json"
    return "text/plain"


# --- handlers -------------------------------------------------------------

def _fields(creds: dict) -> dict:
    # Expiration is absent when a test asked for it to be omitted.
    keys = ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")
    return {k: creds[k] for k in keys if k in creds}


def handle(mock: MockIdentityServer, route: str | None, req: Request) -> Reply:
    if route == "container":
        return _container(mock, req)
    if route == "sts":
        return _sts(mock, req)
    if route is not None and route.startswith("imds"):
        return _imds(mock, route, req)
    return _json(404, {"error": "no such route", "path": req.path})


def _container(mock: MockIdentityServer, req: Request) -> Reply:
    if req.method != "GET":
        return _json(405, {"code": "MethodNotAllowed", "message": req.method})
    token = mock.container_token
    if token is not None and req.headers.get("authorization") != token:
        return _json(401, {"code": "AccessDenied", "message": "bad authorization token"})
    return _json(200, _fields(mock.issue("container")))


def _sts(mock: MockIdentityServer, req: Request) -> Reply:
    # AWS query protocol: parameters may come in the form body or the query.
    params = {**req.query_params, **(req.form or {})}
    if req.method not in ("POST", "GET"):
        return _sts_error(405, "MethodNotAllowed", req.method)
    action = params.get("Action")
    if action != "AssumeRoleWithWebIdentity":
        return _sts_error(400, "InvalidAction", f"unsupported Action {action!r}")
    for name in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
        if not params.get(name):
            return _sts_error(400, "MissingParameter", f"{name} is required")
    role_arn = params["RoleArn"]
    session = params["RoleSessionName"]
    role = role_arn.rsplit("/", 1)[-1]
    creds = mock.issue(
        "sts",
        RoleArn=role_arn,
        RoleSessionName=session,
        WebIdentityToken=params["WebIdentityToken"],
    )
    e = {k: escape(str(v)) for k, v in creds.items()}
    expiration = f"<Expiration>{e['Expiration']}</Expiration>" if "Expiration" in e else ""
    xml = (
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}">\n'
        " <AssumeRoleWithWebIdentityResult>\n"
        f"  <Credentials><AccessKeyId>{e['AccessKeyId']}</AccessKeyId>"
        f"<SecretAccessKey>{e['SecretAccessKey']}</SecretAccessKey>\n"
        f"   <SessionToken>{e['Token']}</SessionToken>"
        f"{expiration}</Credentials>\n"
        "  <SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>\n"
        f"  <AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT}:assumed-role/"
        f"{escape(role)}/{escape(session)}</Arn>\n"
        f"   <AssumedRoleId>AROAMOCK:{escape(session)}</AssumedRoleId></AssumedRoleUser>\n"
        "  <Audience>sts.amazonaws.com</Audience><Provider>mock</Provider>\n"
        " </AssumeRoleWithWebIdentityResult>\n"
        " <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n"
    )
    return Reply(200, xml.encode(), {"Content-Type": "text/xml"})


def _imds(mock: MockIdentityServer, route: str, req: Request) -> Reply:
    if route == "imds-token":
        if req.method != "PUT":
            return _text(405, "Method Not Allowed")
        # Real IMDS refuses token requests that went through a proxy.
        if "x-forwarded-for" in req.headers:
            return _text(403, "Forbidden")
        ttl = req.headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return _text(400, "Bad Request")
        token = mock.new_imds_token(int(ttl))
        reply = _text(200, token)
        reply.headers["x-aws-ec2-metadata-token-ttl-seconds"] = ttl
        return reply

    # IMDSv2-only instance (HttpTokens=required): no token, no answer.
    if not mock.imds_token_valid(req.headers.get("x-aws-ec2-metadata-token")):
        return _text(401, "Unauthorized")
    if req.method != "GET":
        return _text(405, "Method Not Allowed")
    if route == "imds-role":
        return _text(200, mock.role_name)
    if route == "imds-creds":
        role = req.path[len(IMDS_CREDS_PREFIX):].strip("/")
        if role != mock.role_name:
            return _text(404, "Not Found")
        creds = mock.issue("imds-creds", role=role)
        head = {"Code": "Success", "LastUpdated": rfc3339(creds["issued_at"]), "Type": "AWS-HMAC"}
        return _json(200, {**head, **_fields(creds)})
    if req.path == AVAILABILITY_ZONE_PATH:
        return _text(200, AVAILABILITY_ZONE)
    return _text(404, "Not Found")
