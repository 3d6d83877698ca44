"""A real HTTP proxy (proxy.py, from PyPI) for the proxy tests, on loopback, with the
counting plugin in harness/proxy_plugin.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

HARNESS_PARENT = Path(__file__).resolve().parent.parent


class ProxyServer:
    """``with ProxyServer(tmp) as p``: ``p.url`` to put in HTTPS_PROXY, ``p.seen()`` the
    requests it forwarded so far (``["CONNECT login.passmint.test:443", ...]``)."""

    def __init__(self, directory: Path):
        self.log = Path(directory) / "proxy-requests.log"
        self.log.write_text("")
        self.url = ""
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "PASSMINT_PROXY_LOG": str(self.log),
               "PYTHONPATH": str(HARNESS_PARENT)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port),
             "--num-acceptors", "1", "--threaded", "--log-level", "WARNING",
             "--plugins", "harness.proxy_plugin.CountingResolver"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"proxy.py exited: {self._proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("proxy.py did not start listening within 20 s")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def seen(self) -> list[str]:
        return self.log.read_text().splitlines()

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
