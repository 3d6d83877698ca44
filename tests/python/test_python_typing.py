"""Types (issue 5): examples/python passes `mypy --strict` against the installed passmint (its
py.typed package and stubs), and so do the driver helpers themselves, checked from source."""

from __future__ import annotations

import subprocess
import sys

from harness.bins import TOP

HELPERS = [f"bindings-python/python/passmint/{m}.py" for m in ("_helpers", "psycopg", "psycopg2", "asyncpg",
                                                               "sqlalchemy", "django/__init__", "django/base",
                                                               "django/client")]


def mypy(tmp_path, *targets: str) -> subprocess.CompletedProcess:
    # The cache goes to tmp: nothing is written into the work tree.
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"),
                           "--no-error-summary", *targets], cwd=TOP, capture_output=True, text=True,
                          timeout=600, check=False)


def test_examples_pass_mypy_strict(tmp_path):
    r = mypy(tmp_path, "examples/python")
    assert r.returncode == 0, r.stdout + r.stderr


def test_driver_helpers_pass_mypy_strict(tmp_path):
    r = mypy(tmp_path, *HELPERS)
    assert r.returncode == 0, r.stdout + r.stderr
