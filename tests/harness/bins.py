"""Paths of the Rust binaries the Python suites drive (built by `make build`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

TOP = Path(os.environ.get("PASSMINT_TOP", Path(__file__).resolve().parents[2]))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", TOP / "target")) / "debug"
PASSMINT = TARGET / "passmint"
SIGN = TARGET / "examples" / "sign"
MINT = TARGET / "examples" / "mint"


def _need(path: Path) -> str:
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make build` first")
    return str(path)


def cli(args: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([_need(PASSMINT), *args], check=False, env=env, capture_output=True, text=True, timeout=timeout)


def sign(cases: list[dict]) -> list[str]:
    """Offline SigV4 tokens from passmint for frozen times (examples/sign.rs)."""
    data = "".join(json.dumps(c) + "\n" for c in cases)
    out = subprocess.run([_need(SIGN)], input=data, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()


def mint(url: str, env: dict[str, str], count: int = 1, pause_ms: int = 0, timeout: float = 60,
         threads: int | None = None) -> list[dict]:
    """Mint ``count`` tokens from one provider in one process (examples/mint.rs).

    threads=N: N threads sharing the provider each mint ``count`` tokens, all
    starting at the same moment (N * count lines, in completion order).
    """
    args = [_need(MINT), url, str(count), str(pause_ms)]
    if threads is not None:
        args.append(str(threads))
    out = subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    if not lines:
        raise RuntimeError(f"mint printed nothing (exit {out.returncode}): {out.stderr}")
    return lines
