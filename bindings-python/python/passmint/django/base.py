"""The database backend Django loads for ``ENGINE: "passmint.django"`` (see the package
docstring): Django's PostgreSQL backend, with a token as the password of each new connection."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import django
from django.db.backends.postgresql import base as postgresql
from django.utils.functional import cached_property

from .._helpers import LibpqLogin, TlsPolicy, connect_with_token, require_version
from .._native import Provider
from ..errors import InvalidConfigError
from .client import DatabaseClient

if TYPE_CHECKING:
    from .._native import Token

__all__ = ["DatabaseWrapper"]

#: The oldest Django this backend is tested with: the oldest LTS still supported.
MINIMUM = "5.2"
require_version("Django", django.get_version(), MINIMUM, "passmint.django", "the connection pool option")

HELPER = "passmint.django"
#: What passmint reads from OPTIONS; the rest goes to the driver, as with Django's backend.
OWN_OPTIONS = ("provider", "allow_plaintext", "allow_unverified_tls")

# One provider per URL for the whole process, so every thread's connection shares one cache.
_providers: dict[str, Provider] = {}


def _shared(url: str, build: Callable[[], Provider]) -> Provider:
    provider = _providers.get(url)
    if provider is None:
        # No lock (a fork() in another thread's critical section would leave it held in the
        # child): threads racing here each build one (cheap, no I/O), and setdefault keeps the first.
        provider = _providers.setdefault(url, build())
    return provider


def _settings_url(settings: dict[str, Any]) -> str:
    """The connection settings as a postgres URL, for ``Provider.for_postgres_url``."""
    from urllib.parse import quote

    user = quote(str(settings.get("USER") or ""), safe="")
    host = str(settings.get("HOST") or "")
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    name = quote(str(settings.get("NAME") or ""), safe="")
    return f"postgresql://{user + '@' if user else ''}{host}{port}/{name}"


def _provider(alias: str, settings: dict[str, Any]) -> Provider:
    chosen = settings["OPTIONS"].get("provider")
    if isinstance(chosen, Provider):
        return chosen
    if isinstance(chosen, str) and chosen.strip():
        return _shared(chosen, lambda: Provider(chosen))
    if chosen is not None:
        raise InvalidConfigError(
            "INVALID_CONFIG",
            f"{HELPER}: DATABASES[{alias!r}]['OPTIONS']['provider'] is a {type(chosen).__name__}: give a "
            "provider URL (dsql://..., azure://...) or a passmint.Provider",
        )
    from_env = os.environ.get("PASSMINT_PROVIDER", "").strip()
    if from_env:
        return _shared(from_env, lambda: Provider(from_env))
    if not settings.get("HOST"):
        raise InvalidConfigError(
            "INVALID_CONFIG",
            f"{HELPER}: DATABASES[{alias!r}] names no provider: set OPTIONS['provider'] to a provider URL "
            "(dsql://..., rds://..., azure://...) or a passmint.Provider, or PASSMINT_PROVIDER",
        )
    url = _settings_url(settings)
    try:
        return _shared(url, lambda: Provider.for_postgres_url(url))
    except InvalidConfigError as e:
        raise InvalidConfigError(
            "INVALID_CONFIG",
            f"{HELPER}: DATABASES[{alias!r}] names no provider, and its HOST does not say which cloud "
            f"({e}): set OPTIONS['provider'] to a provider URL or a passmint.Provider, or PASSMINT_PROVIDER",
        ) from None


class DatabaseWrapper(postgresql.DatabaseWrapper):
    """Django's PostgreSQL ``DatabaseWrapper``; ``get_new_connection`` and the pool's connection
    class put a token from the provider into each new connection."""

    client_class = DatabaseClient

    @cached_property
    def passmint_provider(self) -> Provider:
        """The provider of this database's tokens (see the package docstring for where from)."""
        if self.settings_dict.get("PASSWORD"):
            raise InvalidConfigError(
                "INVALID_CONFIG",
                f"{HELPER}: DATABASES[{self.alias!r}] sets PASSWORD; the password is the provider's token: "
                "remove PASSWORD",
            )
        return _provider(self.alias, self.settings_dict)

    @cached_property
    def _passmint_tls(self) -> TlsPolicy:
        options = self.settings_dict["OPTIONS"]
        return TlsPolicy(HELPER, self.passmint_provider, allow_plaintext=options.get("allow_plaintext") is True,
                         allow_unverified_tls=options.get("allow_unverified_tls") is True)

    def passmint_shell_settings(self) -> dict[str, Any]:
        """The settings ``dbshell`` runs psql with: the token as PASSWORD, the TLS default as
        ``sslmode`` and the token's role as USER when none is set; no passmint OPTIONS."""
        provider = self.passmint_provider
        with_token = LibpqLogin(self.get_connection_params(), self._passmint_tls).apply({}, provider.token_info(), provider)
        options = {k: v for k, v in self.settings_dict["OPTIONS"].items() if k not in OWN_OPTIONS}
        if "sslmode" in with_token:
            options["sslmode"] = with_token["sslmode"]
        return {**self.settings_dict, "PASSWORD": with_token["password"],
                "USER": with_token.get("user") or self.settings_dict.get("USER"), "OPTIONS": options}

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        for name in OWN_OPTIONS:
            params.pop(name, None)
        return params

    @property
    def pool(self) -> Any:
        """Django's psycopg_pool, whose connections log in with tokens: its connection class is
        passmint's, set before the pool first opens (Django makes it with ``open=False``)."""
        pool = super().pool  # type: ignore[misc]  # django-stubs 5.2 lacks Django 5.1's pool
        if pool is not None and getattr(pool.connection_class, "passmint_provider", None) is None:
            from ..psycopg import _connection_class

            pool.connection_class = _connection_class(self.passmint_provider, self._passmint_tls,
                                                      pool.connection_class)
        return pool

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        provider = self.passmint_provider
        # Decided before any token: a plaintext or unverified choice is refused here, at once,
        # rather than in a pool worker that would retry it into a PoolTimeout.
        login = LibpqLogin(conn_params, self._passmint_tls)
        pool = self.pool
        connect = super().get_new_connection
        if pool is not None:
            if pool.closed:  # first open: a credential problem as a passmint.Error, not a PoolTimeout
                provider.token_info()
            return connect(conn_params)

        def attempt(info: Token) -> Any:
            return connect(login.apply(conn_params, info, provider))

        return connect_with_token(provider, attempt)
