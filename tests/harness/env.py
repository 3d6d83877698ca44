"""Clean environments for SDK and passmint subprocesses (hermetic rule, §0).

Starting from nothing rather than os.environ means a developer's real AWS
profile, proxy or PG* settings can never reach a test, and every endpoint a
credential chain might try is either pointed at the mock or switched off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

# Nothing listens on port 9 of loopback: a stray call is refused at once.
CLOSED = "127.0.0.1:9"

# Azure credential sources a test must opt into: never inherited (the env starts
# empty), listed so the harness self-test can hold the rule.
AZURE_SOURCES = (
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT",
    "MSI_ENDPOINT", "MSI_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD",
)
# Likewise Google's: a test that wants an ADC file names it.
GOOGLE_SOURCES = ("GOOGLE_APPLICATION_CREDENTIALS",)


def hermetic_env(base_dir: PathLike, ca_pem: PathLike | None = None, **overrides: str | None) -> dict[str, str]:
    """Environment dict for a subprocess; an override of None removes a name.

    ``base_dir`` receives an empty HOME and empty AWS config files.
    AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_ENDPOINT_URL_STS and
    AWS_CONTAINER_CREDENTIALS_FULL_URI are absent unless given; so are the
    Azure credential sources (AZURE_SOURCES: IDENTITY_ENDPOINT, AZURE_CLIENT_ID, ...).
    The Entra authority and IMDS point at a closed loopback port unless given
    (AZURE_AUTHORITY_HOST, AZURE_POD_IDENTITY_AUTHORITY_HOST).
    """
    base = Path(base_dir)
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    aws_config = base / "aws-config"
    aws_credentials = base / "aws-credentials"
    aws_config.touch()
    aws_credentials.touch()
    # The shared token cache's directory: one per environment, so no test sees another's tokens.
    runtime = base / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)

    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "XDG_RUNTIME_DIR": str(runtime),
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_credentials),
        # A stray IMDS lookup would go to a link-local address: never.
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_GCE_CHECK": "true",
        # A stray Entra or IMDS call is refused at once instead of leaving loopback.
        "AZURE_AUTHORITY_HOST": f"https://{CLOSED}",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://{CLOSED}",
        # Google: no ADC file but the test's, the metadata server and Google's fixed endpoints
        # refused at once (gcp.py serves them when a test points these at the mock).
        "CLOUDSDK_CONFIG": str(base / "gcloud"),
        "GCE_METADATA_HOST": CLOSED,
        "GCE_METADATA_IP": CLOSED,
        "PASSMINT_GCP_TOKEN_URL": f"https://{CLOSED}/token",
        "PASSMINT_GCP_IAM_ENDPOINT": f"https://{CLOSED}",
        # Secret stores: Secrets Manager and Vault refused at once unless a test points these at
        # its emulator (harness/secretsmanager.py, harness/vault.py).
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://{CLOSED}",
        "VAULT_ADDR": f"https://{CLOSED}",
        # A proxy would turn loopback calls into calls elsewhere.
        "NO_PROXY": "*",
        "no_proxy": "*",
    }
    if ca_pem is not None:
        ca = str(ca_pem)
        # Only the test CA is trusted, so nothing real could be verified anyway.
        for name in ("PASSMINT_CA_BUNDLE", "SSL_CERT_FILE", "AWS_CA_BUNDLE",
                     "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
            env[name] = ca
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env
