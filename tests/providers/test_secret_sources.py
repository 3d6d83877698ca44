"""`file://` and `exec:` end to end: a password an agent writes, or a command prints, logs into the
harness PostgreSQL over verified TLS through the psycopg helper; a rotation is seen by the next
connection while open sessions continue; a refused password is dropped once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from harness import bins, hygiene

LOGIN = """
import os, sys, passmint, passmint.psycopg
Connection = passmint.psycopg.connection_class(passmint.Provider(sys.argv[1]))
with Connection.connect(os.environ["CONNINFO"]) as conn:
    print(conn.execute("select current_user").fetchone()[0])
"""


def secret() -> str:
    value = f"pw-{uuid.uuid4().hex}"
    hygiene.record([value])
    return value


def replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def conninfo(pg) -> str:
    return f"host=localhost port={pg.port} dbname=postgres sslrootcert={pg.ca_pem}"


def login(url: str, pg, hermetic_env) -> subprocess.CompletedProcess:
    env = hermetic_env(CONNINFO=conninfo(pg))
    return subprocess.run([sys.executable, "-c", LOGIN, url], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_json_file_logs_in_as_the_user_it_names(pg, pg_role, tmp_path, hermetic_env):
    pw = secret()
    pg.set_password(pg_role, pw)
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"username": pg_role, "password": pw, "host": "ignored"}))
    r = login(f"file://{path}", pg, hermetic_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == pg_role


def test_a_rotated_file_is_used_by_the_next_connection_while_open_sessions_continue(pg, pg_role, tmp_path):
    import passmint
    import passmint.psycopg

    old, new = secret(), secret()
    pg.set_password(pg_role, old)
    path = tmp_path / "password"
    path.write_text(old + "\n")
    provider = passmint.Provider(f"file://{path}?user={pg_role}")
    Connection = passmint.psycopg.connection_class(provider)
    with Connection.connect(conninfo(pg)) as first:
        # The agent rotates: the server first, then the file.
        pg.set_password(pg_role, new)
        replace(path, new + "\n")
        with Connection.connect(conninfo(pg)) as second:
            assert second.execute("select current_user").fetchone()[0] == pg_role
        assert first.execute("select 1").fetchone()[0] == 1
    assert provider.token() == new


def test_a_password_refused_before_the_file_changed_is_retried_once(pg, pg_role, tmp_path):
    import passmint

    old, new = secret(), secret()
    path = tmp_path / "password"
    path.write_text(old)
    provider = passmint.Provider(f"file://{path}?user={pg_role}")
    assert provider.token() == old
    assert provider.password_refused(old) is True
    assert provider.password_refused(old) is True
    assert provider.status()["cached"] is False
    path.write_text(new)
    assert provider.token() == new
    provider.invalidate()
    assert provider.status()["cached"] is False
    # An IAM provider is never told to retry.
    assert passmint.Provider("rds://db.abc.us-east-1.rds.amazonaws.com?user=app").password_refused("x") is False


def test_a_missing_file_is_a_typed_error_naming_the_path(tmp_path):
    import passmint

    path = tmp_path / "absent"
    with pytest.raises(passmint.CredentialUnavailableError) as e:
        passmint.Provider(f"file://{path}").token()
    assert str(path) in str(e.value)


def exec_url(cmd: str, **params: str) -> str:
    extra = "".join(f"&{k}={quote(v, safe='')}" for k, v in params.items())
    return f"exec:?cmd={quote(cmd, safe='')}{extra}"


def test_a_token_command_logs_in_and_its_cli_answer_is_the_same(pg, pg_role, tmp_path, hermetic_env):
    pw = secret()
    pg.set_password(pg_role, pw)
    script = tmp_path / "get-token"
    script.write_text(f"#!/bin/sh\nprintf '{{\"token\": \"{pw}\", \"username\": \"{pg_role}\", \"expires_in\": 900}}'\n")
    script.chmod(0o755)
    url = exec_url(str(script))
    r = login(url, pg, hermetic_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == pg_role
    r = bins.cli(["token", "--json", "--no-cache", url], hermetic_env())
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["token"], out["username"], out["provider"]) == (pw, pg_role, "exec")


@pytest.mark.parametrize(("cmd", "code", "says"), [
    ("sh -c 'echo \"$1\" >&2; exit 2' x not-for-you-4411", "AUTHENTICATION_FAILED", "failed"),
    ("true", "PROVIDER_RESPONSE", "printed nothing"),
    ("""echo '{"username": "app"}'""", "PROVIDER_RESPONSE", "no password"),
    ("head -c 10485760 /dev/zero", "PROVIDER_RESPONSE", "1 MiB"),
])
def test_a_failing_command_is_a_typed_error_without_secrets(cmd, code, says, hermetic_env):
    r = bins.cli(["token", "--no-cache", exec_url(cmd)], hermetic_env())
    assert r.returncode != 0
    assert code in r.stderr and says in r.stderr, r.stderr
    assert "not-for-you-4411" not in r.stderr


def test_a_hung_command_is_killed_at_the_deadline(tmp_path, hermetic_env):
    pid_file = tmp_path / "pid"
    r = bins.cli(["token", "--no-cache", exec_url(f"sleep 1000 & echo $! > {pid_file}; wait", shell="true")],
                 hermetic_env())
    assert "TIMEOUT" in r.stderr, r.stderr
    pid = pid_file.read_text().strip()
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", "the command's child lived on"
