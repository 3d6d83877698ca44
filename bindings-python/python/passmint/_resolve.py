"""Completes a token future on its event loop's thread (called via call_soon_threadsafe)."""

from __future__ import annotations

import asyncio
from typing import Any


def resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled: the awaiting task gave up
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
