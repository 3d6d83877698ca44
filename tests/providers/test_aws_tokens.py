"""passmint's DSQL and RDS tokens equal boto3's, parameter for parameter, for frozen clocks.

boto3 is the reference; an independent ~30-line presigner built from the published SigV4
rules checks both, so a shared mistake cannot pass unnoticed.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from urllib.parse import quote, unquote

import boto3
import botocore.auth
import botocore.signers
import pytest
from harness import bins

EXAMPLE = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SDK_TEST = ("akid", "secret")
SESSION = "IQoJb3JpZ2luX2VjE/+abc==//xyz+def=ghi"
T2025 = datetime.datetime(2025, 1, 1, 12, 0, 0)
T2024 = datetime.datetime(2024, 8, 27, 0, 0, 0)

DSQL_CASES = [
    # (creds, session token, host, region, user, expires_in, time)
    (SDK_TEST, None, "peccy.dsql.us-east-1.on.aws", "us-east-1", "admin", 450, T2024),
    (SDK_TEST, None, "peccy.dsql.us-east-1.on.aws", "us-east-1", "reader", 450, T2024),
    (EXAMPLE, None, "abc.dsql.us-east-1.on.aws", "us-east-1", "admin", 900, T2025),
    (EXAMPLE, SESSION, "abc.dsql.us-east-1.on.aws", "us-east-1", "admin", 900, T2025),
    (EXAMPLE, SESSION, "xyz.dsql.eu-west-2.on.aws", "eu-west-2", "app_rw", 3600, T2025),
    (EXAMPLE, None, "xyz.dsql.ap-northeast-1.on.aws", "ap-northeast-1", "admin", 604800, T2025),
    (EXAMPLE, SESSION, "xyz.dsql.us-west-2.on.aws", "us-west-2", "svc", 604800, T2024),
]

RDS_CASES = [
    # (creds, session token, host, port, region, user, time)
    (EXAMPLE, None, "db.abc123.eu-west-1.rds.amazonaws.com", 5432, "eu-west-1", "app", T2025),
    (EXAMPLE, SESSION, "db.abc123.eu-west-1.rds.amazonaws.com", 5432, "eu-west-1", "app", T2025),
    (EXAMPLE, None, "db.abc123.us-east-2.rds.amazonaws.com", 6543, "us-east-2", "app@user+1 x", T2025),
    (EXAMPLE, SESSION, "db.abc123.us-east-2.rds.amazonaws.com", 15432, "us-east-2", "a%b/c=d&e", T2024),
    (SDK_TEST, SESSION, "proxy.proxy-abc.ca-central-1.rds.amazonaws.com", 5432, "ca-central-1", "ünï côdé", T2025),
]


def parts(tok: str):
    host, sep, q = tok.partition("/?")
    assert sep and "+" not in q and " " not in q, tok
    pairs = [p.split("=", 1) for p in q.split("&")]
    d = {unquote(k): unquote(v) for k, v in pairs}
    assert len(d) == len(pairs), "duplicate keys"
    return host, d


def epoch(t: datetime.datetime) -> int:
    return int(t.replace(tzinfo=datetime.UTC).timestamp())


@pytest.fixture
def frozen(monkeypatch):
    def freeze(t: datetime.datetime):
        fake = lambda remove_tzinfo=True: t
        monkeypatch.setattr(botocore.auth, "get_current_datetime", fake)
        monkeypatch.setattr(botocore.signers, "get_current_datetime", fake)
    return freeze


def session(creds, token, region):
    return boto3.Session(aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                         aws_session_token=token, region_name=region)


def independent_presign(creds, token, authority, host_header, query, service, region, expires, t):
    """SigV4 query presigning from the published rules (aws-tokens.md §1)."""
    enc = lambda s: quote(s, safe="-_.~")
    amz_date, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    scope = f"{day}/{region}/{service}/aws4_request"
    params = dict(query)
    params.update({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{creds[0]}/{scope}",
                   "X-Amz-Date": amz_date, "X-Amz-Expires": str(expires), "X-Amz-SignedHeaders": "host"})
    if token:
        params["X-Amz-Security-Token"] = token
    canon_q = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    canon = "\n".join(["GET", "/", canon_q, f"host:{host_header}", "", "host", hashlib.sha256(b"").hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key = ("AWS4" + creds[1]).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    params["X-Amz-Signature"] = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return f"{authority}/?" + "&".join(f"{enc(k)}={enc(v)}" for k, v in params.items())


def case_json(url, creds, token, t):
    c = {"url": url, "access_key_id": creds[0], "secret_access_key": creds[1], "time": epoch(t)}
    if token:
        c["session_token"] = token
    return c


def test_dsql_tokens_match_boto3(frozen):
    ours = bins.sign([
        case_json(f"dsql://{host}?region={region}&user={quote(user)}&expires_in={exp}", creds, tok, t)
        for creds, tok, host, region, user, exp, t in DSQL_CASES
    ])
    for (creds, tok, host, region, user, exp, t), mine in zip(DSQL_CASES, ours):
        frozen(t)
        client = session(creds, tok, region).client("dsql")
        if user == "admin":
            ref = client.generate_db_connect_admin_auth_token(Hostname=host, Region=region, ExpiresIn=exp)
        else:
            ref = client.generate_db_connect_auth_token(Hostname=host, Region=region, ExpiresIn=exp)
        action = "DbConnectAdmin" if user == "admin" else "DbConnect"
        indep = independent_presign(creds, tok, host, host, {"Action": action}, "dsql", region, exp, t)
        assert parts(mine) == parts(ref), (user, exp, tok is not None)
        assert parts(mine) == parts(indep)
        if tok is None:
            assert mine == ref, "without a session token passmint is byte-identical to boto3"


def test_rds_tokens_match_boto3_including_odd_usernames(frozen):
    ours = bins.sign([
        case_json(f"rds://{host}:{port}?region={region}&user={quote(user, safe='')}", creds, tok, t)
        for creds, tok, host, port, region, user, t in RDS_CASES
    ])
    for (creds, tok, host, port, region, user, t), mine in zip(RDS_CASES, ours):
        frozen(t)
        ref = session(creds, tok, region).client("rds").generate_db_auth_token(
            DBHostname=host, Port=port, DBUsername=user, Region=region)
        indep = independent_presign(creds, tok, f"{host}:{port}", f"{host}:{port}",
                                    {"Action": "connect", "DBUser": user}, "rds-db", region, 900, t)
        assert parts(mine) == parts(ref), user
        assert parts(mine) == parts(indep), user
        assert parts(mine)[1]["DBUser"] == user
        assert mine == ref, "passmint keeps boto3's parameter order"


def test_session_token_is_signed_and_encoded():
    creds = EXAMPLE
    [mine] = bins.sign([case_json("dsql://abc.dsql.us-east-1.on.aws", creds, SESSION, T2025)])
    assert "X-Amz-Security-Token=" + quote(SESSION, safe="-_.~") in mine
    host, params = parts(mine)
    assert host == "abc.dsql.us-east-1.on.aws"
    assert params["X-Amz-Security-Token"] == SESSION
    assert params["X-Amz-Expires"] == "900"
