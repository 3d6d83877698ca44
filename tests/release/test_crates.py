"""Release hygiene (issue 21): the crates a user gets from crates.io carry the README and both
license texts the workspace declares, and the metadata crates.io shows."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib

import pytest
from harness.bins import TOP

CRATES = {"passmint": "core", "passmint-postgres": "postgres", "passmint-ffi": "ffi", "passmint-cli": "cli"}


def packaged(crate: str) -> list[str]:
    r = subprocess.run(["cargo", "package", "-p", crate, "--list", "--offline", "--allow-dirty"], cwd=TOP,
                       capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_the_license_texts_are_the_ones_cargo_declares():
    workspace = tomllib.loads((TOP / "Cargo.toml").read_text())["workspace"]["package"]
    assert workspace["license"] == "MIT OR Apache-2.0"
    assert (TOP / "LICENSE-MIT").read_text().startswith("Copyright (c) ")
    assert "Permission is hereby granted, free of charge" in (TOP / "LICENSE-MIT").read_text()
    assert "Apache License\n" in (TOP / "LICENSE-APACHE").read_text()
    assert "Version 2.0, January 2004" in (TOP / "LICENSE-APACHE").read_text()
    for name in ("SECURITY.md", "CONTRIBUTING.md", "CHANGELOG.md"):
        assert (TOP / name).is_file(), name


@pytest.mark.parametrize("crate", sorted(CRATES))
def test_each_crate_packages_readme_licenses_and_metadata(crate):
    files = packaged(crate)
    for name in ("README.md", "LICENSE-MIT", "LICENSE-APACHE", "Cargo.toml"):
        assert name in files, f"{crate}: {name} not packaged"
    manifest = tomllib.loads((TOP / CRATES[crate] / "Cargo.toml").read_text())["package"]
    for key in ("description", "license", "repository", "readme", "keywords", "categories"):
        assert key in manifest, f"{crate}: no {key}"


def test_the_driver_crate_builds_on_the_cores_one_tls_stack():
    """passmint-postgres with every driver on (sqlx, tokio-postgres, deadpool, bb8, diesel-async)
    compiles one rustls, on aws-lc: no ring, no OpenSSL, no native-tls, no second root store.
    `cargo tree`, not Cargo.lock: a lockfile lists optional crates nothing builds (ring, through
    rustls-webpki's weak `ring?/alloc` feature)."""
    r = subprocess.run(["cargo", "tree", "-p", "passmint-postgres", "--all-features", "-e", "normal,build",
                        "--prefix", "none", "--offline", "--locked"], cwd=TOP, capture_output=True, text=True,
                       check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    built = {tuple(line.split()[:2]) for line in r.stdout.splitlines() if line.strip()}
    names = {name for name, _ in built}
    assert {"sqlx-core", "tokio-postgres", "deadpool", "bb8", "diesel-async", "aws-lc-rs"} <= names, names
    assert len({version for name, version in built if name == "rustls"}) == 1, sorted(built)
    assert not names & {"ring", "openssl", "openssl-sys", "native-tls", "webpki-roots"}, names


def test_make_uninstall_removes_every_file_make_install_put(tmp_path):
    prefix = tmp_path / "prefix"
    env = {**os.environ, "CARGO_NET_OFFLINE": "true"}
    for target in ("install", "uninstall"):
        r = subprocess.run(["make", "--no-print-directory", target, f"PREFIX={prefix}", "PROFILE=debug"], cwd=TOP,
                           env=env, capture_output=True, text=True, check=False, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        files = sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if not p.is_dir())
        if target == "install":
            assert {"include/passmint.h", "lib/libpassmint.a", "lib/libpassmint.so", "lib/pkgconfig/passmint.pc"} <= set(files)
    assert files == [], f"left behind: {files}"


def test_one_version_number_everywhere():
    """`version` in the top Cargo.toml is the crates', the wheel's (maturin reads it), the header's
    and the library's; package.json cannot read it, so it must say the same."""
    version = tomllib.loads((TOP / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    for crate in (*CRATES.values(), "bindings-python", "bindings-node"):
        assert tomllib.loads((TOP / crate / "Cargo.toml").read_text())["package"]["version"] == {"workspace": True}, crate
    assert tomllib.loads((TOP / "bindings-python" / "pyproject.toml").read_text())["project"]["dynamic"] == ["version"]
    assert json.loads((TOP / "bindings-node" / "package.json").read_text())["version"] == version
    header = (TOP / "include" / "passmint.h").read_text()
    assert f'#define PASSMINT_VERSION_STRING "{version}"' in header
