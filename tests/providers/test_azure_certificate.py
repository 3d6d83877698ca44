"""The client certificate credential of the environment step (AZURE_CLIENT_CERTIFICATE_PATH,
AZURE_CLIENT_SEND_CERTIFICATE_CHAIN): passmint signs its own client assertion (azure_identity's
needs OpenSSL), and the mock checks it as Entra ID does (thumbprint, signature, claims). The
request is compared with azure-identity's EnvironmentCredential (MSAL Python) against the same
mock; what passmint cannot read is refused with the command that converts it."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from harness import azref, bins, hygiene

TENANT = "7e57c0de-0000-4000-8000-0000000000aa"
CERT_CLIENT = "c3c3c3c3-0000-4000-8000-0000000000c3"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory, ca) -> dict[str, Path]:
    """An app certificate in each form users have: PEM with a PKCS #8 or a PKCS #1 key, with
    the issuer's certificate after it, encrypted, as .pfx, and an EC key."""
    d = tmp_path_factory.mktemp("app-cert")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
            "-days", "2", "-subj", "/CN=passmint-test-app", cwd=d)
    openssl("pkey", "-in", "key.pem", "-traditional", "-out", "key-pkcs1.pem", cwd=d)
    openssl("pkcs8", "-topk8", "-in", "key.pem", "-passout", "pass:pw", "-out", "key-enc.pem", cwd=d)
    openssl("pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-passout", "pass:", "-out",
            "app.pfx", cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "ec-key.pem", "-out", "ec-cert.pem", "-days", "2", "-subj", "/CN=passmint-ec", cwd=d)
    cert, key = (d / "cert.pem").read_text(), (d / "key.pem").read_text()
    hygiene.record([key.split("-----")[2].strip()])
    files = {
        "pkcs8": cert + key,
        "pkcs1": cert + (d / "key-pkcs1.pem").read_text(),
        "chain": cert + Path(ca.ca_pem).read_text() + key,
        "encrypted": cert + (d / "key-enc.pem").read_text(),
        "ec": (d / "ec-cert.pem").read_text() + (d / "ec-key.pem").read_text(),
    }
    out = {name: d / f"{name}.pem" for name in files}
    for name, text in files.items():
        out[name].write_text(text)
    out["pfx"] = d / "app.pfx"
    out["cert"] = d / "cert.pem"
    return out


@pytest.fixture
def registered(mock, certs):
    mock.azure_certificate(CERT_CLIENT, certs["cert"].read_text())
    return mock


def cert_env(mock, hermetic_env, path: Path, **extra) -> dict[str, str]:
    return hermetic_env(AZURE_TENANT_ID=TENANT, AZURE_CLIENT_ID=CERT_CLIENT, AZURE_CLIENT_CERTIFICATE_PATH=str(path),
                        AZURE_AUTHORITY_HOST=mock.https_url, **extra)


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return bins.cli(["token", "--json", "azure://"], env, timeout=40)


def jwt_parts(assertion: str) -> tuple[dict, dict]:
    def part(p: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    head, body, _ = assertion.split(".")
    return part(head), part(body)


def token_request(mock, during) -> dict:
    before = len(mock.requests())
    during()
    [req] = [r for r in mock.requests()[before:] if r["route"] == "azure-token"]
    return req


def shape(req: dict) -> dict:
    """What must match azure-identity's request: the form, the assertion's header, and its
    claims' names and values (less the instant and the id)."""
    header, claims = jwt_parts(req["form"]["client_assertion"])
    # MSAL also asks for `client_info`, which only user flows answer; the Rust and JS SDKs
    # send the rest, as passmint does.
    form = {k: v for k, v in req["form"].items() if k not in ("client_assertion", "client_info")}
    return {
        "form": form,
        "header": header,
        "claims": sorted(claims),
        "aud_iss_sub": (claims["aud"], claims["iss"], claims["sub"]),
        "lifetime": claims["exp"] - claims["iat"],
    }


@pytest.mark.parametrize("chain", [False, True])
def test_certificate_request_matches_azure_identity(registered, hermetic_env, certs, chain):
    mock = registered
    extra = {"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": "true"} if chain else {}
    env = cert_env(mock, hermetic_env, certs["chain"], **extra)
    ours = token_request(mock, lambda: run(env))
    assert any(i.get("client_auth") == "certificate" for i in mock.issued()), mock.issued()[-1:]
    theirs = token_request(mock, lambda: azref.run("environment", env))
    assert shape(ours) == shape(theirs)
    header, _ = jwt_parts(ours["form"]["client_assertion"])
    assert header["alg"] == "RS256" and "x5t" in header
    # The chain: the certificate first, then its issuer, base64 DER, as MSAL sends it.
    assert ("x5c" in header) == chain and (len(header["x5c"]) == 2 if chain else True)


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1"])
def test_certificate_token(registered, hermetic_env, certs, form):
    r = run(cert_env(registered, hermetic_env, certs[form]))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert any(i.get("access_token") == out["token"] and i.get("client_auth") == "certificate"
               for i in registered.issued())


def test_a_secret_wins_over_a_certificate_as_in_azure_identity(registered, hermetic_env, certs):
    secret = registered.azure_app(CERT_CLIENT)
    env = cert_env(registered, hermetic_env, certs["pkcs8"], AZURE_CLIENT_SECRET=secret)
    req = token_request(registered, lambda: run(env))
    assert "client_secret" in req["form"] and "client_assertion" not in req["form"]


def test_an_unregistered_certificate_is_refused_by_entra(mock, hermetic_env, certs):
    mock.azure_certificate(CERT_CLIENT, certs["ec"].read_text().split("-----BEGIN PRIVATE KEY")[0])
    r = run(cert_env(mock, hermetic_env, certs["pkcs8"]))
    assert r.returncode != 0 and "(AUTHENTICATION_FAILED)" in r.stderr, r.stderr
    assert "thumbprint" in r.stderr


@pytest.mark.parametrize(("form", "kind", "says"), [
    ("pfx", "INVALID_CONFIG", "openssl pkcs12"),
    ("encrypted", "INVALID_CONFIG", "openssl pkey"),
    ("ec", "INVALID_CONFIG", "not a usable RSA key"),
    ("missing", "CREDENTIAL_UNAVAILABLE", "cannot be read"),
])
def test_what_passmint_cannot_read_is_refused_with_the_fix(registered, hermetic_env, certs, form, kind, says):
    path = certs.get(form, certs["cert"].parent / "missing.pem")
    r = run(cert_env(registered, hermetic_env, path))
    assert r.returncode != 0 and f"({kind})" in r.stderr and says in r.stderr, r.stderr
    assert "PRIVATE KEY" not in r.stderr
    assert registered.requests() == []
