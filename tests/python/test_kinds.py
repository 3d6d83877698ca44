"""One table of error kinds and one list of provider kinds, both the core's (core/src/error.rs,
core/src/kind.rs); every other list is held to them here. The C enum is checked at compile time
(ffi/src/status.rs); the Python, TypeScript and Go lists are written by hand for their
languages' sake (a class per kind, a union type, Go constants), so this test fails when one of
them differs from the core's, in content or order."""

from __future__ import annotations

import re
from pathlib import Path

import passmint._native as native
from passmint import errors

TOP = Path(__file__).resolve().parents[2]


def test_the_core_lists_are_the_contract():
    assert native.ERROR_KINDS == ["INVALID_ARGUMENT", "INVALID_CONFIG", "CREDENTIAL_UNAVAILABLE",
                                  "AUTHENTICATION_FAILED", "TIMEOUT", "NETWORK", "PROVIDER_RESPONSE", "PANIC",
                                  "INTERNAL"]
    assert native.PROVIDER_KINDS == ["azure", "dsql", "rds", "gcp", "vault", "awssm", "file", "exec", "callback"]


def test_python_has_a_class_per_kind():
    assert list(errors._BY_CODE) == native.ERROR_KINDS
    for code, cls in errors._BY_CODE.items():
        assert issubclass(cls, errors.Error), code


def test_typescript_lists_follow_the_core():
    src = (TOP / "bindings-node" / "lib" / "errors.ts").read_text()
    union = re.search(r"export type ErrorCode =(.*?)\n\n", src, re.DOTALL)
    assert union, "no ErrorCode union in lib/errors.ts"
    assert re.findall(r"'PASSMINT_([A-Z_]+)'", union.group(1)) == native.ERROR_KINDS
    token = (TOP / "bindings-node" / "lib" / "token.ts").read_text()
    kinds = re.search(r"export type ProviderKind = (.*)", token)
    assert kinds and re.findall(r"'([a-z]+)'", kinds.group(1)) == native.PROVIDER_KINDS


def test_go_constants_follow_the_core():
    src = (TOP / "go" / "passmint.go").read_text()
    codes = re.findall(r"Status = C\.PASSMINT_([A-Z_]+)", src)
    assert codes == ["OK", *native.ERROR_KINDS]


def test_the_c_header_follows_the_core():
    src = (TOP / "include" / "passmint.h").read_text()
    values = {name: int(v) for name, v in re.findall(r"\bPASSMINT_([A-Z_]+) = (\d+),", src)}
    assert values == {"OK": 0, **{code: i + 1 for i, code in enumerate(native.ERROR_KINDS)}}
