"""The installed libpassmint the C, libpq and Go suites link against, and the tools they need.

`make test` installs it with `make install PREFIX=build/install PROFILE=debug`;
PASSMINT_INSTALL_DIR points the suites at another prefix.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .bins import TOP

INSTALL = Path(os.environ.get("PASSMINT_INSTALL_DIR") or TOP / "build" / "install").resolve()
LIBDIR = INSTALL / "lib"
PKG_CONFIG_PATH = LIBDIR / "pkgconfig"


def crate_version() -> str:
    """The workspace version in Cargo.toml (the library's and the .pc file's)."""
    text = (TOP / "Cargo.toml").read_text()
    match = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', text, re.MULTILINE | re.DOTALL)
    assert match, "no [workspace.package] version in Cargo.toml"
    return match.group(1)


def need_install() -> None:
    """Fail (not skip) when the library is not installed: the suites exist to test it."""
    wanted = (LIBDIR / "libpassmint.so.0", LIBDIR / "libpassmint.a", INSTALL / "include" / "passmint.h",
              PKG_CONFIG_PATH / "passmint.pc")
    missing = [str(p) for p in wanted if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make install PREFIX=build/install PROFILE=debug` "
                    "(make test does)")


def tool(name: str) -> str:
    """Path of a program on PATH; fails (not skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not installed: run `make deps`")
    return path


# Go's own variables pass through (tests/run forwards them); everything else is pinned offline:
# the modules come from the cache `make deps` filled, and go.mod/go.sum must suffice as committed.
GO_PASSTHROUGH = ("GOPATH", "GOMODCACHE", "GOCACHE", "GOROOT", "HOME", "CC")


def go_env(**extra: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in GO_PASSTHROUGH if os.environ.get(k)}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), CGO_ENABLED="1", GOPROXY="off", GOSUMDB="off",
               GOTOOLCHAIN="local", GOFLAGS="-mod=readonly -buildvcs=false", PKG_CONFIG_PATH=str(PKG_CONFIG_PATH),
               **extra)
    return env


def pkg_config(*args: str, package: str = "passmint") -> list[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PKG_CONFIG_PATH": str(PKG_CONFIG_PATH)}
    r = subprocess.run([tool("pkg-config"), *args, package], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    return shlex.split(r.stdout)


def route_requests(mock, route: str) -> list[dict]:
    return [r for r in mock.requests() if r["route"] == route]


#: The C sources the C ABI suite and the libpassmint soak build (tests/c/).
SRC = TOP / "tests" / "c"
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1", "-pthread"]


def compile_c(source: Path, out: Path, *flags: str, libs: list[str]) -> Path:
    """Builds a C program against the installed libpassmint (its pkg-config flags)."""
    cmd = [tool("cc"), *flags, str(source), *pkg_config("--cflags"), *libs, "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, f"{shlex.join(cmd)}\n{r.stderr}"
    return out


def shared_libs() -> list[str]:
    """Linking the shared library; the rpath lets the program run without LD_LIBRARY_PATH, as an
    installed program would."""
    return [*pkg_config("--libs"), f"-Wl,-rpath,{LIBDIR}"]
