"""What every driver helper shares (docs/DESIGN.md §7): reading the caller's
TLS choice out of a driver's settings, and the user default. Private: the public API is the
per-driver modules.

Each helper first decides from the caller's settings alone (no network) what it will add, so
a mistake is an error before any token is minted; then it mints and fills in the password
(always a ``str``: psycopg and psycopg2 would silently send ``str(callable)``).

Whether a choice is plaintext, unverified or verified, what is refused without which opt-in,
and every message, are decided by the core (``passmint._native.decide_tls``; the cases are
``tests/vectors/driver_tls.json``, run in Rust, Python and Node alike).
"""

from __future__ import annotations

import enum
import functools
import os
import pathlib
import ssl as ssl_module
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from ._native import decide_tls, missing_user

if TYPE_CHECKING:
    from ._native import Provider, Token

#: What the helpers add when the caller chose nothing: encrypted, certificate and host name verified.
VERIFIED = "verify-full"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):  # asyncpg.connect_utils.SSLMode.verify_full
        return value.name.replace("_", "-")
    text = str(value).strip()
    return text or None


class TlsPolicy:
    """One helper's TLS rules: what it adds when the caller chose nothing, what it refuses."""

    __slots__ = ("allow_plaintext", "allow_unverified_tls", "helper", "provider")

    def __init__(self, helper: str, provider: Provider, *, allow_plaintext: bool, allow_unverified_tls: bool) -> None:
        self.helper, self.provider = helper, provider
        self.allow_plaintext, self.allow_unverified_tls = allow_plaintext, allow_unverified_tls

    def _decide(self, driver: str, setting: str, sslrootcert: object, **kw: Any) -> bool:
        return decide_tls(
            driver=driver, setting=setting, provider=self.provider.kind, helper=self.helper,
            pgsslmode=os.environ.get("PGSSLMODE"), sslrootcert=_text(sslrootcert),
            pgsslrootcert=os.environ.get("PGSSLROOTCERT"), allow_plaintext=self.allow_plaintext,
            allow_unverified_tls=self.allow_unverified_tls, **kw,
        )

    def libpq(self, params: Mapping[str, Any]) -> dict[str, str]:
        """What a libpq-based helper adds to ``params`` (the caller's parsed conninfo and keyword
        arguments): ``sslmode=verify-full`` when neither they nor PGSSLMODE chose a mode."""
        mode = _text(params.get("sslmode"))
        chosen = {"setting": "unset"} if mode is None else {"setting": "mode", "value": mode, "source": "sslmode"}
        return {"sslmode": VERIFIED} if self._decide("libpq", sslrootcert=params.get("sslrootcert"), **chosen) else {}

    def asyncpg(self, ssl: object, dsn: Mapping[str, str | None]) -> dict[str, Any]:
        """What an asyncpg helper adds when neither ``ssl=``, the DSN's ``sslmode`` nor PGSSLMODE
        chose: see :func:`asyncpg_verified`. ``True`` is a default context (verified); an
        ``SSLContext`` is verified when it checks the certificate and the host name; any other
        value asyncpg takes as disable."""
        chosen: dict[str, Any]
        if ssl is None:
            mode = _text(dsn.get("sslmode"))
            chosen = {"setting": "unset"} if mode is None else {"setting": "mode", "value": mode, "source": "sslmode"}
        elif ssl is True:
            chosen = {"setting": "verified"}
        elif isinstance(ssl, ssl_module.SSLContext):
            if ssl.verify_mode != ssl_module.CERT_NONE and ssl.check_hostname:
                chosen = {"setting": "verified"}
            else:
                weak = "verify_mode=CERT_NONE" if ssl.verify_mode == ssl_module.CERT_NONE else "check_hostname=False"
                chosen = {"setting": "unverified", "shown": f"an ssl.SSLContext with {weak}"}
        elif isinstance(ssl, (str, enum.Enum)):
            chosen = {"setting": "mode", "value": _text(ssl) or "", "source": "ssl"}
        else:
            chosen = {"setting": "off", "shown": f"ssl={ssl!r}"}
        if not self._decide("asyncpg", sslrootcert=dsn.get("sslrootcert"), **chosen):
            return {}
        return {"ssl": asyncpg_verified(dsn.get("sslrootcert"))}


def asyncpg_verified(sslrootcert: object) -> str | ssl_module.SSLContext:
    """Verified TLS for asyncpg. With a CA file of the caller's (the DSN's ``sslrootcert``,
    PGSSLROOTCERT, ``~/.postgresql/root.crt``) ``"verify-full"``, so asyncpg loads that file as
    libpq would. Without one, asyncpg's ``"verify-full"`` refuses to connect, so the system's
    roots with the host name checked (``ssl.create_default_context()``, which honours
    SSL_CERT_FILE and SSL_CERT_DIR): Azure's and DSQL's certificates chain to them, and so does
    ``sslrootcert=system`` (libpq 16's spelling, which asyncpg would read as a file name)."""
    named = _text(sslrootcert) or _text(os.environ.get("PGSSLROOTCERT"))
    if named is not None and named.lower() != "system":
        return VERIFIED
    if named is None and _home_root_crt().is_file():
        return VERIFIED
    return _system_roots(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


def _home_root_crt() -> pathlib.Path:
    try:
        return pathlib.Path.home() / ".postgresql" / "root.crt"
    except (RuntimeError, KeyError):  # no home directory: asyncpg finds no file there either
        return pathlib.Path("/nonexistent/.postgresql/root.crt")


@functools.lru_cache(maxsize=4)
def _system_roots(_cert_file: str | None, _cert_dir: str | None) -> ssl_module.SSLContext:
    # Loading the roots costs milliseconds: one context per bundle location, shared by every
    # connection (an SSLContext is safe to share); a changed SSL_CERT_FILE gets a new one.
    return ssl_module.create_default_context()


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


def token_user(info: Token, provider: Provider, helper: str = "passmint") -> str:
    """The role a token is for: what the token knows (Entra claims, the signed AWS user), else
    what the provider was configured with. Neither: ``InvalidConfigError`` saying how to find the
    role, rather than letting the driver log in as the OS user."""
    user = info.username or provider.username
    if not user:
        raise missing_user(provider.kind, helper)
    return user


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
