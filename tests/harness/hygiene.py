"""The secret-hygiene record: every secret the harness hands out (mock credentials, tokens,
client secrets, federated assertions, identity headers, fake `az` tokens) is appended to
$PASSMINT_SECRETS_FILE when set. `tests/all` sets it, and after the last suite `tests/hygiene.py`
scans every suite's log for them."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable


def record(secrets: Iterable[str]) -> None:
    path = os.environ.get("PASSMINT_SECRETS_FILE")
    if not path:
        return
    lines = "".join(f"{s}\n" for s in set(secrets) if s and "\n" not in s)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(lines)
