"""What every driver helper shares (docs/DESIGN.md §7): reading the caller's
TLS choice out of a driver's settings, the user default, and the one retry after a refused
password. Private: the public API is the per-driver modules.

Each helper first decides from the caller's settings alone (no network) what it will add, so
a mistake is an error before any token is minted; then it mints and fills in the password
(always a ``str``: psycopg and psycopg2 would silently send ``str(callable)``).

Whether a choice is plaintext, unverified or verified, what is refused without which opt-in,
and every message, are decided by the core (``passmint._native.decide_tls``; the cases are
``tests/vectors/driver_tls.json``, run in Rust, Python and Node alike).

A helper that makes the connection itself does it through :func:`connect_with_token` (or
:func:`connect_with_token_async`): when the server refuses the password, the provider is told
(``Provider.password_refused``); for a source whose secrets rotate early (vault, awssm, file,
exec) the core says to try once more, and the helper connects again with a fresh token and its
username. Which kinds rotate is the core's decision, not the helpers'.
"""

from __future__ import annotations

import enum
import functools
import os
import pathlib
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from ._native import decide_tls, missing_user

if TYPE_CHECKING:
    from ._native import Provider, Token

#: What the helpers add when the caller chose nothing: encrypted, certificate and host name verified.
VERIFIED = "verify-full"

#: PostgreSQL's SQLSTATE for a password the server refused (``invalid_password``).
INVALID_PASSWORD = "28P01"
#: The server's message for it. libpq reports a failed connection as text only, without its
#: SQLSTATE, so psycopg and psycopg2 raise a plain ``OperationalError`` that carries this.
INVALID_PASSWORD_TEXT = "password authentication failed for user"

T = TypeVar("T")


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


class LibpqLogin:
    """What a libpq-based helper adds to one connect, decided from the caller's libpq parameters
    (``params``: conninfo keywords and keyword arguments, merged) before any token is minted: the
    TLS default or refusal, and whether the token's role becomes ``user``."""

    __slots__ = ("extra", "helper", "need_user")

    def __init__(self, params: Mapping[str, Any], tls: TlsPolicy) -> None:
        self.extra: dict[str, str] = tls.libpq(params)
        self.need_user = not caller_named_user(params.get("user"))
        self.helper = tls.helper

    def apply(self, kwargs: Mapping[str, Any], info: Token, provider: Provider) -> dict[str, Any]:
        """``kwargs`` with the token as ``password``, plus what was decided."""
        out = {**kwargs, **self.extra, "password": info.secret}
        if self.need_user:
            out["user"] = token_user(info, provider, self.helper)
        return out


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


def password_refused_by_server(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a connect, is the server refusing the password (SQLSTATE 28P01).

    asyncpg (``InvalidPasswordError``) and SQLAlchemy's asyncpg adapter carry the SQLSTATE
    (``sqlstate``, ``pgcode``); so would a psycopg ``errors.InvalidPassword``. libpq gives no
    SQLSTATE for a failed connection, so psycopg's and psycopg2's ``OperationalError`` is known by
    the server's message, in English: a server whose ``lc_messages`` is another language is not
    recognised, and its refusals are raised without a retry. Wrappers (SQLAlchemy's ``orig``,
    ``__cause__``) are looked through."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if code == INVALID_PASSWORD or (code is None and INVALID_PASSWORD_TEXT in str(e)):
            return True
        orig = getattr(e, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, e.__cause__]
    return False


def _retry_with_fresh_token(provider: Provider, exc: Exception, refused: Token) -> bool:
    """After a failed connect with ``refused``: whether to connect once more with a fresh token.
    Only for a password the server refused, and only when the provider says a fresh one can
    differ (it then dropped ``refused`` from its cache, if still there: many connections refused
    at once cause one new fetch). IAM tokens and callbacks: never, and nothing is dropped."""
    return password_refused_by_server(exc) and provider.password_refused(refused.secret)


def connect_with_token(provider: Provider, connect: Callable[[Token], T],
                       token: Callable[[], Token] | None = None) -> T:
    """``connect(token)``; when the server refuses that password and the provider's secrets rotate
    early (``Provider.password_refused``), ``connect`` once more with a fresh token. The error of
    the second attempt, or the first error unchanged, is raised. ``token`` fetches a token
    (default ``provider.token_info``)."""
    fetch = token or provider.token_info
    info = fetch()
    try:
        return connect(info)
    except Exception as exc:
        if not _retry_with_fresh_token(provider, exc, info):
            raise
    return connect(fetch())


async def connect_with_token_async(provider: Provider, connect: Callable[[Token], Awaitable[T]]) -> T:
    """:func:`connect_with_token` for asyncio: tokens are awaited, never blocking the loop."""
    info = await provider.token_info_async()
    try:
        return await connect(info)
    except Exception as exc:
        if not _retry_with_fresh_token(provider, exc, info):
            raise
    return await connect(await provider.token_info_async())
