"""tests/vectors/driver_tls.json from Python: the core's driver TLS policy through the Python
binding's bridge (passmint._native.decide_tls), case for case as core/src/driver_tls.rs and
tests/node/vectors.test.mjs run them."""

from __future__ import annotations

import json
from pathlib import Path

import passmint
import passmint._native as native
import pytest

CASES = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "driver_tls.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['driver']}-{c['expect']}" for i, c in enumerate(CASES)])
def test_the_shared_vector(case):
    setting = case["setting"]

    def decide() -> bool:
        return native.decide_tls(
            driver=case["driver"], setting=setting["kind"], value=setting.get("value"), source=setting.get("from"),
            shown=setting.get("shown"), pgsslmode=case.get("pgsslmode"), sslrootcert=case.get("sslrootcert"),
            pgsslrootcert=case.get("pgsslrootcert"), provider=case["provider"], helper="the helper",
            allow_plaintext=case.get("allow_plaintext", False),
            allow_unverified_tls=case.get("allow_unverified_tls", False))

    if case["expect"] == "refuse":
        with pytest.raises(passmint.InvalidConfigError) as e:
            decide()
        for part in case.get("message_has", []):
            assert part in str(e.value), (part, str(e.value))
        for part in case.get("message_lacks", []):
            assert part not in str(e.value), (part, str(e.value))
    else:
        assert decide() is (case["expect"] == "add_verified")
