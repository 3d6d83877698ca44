"""Secret hygiene, both halves.

The record: every secret the harness hands out (mock credentials, tokens, client secrets,
federated assertions, identity headers, fake `az` tokens) is appended to $PASSMINT_SECRETS_FILE
when set. `tests/all` sets it.

The scan (`python -m harness.hygiene`, run by `tests/all` after the last suite): every suite's
log (build/logs/*.log) is searched for those secrets in every form `forms` knows (raw,
JSON-escaped the Python, PHP and .NET ways, percent-encoded, base64 at any alignment), and as
24-character slices past the first 48 characters (a JWT's header is shared by every token), so
a cut-off secret is found too. It prints one summary line and fails on any hit."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
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


MIN_LEN = 16


def needles(secret: str) -> set[str]:
    return {f for f in forms(secret) if len(f) >= MIN_LEN}


def main() -> int:
    """Scans build/logs/*.log for every recorded secret; one summary line, exit 1 on a hit."""
    top = Path(os.environ.get("PASSMINT_TOP", Path(__file__).resolve().parents[2]))
    os.chdir(top)
    secrets_file = Path(os.environ.get("PASSMINT_SECRETS_FILE", "build/logs/secrets.txt"))
    secrets = {s for s in secrets_file.read_text().splitlines() if len(s) >= MIN_LEN} if secrets_file.exists() else set()
    logs = [p for p in sorted(Path("build/logs").glob("*.log"))]
    if not secrets:
        print("hygiene: no secrets were recorded; nothing to scan (is PASSMINT_SECRETS_FILE passed through?)")
        return 1
    hits = []
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in secrets:
            # Slices skip the first 48 characters: a JWT's header is the same in every token.
            if any(n in text for n in needles(secret)) or any(
                    secret[i:i + 24] in text for i in range(48, len(secret) - 24, 24)):
                hits.append((log.name, secret[-6:]))
    print(f"hygiene: {len(secrets)} issued secrets scanned in {len(logs)} suite logs "
          f"({sum(p.stat().st_size for p in logs) // 1024} KiB): {len(hits)} hits")
    for name, tail in hits[:20]:
        print(f"hygiene: a secret ending …{tail} is in {name}")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
