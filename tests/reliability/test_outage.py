"""Outage drill (issue 8). The identity endpoint goes down for longer than a token's refresh
window, while 100 callers keep connecting to PostgreSQL. They connect through the cloud-style
token check (harness/cloudauth.py), so every login's token is verified as Azure (or Cloud SQL,
for the Google run) would.

Timeline, for a 120 s App Service token (refresh window 60 s; never handed out under 30 s left):

    t=0     token A issued; 100 asyncpg callers start connecting, each every ~3 s
    t=50    the endpoint starts answering 503
    t=60    refresh due: it fails, and retries back off (1 s doubling to 30 s, jittered)
    t=90    A has 30 s left: from here on, callers may fail
    t=115   the endpoint recovers; the next retry (at most 30 s later) fetches token B, and
            callers connect again (the drill runs to t=155)

What must hold:
- no caller fails before t=90, minus 2 s of slack;
- the identity requests during the outage stay at the backoff rate (at most 12);
- the first request after recovery refreshes the token;
- callers then connect again with the new token.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time

import asyncpg
import passmint
import pytest
from harness import gcp
from harness.appservice import managed_identity_role
from harness.cloudauth import CloudAuthFront
from harness.native import route_requests

LIFETIME, OUTAGE_START, OUTAGE_END, CALLERS, PERIOD = 120, 50, 115, 100, 3.0


def google_service_account(mock, pg, ca, monkeypatch, tmp_path) -> tuple[str, passmint.Provider, ssl.SSLContext]:
    """A service account key whose tokens live LIFETIME s, and its IAM database user."""
    key = gcp.service_account(mock, "outage-app")
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    role = gcp.db_user(key["client_email"])
    pg.create_login_role(role)
    mock.set_credential_lifetime("gcp-token", LIFETIME)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return role, passmint.gcp(), ssl.create_default_context(cafile=str(ca.ca_pem))


@pytest.mark.parametrize("route", ["azure-appservice", "gcp-token"])
def test_outage_longer_than_the_refresh_window(mock, pg, ca, monkeypatch, tmp_path, route):
    if route == "gcp-token":
        role, provider, tls = google_service_account(mock, pg, ca, monkeypatch, tmp_path)
    else:
        role = "outage_app"
        provider, tls = managed_identity_role(mock, pg, ca, monkeypatch, role, LIFETIME)
    issued_before = len([i for i in mock.issued() if i["route"] == route])  # the mock is shared
    attempts: list[tuple[float, bool, str]] = []

    with CloudAuthFront(pg, ca, mock.issued, mock.issued_secrets) as front:
        async def drill() -> None:
            start = time.monotonic()
            first = await provider.token_async()
            stop = start + OUTAGE_END + 40  # the retry backoff is capped at 30 s (jittered)

            async def caller() -> None:
                await asyncio.sleep(random.uniform(0, PERIOD))
                while time.monotonic() < stop:
                    t = time.monotonic() - start
                    try:
                        conn = await asyncpg.connect(host="localhost", port=front.port, user=role, database="postgres",
                                                     password=provider.token_async, ssl=tls, timeout=15)
                        try:
                            assert await conn.fetchval("select current_user") == role
                        finally:
                            await conn.close()
                        attempts.append((t, True, ""))
                    except Exception as e:  # noqa: BLE001 - every failure is recorded and judged below
                        attempts.append((t, False, f"{type(e).__name__}: {e}"))
                    await asyncio.sleep(random.uniform(0.5 * PERIOD, 1.5 * PERIOD))

            async def outage() -> None:
                await asyncio.sleep(max(0.0, start + OUTAGE_START - time.monotonic()))
                mock.fault(route, status=503)
                await asyncio.sleep(max(0.0, start + OUTAGE_END - time.monotonic()))
                mock.clear_fault(route)

            await asyncio.gather(outage(), *(caller() for _ in range(CALLERS)))
            attempts.append((-1.0, True, first))  # remember the first token (not a login)

        asyncio.run(drill())

    first_token = next(msg for t, _, msg in attempts if t == -1.0)
    logins = [(t, ok, msg) for t, ok, msg in attempts if t >= 0]
    requests = route_requests(mock, route)
    t0 = requests[0]["time"]
    during = [r for r in requests if OUTAGE_START <= r["time"] - t0 < OUTAGE_END]
    after = [r for r in requests if r["time"] - t0 >= OUTAGE_END]

    early_failures = [(round(t, 1), msg) for t, ok, msg in logins if not ok and t < LIFETIME - 30 - 2]
    assert not early_failures, early_failures[:5]
    assert len(logins) > CALLERS * (OUTAGE_END / PERIOD) * 0.5, f"only {len(logins)} logins were attempted"
    assert 3 <= len(during) <= 12, [round(r["time"] - t0, 1) for r in during]
    assert after and not after[0]["faulted"], ("the first request after recovery must be answered",
                                               [(round(r["time"] - t0, 1), r["faulted"]) for r in requests])
    assert len(after) == 1, [round(r["time"] - t0, 1) for r in after]
    recovered = [(t, ok) for t, ok, _ in logins if t >= (after[0]["time"] - t0) + 1]
    assert recovered and all(ok for _, ok in recovered), recovered[:5]
    issued = [i for i in mock.issued() if i["route"] == route][issued_before:]
    assert len(issued) == 2 and issued[0]["access_token"] == first_token
    print(f"\noutage drill: {len(logins)} logins, {sum(not ok for _, ok, _ in logins)} failed "
          f"(first failure at t={min((t for t, ok, _ in logins if not ok), default=None)}); "
          f"identity requests during the outage at t={[round(r['time'] - t0, 1) for r in during]}; "
          f"recovered at t={round(after[0]['time'] - t0, 1)}")
