"""A throwaway certificate authority for the HTTPS mock and PostgreSQL.

Made with the ``openssl`` CLI rather than a Python package so the harness needs
nothing beyond the stdlib, and so the certificates look like ones an operator
would make (rustls/webpki are picky: v3, CA basic constraints, key ids).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_FILES = ("ca.pem", "ca.key", "server.pem", "server.key")

# webpki rejects end-entity certificates without these, and libpq's
# verify-full needs the SAN (it ignores the CN when a SAN is present).
_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1{extra}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class CA:
    dir: Path
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _generate(work: Path, names: tuple[str, ...] = ()) -> None:
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "3650", "-subj", "/CN=passmint test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=work,
    )
    _openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
        cwd=work,
    )
    (work / "server.ext").write_text(_SERVER_EXT.format(extra="".join(f", DNS:{n}" for n in names)))
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
        "-days", "825", "-extfile", "server.ext", "-out", "server.pem",
        cwd=work,
    )


def make_ca(directory: str | os.PathLike[str], names: tuple[str, ...] = ()) -> CA:
    """Create (once) a CA and a localhost server certificate in ``directory``; ``names`` are
    more host names the certificate is for (the README's cloud hosts, mapped to loopback).

    Idempotent and safe against concurrent callers (pytest-xdist workers, a
    Node suite starting the mock at the same time): a lock serialises creation
    and files are renamed into place only when the whole set exists.
    """
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((d / name).is_file() for name in _FILES):
            with tempfile.TemporaryDirectory(dir=d, prefix=".gen-") as tmp:
                work = Path(tmp)
                _generate(work, names)
                for name in _FILES:
                    os.chmod(work / name, 0o600 if name.endswith(".key") else 0o644)
                # Server key last: its presence marks a complete set.
                for name in sorted(_FILES, key=lambda n: n == "server.key"):
                    os.replace(work / name, d / name)
    return CA(dir=d, ca_pem=d / "ca.pem", cert_pem=d / "server.pem", key_pem=d / "server.key")
