"""Scans every suite's log (build/logs/*.log) for the secrets the harness handed out during the
run ($PASSMINT_SECRETS_FILE, written by harness/hygiene.py): in every form harness.hygiene.forms
knows (raw, JSON-escaped the Python, PHP and .NET ways, percent-encoded, base64 at any
alignment), and as 24-character slices past the first 48 characters (a JWT's header is shared by
every token), so a cut-off secret is found too. Prints one summary line and fails on any hit.
Run by tests/all after the last suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.hygiene import forms

MIN_LEN = 16


def needles(secret: str) -> set[str]:
    return {f for f in forms(secret) if len(f) >= MIN_LEN}


def main() -> int:
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
