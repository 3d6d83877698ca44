"""What every driver helper shares (DESIGN §7): the TLS default, the plaintext refusal and the
user default. Private: the public API is the per-driver modules.

Each helper first decides from the caller's settings alone (no network) what it will add, so
a plaintext mistake is an error before any token is minted; then it mints and fills in the
password (always a ``str``: psycopg and psycopg2 would silently send ``str(callable)``).
"""

from __future__ import annotations

import enum
import os
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


def plaintext_refused(helper: str, setting: str) -> InvalidConfigError:
    """The error for an explicit plaintext-capable choice without ``allow_plaintext=True``."""
    return InvalidConfigError(
        "INVALID_CONFIG",
        f"{setting} lets the driver send the database token without TLS; use sslmode=verify-full "
        f"(or require / verify-ca), or pass allow_plaintext=True to {helper} if sending it "
        "unencrypted is intended",
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):  # asyncpg.connect_utils.SSLMode.verify_full
        return value.name.replace("_", "-")
    text = str(value).strip()
    return text or None


def libpq_tls(params: Mapping[str, Any], *, helper: str, allow_plaintext: bool) -> dict[str, str]:
    """The TLS setting a libpq-based helper adds to ``params`` (the caller's parsed conninfo and
    keyword arguments): ``sslmode=verify-full`` when neither they nor PGSSLMODE chose a mode.
    Raises InvalidConfigError for disable/allow/prefer unless ``allow_plaintext``."""
    mode, setting = _text(params.get("sslmode")), "sslmode"
    if mode is None:
        mode, setting = _text(os.environ.get("PGSSLMODE")), "PGSSLMODE"
    if mode is None:
        return {"sslmode": VERIFIED}
    if mode.lower() in PLAINTEXT_MODES and not allow_plaintext:
        raise plaintext_refused(helper, f"{setting}={mode}")
    return {}


def asyncpg_tls(ssl: object, dsn_sslmode: str | None, *, helper: str, allow_plaintext: bool) -> dict[str, Any]:
    """The TLS setting an asyncpg helper adds: ``ssl="verify-full"`` when neither ``ssl=``, the
    DSN's ``sslmode`` nor PGSSLMODE chose. ``ssl=False`` and disable/allow/prefer are refused
    unless ``allow_plaintext``; ``True``, an ``ssl.SSLContext``, require, verify-ca and
    verify-full are the caller's TLS and pass through."""
    if ssl is None:
        ssl, setting = dsn_sslmode, "sslmode"
        if _text(ssl) is None:
            ssl, setting = os.environ.get("PGSSLMODE"), "PGSSLMODE"
        if _text(ssl) is None:
            return {"ssl": VERIFIED}
    else:
        setting = "ssl"
    if ssl is False:
        plaintext = True
        shown = "ssl=False"
    elif isinstance(ssl, (str, enum.Enum)):
        mode = _text(ssl) or ""
        plaintext = mode.lower() in PLAINTEXT_MODES
        shown = f"{setting}={mode}"
    else:  # True, an SSLContext: TLS the caller set up
        plaintext, shown = False, ""
    if plaintext and not allow_plaintext:
        raise plaintext_refused(helper, shown)
    return {}


def caller_named_user(value: object) -> bool:
    """Whether the caller chose a role: a non-empty ``user``, else PGUSER (libpq and asyncpg
    both fall back to it before the OS user name)."""
    return _text(value) is not None or bool(os.environ.get("PGUSER"))


def token_user(info: Token, provider: Provider) -> str | None:
    """The role a token is for: what the token knows (Entra claims, the signed AWS user), else
    what the provider was configured with."""
    return info.username or provider.username


def dsn_settings(dsn: object) -> tuple[str | None, str | None]:
    """(user, sslmode) from an asyncpg DSN (a postgres URL), as asyncpg reads them."""
    if not isinstance(dsn, str) or not dsn:
        return None, None
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)

    def last(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    return (unquote(parts.username) if parts.username else last("user")), last("sslmode")
