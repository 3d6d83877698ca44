"""passmint's exceptions: one class per error kind, the same kinds in every language
(docs/DESIGN.md §6). `code` is the kind's name; the C status is `PASSMINT_` + code.

Messages say what was tried and what to do next; they never contain a token or a secret.
"""

from __future__ import annotations

import builtins


class Error(Exception):
    """Any passmint failure. ``code`` is e.g. ``"TIMEOUT"``."""

    code: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"passmint.{type(self).__name__}({self.code!r}, {self.message!r})"


class InvalidArgumentError(Error, ValueError):
    """An unusable argument (wrong type, empty string)."""


class InvalidConfigError(Error, ValueError):
    """The provider URL or option is wrong; the message names the fix."""


class CredentialUnavailableError(Error):
    """No credential of the requested kind exists here (not logged in, not on the cloud)."""


class AuthenticationFailedError(Error):
    """The identity endpoint answered and refused."""


class TimeoutError(Error, builtins.TimeoutError):  # the contract's name; also a builtin TimeoutError
    """The deadline (10 s) passed before a token could be had."""


class NetworkError(Error, ConnectionError):
    """The identity endpoint could not be reached."""


class ProviderResponseError(Error):
    """The identity endpoint's answer was malformed or unexpected."""


class InternalError(Error):
    """A bug in passmint (including a caught panic): please report it."""


_BY_CODE: dict[str, type[Error]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "INVALID_CONFIG": InvalidConfigError,
    "CREDENTIAL_UNAVAILABLE": CredentialUnavailableError,
    "AUTHENTICATION_FAILED": AuthenticationFailedError,
    "TIMEOUT": TimeoutError,
    "NETWORK": NetworkError,
    "PROVIDER_RESPONSE": ProviderResponseError,
    "PANIC": InternalError,
    "INTERNAL": InternalError,
}
