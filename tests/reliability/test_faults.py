"""The fault matrix (issue 8, harness/faults.py): 9 credential sources x 24 faults.

Cold: each case minted once in a fresh process. The rules every case must keep:
- an answer within the 10 s deadline (plus process start);
- a typed error, never PANIC or INTERNAL, and never a token from a broken answer;
- no retry storm: at most 10 requests per fetch;
- no secret in any message.

Warm: the same 216 cases, all at once, with a valid token cached when the fault starts and a
caller minting once a second through the refresh window and past the token's end:
- no caller gets an error while the cached token has more than 30 s left;
- no token is handed out with less than 30 s left;
- refreshes follow the backoff (requests stay bounded);
- a good answer in any accepted format replaces the cached token.

`make reliability` (PASSMINT_WRITE_RELIABILITY=1) also writes the table into RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness.bins import TOP
from harness.env import hermetic_env
from harness.faults import (
    FAULTS,
    SOURCES,
    WARM_LIFETIME,
    Outcome,
    WarmOutcome,
    run_case,
    run_warm,
)
from harness.faults_cli import CLI_FAULTS, CLI_SOURCES, CliOutcome, run_cli_case
from harness.mock import MockIdentityServer

WORKERS = 6
DEADLINE_S = 12.0
MAX_REQUESTS = 10
# Warm: from the fault on (~40 s before the cached token ends, then past it), refreshes back off
# from 1 s, doubling: about 7 attempts, each at most MAX_REQUESTS.
MAX_WARM_REQUESTS = 7 * MAX_REQUESTS
# Faults from which no usable token can come.
NEVER_A_TOKEN = {"transport", "status", "body"}
ALWAYS_A_TOKEN = {"expiry: 10 years ahead", "endpoint clock 10 min ahead", "endpoint clock 10 min behind"}
# aws-config's IMDS provider keeps serving credentials IMDS calls expired, extended by 5-10 min
# ("static stability", so EC2 workloads survive an IMDS outage); a token signed with them lives
# at most that long. Every other source's expired answer is refused.
EXPIRED_BUT_EXTENDED = {"AWS EC2 IMDSv2"}


@pytest.fixture(scope="module")
def matrix(ca, tmp_path_factory) -> list[Outcome]:
    cases = [(s, f) for s in SOURCES if s.cold for f in FAULTS]
    mocks = [MockIdentityServer(ca).start() for _ in range(WORKERS)]
    free = list(mocks)
    secrets: list[str] = []
    try:
        def run(index_case: tuple[int, tuple]) -> Outcome:
            index, (source, fault) = index_case
            mock = free.pop()
            try:
                tmp = tmp_path_factory.mktemp(f"case{index}")
                outcome = run_case(mock, lambda **kw: hermetic_env(tmp / "env", ca.ca_pem, **kw), tmp, source, fault)
                secrets.extend(mock.issued_secrets())
                return outcome
            finally:
                free.append(mock)

        with ThreadPoolExecutor(WORKERS) as pool:
            outcomes = list(pool.map(run, enumerate(cases)))
    finally:
        for m in mocks:
            m.stop()
    text = "\n".join(o.detail for o in outcomes)
    leaked = [s[-6:] for s in set(secrets) if len(s) >= 16 and s in text]
    assert not leaked, f"secrets in error messages (…{leaked})"
    if os.environ.get("PASSMINT_WRITE_RELIABILITY") == "1":
        write_report(outcomes)
    return outcomes


def test_every_case_answers_within_the_deadline(matrix):
    slow = [(o.source, o.fault, round(o.seconds, 1)) for o in matrix if o.seconds > DEADLINE_S]
    assert not slow, slow


def test_errors_are_typed_and_never_internal(matrix):
    bad = [(o.source, o.fault, o.kind, o.detail) for o in matrix if o.kind in ("PANIC", "INTERNAL")]
    assert not bad, bad


def test_no_token_from_a_broken_answer(matrix):
    wrong = [(o.source, o.fault) for o in matrix if o.group in NEVER_A_TOKEN and o.kind == "token"]
    assert not wrong, wrong
    expired = [(o.source, o.kind) for o in matrix if o.fault == "expiry: already expired" and o.kind == "token"
               and o.source not in EXPIRED_BUT_EXTENDED]
    assert not expired, expired


def test_good_answers_in_every_accepted_format_give_a_token(matrix):
    missing = [(o.source, o.fault, o.kind, o.detail) for o in matrix if o.fault in ALWAYS_A_TOKEN and o.kind != "token"]
    assert not missing, missing


def test_no_retry_storm(matrix):
    storms = [(o.source, o.fault, o.requests) for o in matrix if o.requests > MAX_REQUESTS]
    assert not storms, storms


def cell(o: Outcome) -> str:
    what = "token" if o.kind == "token" else o.kind
    return f"{what} · {o.seconds:.1f} s · {o.requests}"


def write_table(marker: str, header: str, sources: list[str], faults: list[str], cell_of, outcomes: list) -> None:
    """Replaces the table between RELIABILITY.md's `<!-- {marker}:begin/end -->` and keeps the raw
    outcomes in build/reliability/{marker}.json."""
    by = {(o.source, o.fault): o for o in outcomes}
    lines = ["| fault | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    for f in faults:
        lines.append(f"| {f} | " + " | ".join(cell_of(by[(s, f)]) for s in sources) + " |")
    path = TOP / "RELIABILITY.md"
    text = re.sub(rf"(<!-- {marker}:begin -->\n).*?(<!-- {marker}:end -->)",
                  lambda m: m.group(1) + header + "\n\n" + "\n".join(lines) + "\n" + m.group(2), path.read_text(),
                  flags=re.DOTALL)
    path.write_text(text)
    out = TOP / "build" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{marker}.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores"


def write_report(outcomes: list[Outcome]) -> None:
    header = (f"Produced by `make reliability` (`tests/reliability/test_faults.py`, {len(outcomes)} cases, each a cold mint in a fresh "
              f"process) on {machine()}. Cell: what the caller got · seconds until it got it · requests that reached "
              "the endpoint.")
    write_table("fault-matrix", header, [s.name for s in SOURCES if s.cold], [f.name for f in FAULTS], cell, outcomes)


@pytest.fixture(scope="module")
def warm(ca, tmp_path_factory) -> list[WarmOutcome]:
    tmp = tmp_path_factory.mktemp("warm")
    outcomes = run_warm(ca, lambda base, **kw: hermetic_env(base, ca.ca_pem, **kw), tmp)
    if os.environ.get("PASSMINT_WRITE_RELIABILITY") == "1":
        write_warm_report(outcomes)
    return outcomes


def test_warm_cases_start_with_a_token(warm):
    cold = [(o.source, o.fault, o.first) for o in warm if o.first != "token"]
    assert not cold, cold


def test_a_cached_token_is_served_through_every_fault(warm):
    failed = [(o.source, o.fault, o.early_errors[:2]) for o in warm if o.early_errors]
    assert not failed, failed
    # And callers did get tokens past the point the refresh fell due (it fails from then on).
    unserved = [(o.source, o.fault) for o in warm if o.served_s is None or o.served_s < 20]
    assert not unserved, unserved


def test_no_token_is_handed_out_in_its_last_30_s(warm):
    short = [(o.source, o.fault, o.short_tokens[:3]) for o in warm if o.short_tokens]
    assert not short, short


def test_warm_refreshes_follow_the_backoff(warm):
    storms = [(o.source, o.fault, o.requests) for o in warm if o.requests > MAX_WARM_REQUESTS]
    assert not storms, storms


def test_a_good_answer_replaces_the_cached_token(warm):
    kept = [(o.source, o.fault) for o in warm if o.fault in ALWAYS_A_TOKEN and not o.refreshed]
    assert not kept, kept
    wrong = [(o.source, o.fault) for o in warm if o.group in NEVER_A_TOKEN and o.refreshed]
    assert not wrong, wrong


def warm_cell(o: WarmOutcome) -> str:
    if o.first != "token":
        return o.first
    if o.refreshed:
        return f"refreshed · {o.requests}"
    served = "" if o.served_s is None else f"{o.served_s:.0f} s"
    return f"kept {served} → {o.after} · {o.requests}"


def write_warm_report(outcomes: list[WarmOutcome]) -> None:
    header = (f"Produced by `make reliability` (`tests/reliability/test_faults.py`, {len(outcomes)} cases at once, each a process "
              f"minting once a second) on {machine()}. Each case first holds a {WARM_LIFETIME} s token; the fault "
              "starts, the refresh falls due at half its life and fails. Cell: \"kept N s\": callers kept getting a "
              "valid token for N s after the refresh fell due (the cached one; for AWS, re-signed with the cached "
              "credentials), then got what follows the arrow; \"refreshed\": a good answer replaced it. Last: requests "
              "that reached the endpoint from the fault on.")
    write_table("warm-matrix", header, [s.name for s in SOURCES], [f.name for f in FAULTS], warm_cell, outcomes)




@pytest.fixture(scope="module")
def cli_matrix(ca, tmp_path_factory) -> list[CliOutcome]:
    cases = [(s, f) for s in CLI_SOURCES for f in CLI_FAULTS]

    def run(index_case: tuple[int, tuple]) -> CliOutcome:
        index, (source, fault) = index_case
        case = tmp_path_factory.mktemp(f"cli{index}")
        return run_cli_case(lambda base, **kw: hermetic_env(base, ca.ca_pem, **kw), case, source, fault)

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(run, enumerate(cases)))
    if os.environ.get("PASSMINT_WRITE_RELIABILITY") == "1":
        write_cli_report(outcomes)
    return outcomes


def test_programs_answer_within_the_deadline(cli_matrix):
    slow = [(o.source, o.fault, round(o.seconds, 1)) for o in cli_matrix if o.seconds > DEADLINE_S]
    assert not slow, slow


def test_program_errors_are_typed_and_never_quote_a_secret(cli_matrix):
    bad = [(o.source, o.fault, o.kind, o.detail) for o in cli_matrix if o.kind in ("PANIC", "INTERNAL")]
    assert not bad, bad
    leaked = [(o.source, o.fault) for o in cli_matrix if o.leaked]
    assert not leaked, leaked
    multiline = [(o.source, o.fault) for o in cli_matrix if "\n" in o.detail]
    assert not multiline, multiline


def test_no_token_from_a_broken_program(cli_matrix):
    wrong = [(o.source, o.fault) for o in cli_matrix if o.group in ("program", "output") and o.kind == "token"]
    assert not wrong, wrong
    expired = [(o.source, o.fault) for o in cli_matrix if o.fault in ("expiry: already expired", "expiry: nonsense")
               and o.kind == "token"]
    assert not expired, expired
    good = [(o.source, o.kind, o.detail) for o in cli_matrix if o.fault == "expiry: 10 years ahead" and o.kind != "token"]
    assert not good, good


def test_a_missing_program_says_what_to_install(cli_matrix):
    for o in cli_matrix:
        if o.fault == "not installed" and o.source != "AWS credential_process":
            assert o.kind == "CREDENTIAL_UNAVAILABLE", o
            assert "not on PATH" in o.detail and "Install" in o.detail, o.detail


def test_a_hung_cli_is_killed_with_the_fetch(cli_matrix):
    hung = [o for o in cli_matrix if o.left_running is not None]
    assert len(hung) == len(CLI_SOURCES)
    assert all(o.kind == "TIMEOUT" for o in hung), [(o.source, o.kind) for o in hung]
    # passmint runs az, azd and a profile's credential_process itself, each in its own process
    # group, killed whole at the deadline.
    left = [o.source for o in hung if o.left_running]
    assert not left, left


def cli_cell(o: CliOutcome) -> str:
    what = "token" if o.kind == "token" else o.kind
    extra = " · left running" if o.left_running else (" · killed" if o.left_running is False else "")
    return f"{what} · {o.seconds:.1f} s{extra}"


def write_cli_report(outcomes: list[CliOutcome]) -> None:
    header = (f"Produced by `make reliability` (`tests/reliability/test_faults.py`, {len(outcomes)} cases, each a cold mint in a "
              f"fresh process) on {machine()}. Cell: what the caller got · seconds until it got it · for a hung "
              "program, whether it was still running after the error.")
    write_table("cli-matrix", header, [s.name for s in CLI_SOURCES], [f.name for f in CLI_FAULTS], cli_cell, outcomes)
