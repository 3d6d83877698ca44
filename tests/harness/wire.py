"""Request and reply values passed between the mock's transport and its routes."""

from __future__ import annotations

from dataclasses import dataclass, field


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


# Expiration override meaning "leave the expiry field out altogether".
OMIT = _Omit()


class _NotSet:
    def __repr__(self) -> str:
        return "NOT_SET"


# No expiration override: send the real expiry.
NOT_SET = _NotSet()


@dataclass
class Request:
    method: str
    path: str
    query: str
    query_params: dict[str, str]
    headers: dict[str, str]  # keys lower-cased: HTTP names are case-insensitive
    body: bytes
    form: dict[str, str] | None
    tls: bool


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Transport faults: send the status line, headers and half the body, then a TCP reset;
    # or send the body one byte every `trickle` seconds.
    reset: bool = False
    trickle: float = 0.0
