"""The secret-hygiene record: every secret the harness hands out (mock credentials, tokens,
client secrets, federated assertions, identity headers, fake `az` tokens) is appended to
$PASSMINT_SECRETS_FILE when set. `tests/all` sets it, and after the last suite `tests/hygiene.py`
scans every suite's log for them."""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterable
from urllib.parse import quote

#: .NET's JavaScriptEncoder.Default escapes these in JSON strings.
DOTNET_ESCAPED = "+<>&'"


def json_escaped(secret: str, *, slash: bool = False, dotnet: bool = False) -> str:
    """``secret`` as it appears inside a JSON string: plainly (Python), with ``\\/`` (PHP's
    default) or with ``\\u00XX`` for ``+<>&'`` (.NET's default)."""
    text = json.dumps(secret)[1:-1]
    if slash:
        text = text.replace("/", "\\/")
    if dotnet:
        text = "".join(f"\\u{ord(c):04X}" if c in DOTNET_ESCAPED else c for c in text)
    return text


def forms(secret: str) -> set[str]:
    """The encodings a secret can reach a log or a message in: as is, JSON-escaped three ways,
    percent-encoded (strictly, and leaving RFC 3986's unreserved characters), and base64 /
    base64url (whole, and the characters that depend on it alone at each alignment inside a
    longer blob)."""
    out = {secret, json_escaped(secret), json_escaped(secret, slash=True), json_escaped(secret, dotnet=True),
           quote(secret, safe=""), quote(secret, safe="-_.~")}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for lead in range(3):
            encoded = encode(b"\0" * lead + raw).decode()
            whole = (lead + len(raw)) // 3 * 4
            out.add(encoded[4 if lead else 0:whole])
    return {f for f in out if f}


def record(secrets: Iterable[str]) -> None:
    path = os.environ.get("PASSMINT_SECRETS_FILE")
    if not path:
        return
    lines = "".join(f"{s}\n" for s in set(secrets) if s and "\n" not in s)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(lines)
