"""docs/CONFORMANCE.md as data: the outcome names its tables use, and its rows, so the answer
shape tests (tests/providers/test_azure_hosts.py, test_aws_answers.py) hold it true."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONFORMANCE.md"


def outcome(result: dict[str, Any], exp: int) -> str:
    """'ok' (the expected expiry, ± 5 s), 'ok, expiry off by N min', 'ok, no expiry' or
    'refused', for a result {token, expires_on} or {error}."""
    if "token" not in result:
        return "refused"
    if result.get("expires_on") is None:
        return "ok, no expiry"
    off = result["expires_on"] - exp
    return "ok" if abs(off) <= 5 else f"ok, expiry off by {round(off / 60)} min"


def documented() -> dict[str, tuple[str, str, str]]:
    """The rows: id -> (the Python reference, the JS reference, passmint)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and re.fullmatch(r"`[A-Za-z0-9_.+-]+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[-3], cells[-2], cells[-1])
    return rows


def row_message(case: str, got: tuple[str, str, str]) -> str:
    return f"docs/CONFORMANCE.md row for `{case}` should end | {' | '.join(got)} |"
