"""What every driver helper shares (DESIGN §7): the TLS default and the refusals, and the user
default. Private: the public API is the per-driver modules.

Each helper first decides from the caller's settings alone (no network) what it will add, so
a mistake is an error before any token is minted; then it mints and fills in the password
(always a ``str``: psycopg and psycopg2 would silently send ``str(callable)``).

A token is a password any server of its audience accepts (an Entra token, every Azure PostgreSQL
server of the tenant), so it travels only over TLS that checks the server's name: without TLS
only with ``allow_plaintext=True``; with TLS that does not check the name (libpq ``require``,
``verify-ca`` without a CA file of the caller's, asyncpg ``ssl="require"``, an ``SSLContext``
with ``check_hostname=False`` or ``CERT_NONE``) only with ``allow_unverified_tls=True``.
"""

from __future__ import annotations

import enum
import os
import ssl as ssl_module
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import InvalidConfigError

if TYPE_CHECKING:
    from ._native import Provider, Token

#: sslmode values that may send the password without TLS (libpq and asyncpg spell them alike).
PLAINTEXT_MODES = frozenset({"disable", "allow", "prefer"})
#: What the helpers use when the caller chose nothing: encrypted, certificate and host name verified.
VERIFIED = "verify-full"


class Choice(enum.Enum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"  # TLS that does not check the server's name
    PLAINTEXT = "plaintext"


def trust_advice(provider: Provider, driver: str) -> str:
    """What to write instead, for this provider's cloud (DESIGN §7 and the README's "TLS per
    cloud"): verify-full, and the CA its servers chain to."""
    bundle = provider.server_ca_bundle
    if driver == "asyncpg":
        if bundle:
            return f"ssl='verify-full' with sslrootcert=global-bundle.pem (from {bundle})"
        return "ssl=True (the system's roots, host name checked) or ssl='verify-full' with sslrootcert"
    if bundle:
        return f"sslmode=verify-full sslrootcert=global-bundle.pem (from {bundle})"
    return "sslmode=verify-full sslrootcert=system (libpq 16+; before, a file of the system's roots)"


def refused(choice: Choice, setting: str, helper: str, advice: str) -> InvalidConfigError:
    """The error for a plaintext or unverified choice made without its opt-in."""
    if choice is Choice.PLAINTEXT:
        return InvalidConfigError(
            "INVALID_CONFIG",
            f"{setting} lets the driver send the database token without TLS; use {advice}, or pass "
            f"allow_plaintext=True to {helper} if sending it unencrypted is intended",
        )
    fix = " (the one-word fix: require -> verify-full)" if "require" in setting else ""
    return InvalidConfigError(
        "INVALID_CONFIG",
        f"{setting} encrypts but does not check that the server is the one you named, so anyone on "
        f"the path could take the database token and use it elsewhere; use {advice}{fix}, or pass "
        f"allow_unverified_tls=True to {helper} if this is intended",
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):  # asyncpg.connect_utils.SSLMode.verify_full
        return value.name.replace("_", "-")
    text = str(value).strip()
    return text or None


def _named_ca(sslrootcert: object) -> bool:
    """A CA file the caller named (sslrootcert, else PGSSLROOTCERT): never the system's roots,
    which would make verify-ca accept any server with a publicly trusted certificate."""
    ca = _text(sslrootcert) or _text(os.environ.get("PGSSLROOTCERT"))
    return ca is not None and ca.lower() != "system"


def _mode_choice(mode: str, sslrootcert: object) -> Choice:
    mode = mode.lower()
    if mode in PLAINTEXT_MODES:
        return Choice.PLAINTEXT
    if mode == "require" or (mode == "verify-ca" and not _named_ca(sslrootcert)):
        return Choice.UNVERIFIED
    return Choice.VERIFIED  # verify-full, verify-ca with the caller's CA, or a mode the driver refuses


class TlsPolicy:
    """One helper's TLS rules: what it adds when the caller chose nothing, what it refuses."""

    __slots__ = ("allow_plaintext", "allow_unverified_tls", "helper", "provider")

    def __init__(self, helper: str, provider: Provider, *, allow_plaintext: bool, allow_unverified_tls: bool) -> None:
        self.helper, self.provider = helper, provider
        self.allow_plaintext, self.allow_unverified_tls = allow_plaintext, allow_unverified_tls

    def _judge(self, choice: Choice, setting: str, driver: str) -> None:
        allowed = {Choice.VERIFIED: True, Choice.PLAINTEXT: self.allow_plaintext,
                   Choice.UNVERIFIED: self.allow_unverified_tls}[choice]
        if not allowed:
            raise refused(choice, setting, self.helper, trust_advice(self.provider, driver))

    def libpq(self, params: Mapping[str, Any]) -> dict[str, str]:
        """What a libpq-based helper adds to ``params`` (the caller's parsed conninfo and keyword
        arguments): ``sslmode=verify-full`` when neither they nor PGSSLMODE chose a mode. Refuses
        disable/allow/prefer unless ``allow_plaintext``, and require or verify-ca without a CA
        file of the caller's unless ``allow_unverified_tls``."""
        mode, setting = _text(params.get("sslmode")), "sslmode"
        if mode is None:
            mode, setting = _text(os.environ.get("PGSSLMODE")), "PGSSLMODE"
        if mode is None:
            return {"sslmode": VERIFIED}
        self._judge(_mode_choice(mode, params.get("sslrootcert")), f"{setting}={mode}", "libpq")
        return {}

    def asyncpg(self, ssl: object, dsn: Mapping[str, str | None]) -> dict[str, Any]:
        """What an asyncpg helper adds: ``ssl="verify-full"`` when neither ``ssl=``, the DSN's
        ``sslmode`` nor PGSSLMODE chose. Refuses as ``libpq`` does, and ``ssl=False``, an
        ``SSLContext`` that checks no host name or no certificate, and any value asyncpg takes as
        disable. ``True`` (a default context), verify-full and a verifying ``SSLContext`` pass."""
        setting = "ssl"
        if ssl is None:
            ssl, setting = dsn.get("sslmode"), "sslmode"
            if _text(ssl) is None:
                ssl, setting = os.environ.get("PGSSLMODE"), "PGSSLMODE"
            if _text(ssl) is None:
                return {"ssl": VERIFIED}
        if ssl is True:
            return {}
        if isinstance(ssl, ssl_module.SSLContext):
            if ssl.verify_mode != ssl_module.CERT_NONE and ssl.check_hostname:
                return {}
            weak = "verify_mode=CERT_NONE" if ssl.verify_mode == ssl_module.CERT_NONE else "check_hostname=False"
            choice, shown = Choice.UNVERIFIED, f"an ssl.SSLContext with {weak}"
        elif isinstance(ssl, (str, enum.Enum)):
            mode = _text(ssl) or ""
            choice, shown = _mode_choice(mode, dsn.get("sslrootcert")), f"{setting}={mode}"
        else:
            choice, shown = Choice.PLAINTEXT, f"ssl={ssl!r}"
        self._judge(choice, shown, "asyncpg")
        return {}


def version_tuple(text: str) -> tuple[int, ...]:
    """``(2, 9, 5)`` from ``"2.9.5 (dt dec pq3 ext lo64)"``, ``"3.1.4"``, ``"0.30.0"``."""
    parts: list[int] = []
    for piece in text.split()[0].split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def require_version(name: str, installed: str, minimum: str, helper: str, needs: str) -> None:
    """Refuses a driver older than the helper relies on, at import, with the upgrade to run."""
    if version_tuple(installed) < version_tuple(minimum):
        raise ImportError(
            f"{helper} needs {name} >= {minimum} ({needs}); this is {installed.split()[0]}: "
            f"pip install -U '{name}>={minimum}'"
        )


def caller_named_user(value: object) -> bool:
    """Whether the caller chose a role: a non-empty ``user``, else PGUSER (libpq and asyncpg
    both fall back to it before the OS user name)."""
    return _text(value) is not None or bool(os.environ.get("PGUSER"))


def token_user(info: Token, provider: Provider) -> str | None:
    """The role a token is for: what the token knows (Entra claims, the signed AWS user), else
    what the provider was configured with."""
    return info.username or provider.username


def dsn_settings(dsn: object) -> dict[str, str | None]:
    """``user``, ``sslmode`` and ``sslrootcert`` from an asyncpg DSN (a postgres URL), as asyncpg
    reads them."""
    if not isinstance(dsn, str) or not dsn:
        return {"user": None, "sslmode": None, "sslrootcert": None}
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)

    def last(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    user = unquote(parts.username) if parts.username else last("user")
    return {"user": user, "sslmode": last("sslmode"), "sslrootcert": last("sslrootcert")}
