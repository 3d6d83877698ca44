"""Session fixtures shared by every Python-driven suite: CA, mock, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from harness import hygiene
from harness.azcli import FakeAzureClis
from harness.ca import make_ca
from harness.env import hermetic_env as _hermetic_env
from harness.mock import MockIdentityServer
from harness.pg import PostgresServer
from harness.secretsmanager import SecretsManagerServer


def pytest_report_header(config):
    # The hermetic rule wants a loopback-only namespace; say so when absent
    # rather than silently relying on the endpoint overrides alone.
    # /proc/self/net follows our namespace; /sys/class/net follows sysfs's.
    try:
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        lines = []
    nics = sorted(n for n in (ln.split(":")[0].strip() for ln in lines) if n != "lo")
    if nics:
        return f"WARNING: not in a loopback-only network namespace (interfaces: {', '.join(nics)})"
    return "network: loopback only"


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    made = make_ca(tmp_path_factory.mktemp("ca"))
    # In-process providers trust the harness CA as subprocesses do (hermetic_env): the mock's
    # https endpoints (Google's token endpoint, Entra ID). passmint reads it once per process, at
    # its first https request, which comes after this session fixture.
    os.environ["PASSMINT_CA_BUNDLE"] = str(made.ca_pem)
    return made


@pytest.fixture(scope="session")
def mock(ca):
    with MockIdentityServer(ca) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_mock(request):
    # Only tests that use the mock pay for (or start) it.
    if "mock" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("mock")
    server.reset()
    yield
    server.reset()


@pytest.fixture(scope="session")
def pg(ca):
    with PostgresServer(ca) as server:
        yield server


@pytest.fixture
def pg_role(pg):
    """A fresh login role, so tests sharing the server never share passwords."""
    name = f"tok_{uuid.uuid4().hex[:12]}"
    pg.create_login_role(name)
    return name


@pytest.fixture
def hermetic_env(tmp_path, ca):
    """``hermetic_env(**overrides)`` -> clean env dict (see harness.env)."""

    def make(**overrides):
        return _hermetic_env(tmp_path / "env", ca.ca_pem, **overrides)

    return make


@pytest.fixture
def azure_clis(tmp_path):
    """Fake `az` and `azd` (harness.azcli): put ``.bin_dir`` first on PATH and add ``.env()``."""
    clis = FakeAzureClis(tmp_path / "azure-clis")
    yield clis
    hygiene.record(clis.issued_secrets())


@pytest.fixture(scope="session")
def secretsmanager(ca):
    """moto's Secrets Manager on loopback (harness.secretsmanager): ``.env()`` for a client,
    ``.create_rds_secret()``, ``.rotate()``, ``.requests()``. Signatures are checked."""
    with SecretsManagerServer(ca) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_secretsmanager(request):
    # As _fresh_mock: only tests that use it pay for (or start) it. Each starts with no secrets,
    # no recorded requests and a new key, so take env() inside the test.
    if "secretsmanager" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("secretsmanager")
    server.reset()
    yield
    server.reset()
