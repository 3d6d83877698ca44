from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

__version__: str
ERROR_KINDS: list[str]
PROVIDER_KINDS: list[str]

def _interpreter_exiting() -> None: ...

def decide_tls(
    *, driver: str, setting: str, provider: str, helper: str, value: str | None = None, source: str | None = None,
    shown: str | None = None, pgsslmode: str | None = None, sslrootcert: str | None = None,
    pgsslrootcert: str | None = None, allow_plaintext: bool = False, allow_unverified_tls: bool = False,
) -> bool: ...

class Token:
    """A minted token; ``repr()`` hides the secret."""

    @property
    def secret(self) -> str: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def provider(self) -> str: ...

class ProviderStatus(TypedDict):
    """``Provider.status()``: times in unix seconds; ``consecutive_failures`` above 0 while
    ``cached`` is true means refreshes are failing and the cached token is still served."""

    cached: bool
    expires_at: int | None
    next_refresh_at: int | None
    consecutive_failures: int
    last_error_kind: str | None
    last_error_message: str | None
    credential: str | None

class Provider:
    """A configured source of tokens with its own cache."""

    def __init__(self, url: str) -> None: ...
    @classmethod
    def for_postgres_url(cls, dsn: str) -> Provider: ...
    @classmethod
    def from_env(cls) -> Provider: ...
    @classmethod
    def _from_fields(cls, kind: str, fields: list[tuple[str, str]]) -> Provider: ...
    def token(self) -> str: ...
    def token_info(self) -> Token: ...
    def token_async(self) -> Awaitable[str]: ...
    def token_info_async(self) -> Awaitable[Token]: ...
    def status(self) -> ProviderStatus: ...
    @classmethod
    def from_callable(cls, callable: Callable[[], Any]) -> Provider: ...
    @classmethod
    def _from_fields_with_aws_credentials(
        cls, kind: str, fields: list[tuple[str, str]], call: Callable[[], tuple[str, str, str | None, int | None]],
    ) -> Provider: ...
    @property
    def kind(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def server_ca_bundle(self) -> str | None: ...

