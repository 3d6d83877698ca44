"""AWS credential answers in every `Expiration` form botocore reads, from the container
endpoint, IMDS and a `credential_process`: the same bytes go to passmint, botocore and
@aws-sdk/credential-providers (harness/awsref), and the outcomes are held to
docs/CONFORMANCE.md. Also: a hung credential_process is killed with its whole process group at
the deadline, and the region comes from the AWS settings when the host does not name it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from harness import awsref, bins
from harness.conformance import documented, outcome, row_message
from harness.mock import OMIT

# DSQL tokens may live a week: the token's expiry is then the credentials'.
DSQL_WEEK = "dsql://abc.dsql.us-east-1.on.aws?user=app&expires_in=604800"
WEEK = 604_800


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def utc_as(epoch: int, hours: int) -> str:
    """``epoch`` as the wall time of a zone ``hours`` east of UTC."""
    return iso(epoch + hours * 3600)


# id -> Expiration for an instant T an hour away (None: no Expiration at all).
FORMS = {
    "z": lambda t: iso(t) + "Z",
    "plus-00-00": lambda t: iso(t) + "+00:00",
    "fraction-ms": lambda t: iso(t) + ".123Z",
    "fraction-ns": lambda t: iso(t) + ".123456789Z",
    "minus-05-00": lambda t: utc_as(t, -5) + "-05:00",
    "minus-0500": lambda t: utc_as(t, -5) + "-0500",
    "plus-0530": lambda t: iso(t + 19_800) + "+0530",
    "plus-05": lambda t: utc_as(t, 5) + "+05",
    "utc-suffix": lambda t: iso(t).replace("T", " ") + " UTC",
    "no-zone": lambda t: iso(t),
    "epoch-number": lambda t: t,
    "expired": lambda t: iso(t - 7200) + "Z",
    "absent": lambda t: None,
}
SOURCES = ("container", "imds", "process")


def env_for(source: str, mock, hermetic_env, tmp_path, expiration) -> dict[str, str]:
    # A zone five hours from UTC: a time read in the wrong zone is visibly off.
    if source == "container":
        return hermetic_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=mock.http_url + "/aws/container-credentials",
                            TZ="America/New_York")
    if source == "imds":
        return hermetic_env(AWS_EC2_METADATA_DISABLED="false", AWS_EC2_METADATA_SERVICE_ENDPOINT=mock.http_url + "/",
                            TZ="America/New_York")
    answer = {"Version": 1, "AccessKeyId": "ASIAPROCESSFORM", "SecretAccessKey": "formsecret/+=",
              "SessionToken": "form/session+token="}
    if expiration is not None:
        answer["Expiration"] = expiration
    printed = tmp_path / "answer.json"
    printed.write_text(json.dumps(answer))
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\ncredential_process = cat {printed}\n")
    return hermetic_env(AWS_CONFIG_FILE=str(config), TZ="America/New_York")


def judge(result: dict, t: int, form: str) -> str:
    """The row's outcome. Expired IMDS credentials are extended by every AWS SDK by a random
    few minutes ("static stability": IMDS may be down while the host still works)."""
    left = (result.get("expires_on") or 0) - time.time()
    if form == "expired" and "token" in result and 0 < left < 30 * 60:
        return "ok, extended < 30 min"
    return outcome(result, t)


def passmint(env: dict[str, str]) -> tuple[dict, str]:
    """passmint's result in the references' shape, and its stderr."""
    r = bins.cli(["token", "--json", DSQL_WEEK], env, timeout=40)
    if r.returncode != 0:
        return {"error": r.stderr}, r.stderr
    out = json.loads(r.stdout)
    credential = unquote(out["token"].split("X-Amz-Credential=", 1)[1].split("&", 1)[0])
    signed_at = time.time()
    # A token that lives its own week was signed with credentials that state no expiry.
    expires = None if out["expires_at"] > signed_at + WEEK - 60 else out["expires_at"]
    return {"token": credential.split("/", 1)[0], "expires_on": expires}, r.stderr


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("source", SOURCES)
def test_expiration_forms_conform(mock, hermetic_env, tmp_path, source, form):
    case = f"{source}-{form}"
    t = int(time.time()) + 3600
    expiration = FORMS[form](t)
    mock.set_expiration(None, OMIT if expiration is None else expiration)
    try:
        env = env_for(source, mock, hermetic_env, tmp_path, expiration)
        ours, stderr = passmint(env)
        py, js = awsref.run(source, env), awsref.run(source, env, js=True)
    finally:
        mock.clear_expiration(None)
    got = tuple(judge(result, t, form) for result in (py, js, ours))
    if got[0] == "ok":
        assert got[2] == "ok", (case, got, stderr)
    if "token" not in py and "token" not in js:
        assert "token" not in ours and "(PROVIDER_RESPONSE)" in stderr, stderr
    for secret in [*mock.issued_secrets(), "formsecret/+=", "form/session+token="]:
        assert secret not in stderr
    assert documented().get(case) == got, row_message(case, got)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_hung_credential_process_is_killed_with_its_children(hermetic_env, tmp_path):
    pids = tmp_path / "pids"
    script = tmp_path / "hang.sh"
    # The process starts a child of its own and both wait for ever.
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        sleep 1000 &
        echo $$ $! > {pids}
        wait
        """))
    script.chmod(0o755)
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\ncredential_process = {script}\n")
    env = hermetic_env(AWS_CONFIG_FILE=str(config))
    started = time.monotonic()
    r = bins.cli(["token", "--json", DSQL_WEEK], env, timeout=40)
    elapsed = time.monotonic() - started
    assert r.returncode != 0 and "(TIMEOUT)" in r.stderr, r.stderr
    assert elapsed < 13, elapsed
    time.sleep(0.5)  # a kill takes effect at once; give a slow reap a moment
    left = [pid for pid in map(int, pids.read_text().split()) if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after the deadline: {left}"


def test_a_failing_credential_process_shows_its_stderr_scrubbed(hermetic_env, tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.stderr.write('token expired for AKIA key s3cr3t-in-env\\n')\nsys.exit(2)\n")
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\ncredential_process = {sys.executable} {script} --password hunter2\n")
    env = hermetic_env(AWS_CONFIG_FILE=str(config), AWS_SESSION_TOKEN="s3cr3t-in-env")
    env.pop("AWS_ACCESS_KEY_ID", None)
    r = bins.cli(["token", "--json", DSQL_WEEK], env)
    assert r.returncode != 0 and "(AUTHENTICATION_FAILED)" in r.stderr, r.stderr
    assert "token expired for AKIA key" in r.stderr
    assert "s3cr3t-in-env" not in r.stderr and "hunter2" not in r.stderr, r.stderr


# --- region ----------------------------------------------------------------------------------


def region_of(token: str) -> str:
    return unquote(token.split("X-Amz-Credential=", 1)[1].split("&", 1)[0]).split("/")[2]


def token_or_error(url: str, env: dict[str, str]) -> dict:
    r = bins.cli(["token", "--json", url], env)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}


STATIC = {"AWS_ACCESS_KEY_ID": "AKIAREGIONTEST", "AWS_SECRET_ACCESS_KEY": "regionsecret"}


@pytest.mark.parametrize(("settings", "profile_region", "want"), [
    ({"AWS_REGION": "eu-west-1"}, None, "eu-west-1"),
    ({"AWS_DEFAULT_REGION": "ap-south-1"}, None, "ap-south-1"),
    ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, None, "eu-west-1"),
    ({}, "ca-central-1", "ca-central-1"),
    ({"AWS_PROFILE": "other"}, "ca-central-1", "sa-east-1"),
    ({"AWS_REGION": "eu-west-1"}, "ca-central-1", "eu-west-1"),
])
def test_region_from_the_aws_settings_as_boto3_reads_them(hermetic_env, tmp_path, settings, profile_region, want):
    config = tmp_path / "aws-config"
    default = f"[default]\nregion = {profile_region}\n" if profile_region else ""
    config.write_text(default + "[profile other]\nregion = sa-east-1\n")
    env = hermetic_env(AWS_CONFIG_FILE=str(config), **STATIC, **settings)
    for url in ("rds://db.example.com:5432?user=app", "dsql://abc.example.com"):
        out = token_or_error(url, env)
        assert "token" in out, (url, out)
        assert region_of(out["token"]) == want, url
    # boto3 reads the same settings to the same region, except AWS_REGION: botocore reads only
    # AWS_DEFAULT_REGION, where the JS, Rust and Go SDKs read AWS_REGION first.
    if "AWS_REGION" in settings:
        return
    import boto3
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        assert boto3.session.Session().region_name == want
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_the_profile_parameter_picks_the_profile_region(hermetic_env, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = ca-central-1\n[profile other]\nregion = sa-east-1\n")
    env = hermetic_env(AWS_CONFIG_FILE=str(config), **STATIC)
    out = token_or_error("rds://db.example.com:5432?user=app&profile=other", env)
    # Static keys in the environment sign; the profile still names the region.
    assert region_of(out["token"]) == "sa-east-1", out


def test_the_host_and_the_url_win_over_the_environment(hermetic_env):
    env = hermetic_env(AWS_REGION="eu-west-1", **STATIC)
    out = token_or_error("rds://db.abc.us-west-2.rds.amazonaws.com:5432?user=app", env)
    assert region_of(out["token"]) == "us-west-2"
    out = token_or_error("dsql://abc.example.com?region=ap-northeast-1", env)
    assert region_of(out["token"]) == "ap-northeast-1"


def test_a_contradiction_names_both_regions(hermetic_env):
    env = hermetic_env(**STATIC)
    for url in ("rds://db.abc.us-west-2.rds.amazonaws.com?user=app&region=eu-west-1",
                "dsql://abc.dsql.us-west-2.on.aws?region=eu-west-1"):
        out = token_or_error(url, env)
        assert "(INVALID_CONFIG)" in out["error"], out
        assert "us-west-2" in out["error"] and "eu-west-1" in out["error"], out


@pytest.mark.parametrize(("settings", "named"), [
    ({}, "never guesses us-east-1"),
    ({"AWS_REGION": "Mars_1"}, "AWS_REGION"),
    ({"AWS_DEFAULT_REGION": "x"}, "AWS_DEFAULT_REGION"),
])
def test_no_region_or_a_bad_one_is_a_config_error(hermetic_env, settings, named):
    out = token_or_error("rds://db.example.com:5432?user=app", hermetic_env(**STATIC, **settings))
    assert "(INVALID_CONFIG)" in out["error"] and named in out["error"], out
