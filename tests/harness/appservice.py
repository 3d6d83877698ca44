"""A role whose logins use App Service managed-identity tokens of a chosen lifetime: the setup
the outage drill and the soak share."""

from __future__ import annotations

import ssl
from typing import Any

import passmint


def managed_identity_role(mock: Any, pg: Any, ca: Any, monkeypatch: Any, role: str,
                          lifetime: float) -> tuple[passmint.Provider, ssl.SSLContext]:
    """Creates `role`, makes the mock's App Service identity that role issuing `lifetime`-second
    tokens, and returns passmint's provider for it and a TLS context trusting the harness CA."""
    pg.create_login_role(role)
    mock.configure(azure_app_name=role)  # the identity is named like its role, as on Azure
    mock.set_credential_lifetime("azure-appservice", lifetime)
    monkeypatch.setenv("IDENTITY_ENDPOINT", mock.http_url + "/azure/appservice/token")
    monkeypatch.setenv("IDENTITY_HEADER", mock.identity_header)
    return passmint.azure(credential="managed"), ssl.create_default_context(cafile=str(ca.ca_pem))
