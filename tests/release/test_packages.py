"""The release artifacts (issue 21), installed as a user installs them, where no Rust and no C
compiler can help: the wheel into a fresh venv, the npm tarballs into an empty project, the C
tarball unpacked anywhere. Each then logs into the harness PostgreSQL over verified TLS.

`make dist PROFILE=debug` builds them here as `make dist` does for a release (the same zig link
against glibc 2.17's symbols), only without optimisation. Everything installs offline: the
wheelhouse `make deps` downloaded (psycopg), the drivers of tests/node_modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from harness.bins import TOP
from harness.native import route_requests, tool

MANAGED = "azure://?credential=managed"
APPSERVICE = "azure-appservice"
VERSION = re.search(r'^version = "(.+)"', (TOP / "Cargo.toml").read_text(), re.MULTILINE).group(1)
TRIPLE = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout.split("host: ")[1].split()[0]
OLDEST_GLIBC = (2, 17)
LICENSES = {"LICENSE-MIT", "LICENSE-APACHE"}


def make(target: str, dist: Path) -> None:
    r = subprocess.run(["make", "--no-print-directory", target, "PROFILE=debug", f"DIST={dist}"], cwd=TOP,
                       capture_output=True, text=True, check=False, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for target in ("dist-python", "dist-c", "dist-node"):
        make(target, out)
    return out


def only(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def glibc_needed(binary: Path) -> tuple[int, int]:
    """The highest GLIBC_x.y symbol version a binary needs."""
    out = subprocess.run([tool("readelf"), "--dyn-syms", "--wide", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    versions = {tuple(int(n) for n in v.split(".")[:2]) for v in re.findall(r"@GLIBC_([0-9.]+)", out)}
    assert versions, out[:2000]
    return max(versions)


def bare_path(tmp_path: Path, *tools: str) -> str:
    """A PATH with only the named programs: no cc, no cargo, no rustc."""
    bin_dir = tmp_path / "bare-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in tools:
        (bin_dir / name).symlink_to(shutil.which(name) or pytest.fail(f"{name} not found"))
    path = str(bin_dir)
    for absent in ("cc", "gcc", "clang", "cargo", "rustc", "zig"):
        assert shutil.which(absent, path=path) is None
    return path


@pytest.fixture
def logged_in_env(mock, pg, pg_role, hermetic_env):
    """The App Service identity named like a fresh role whose password is the next token."""
    mock.configure(azure_app_name=pg_role)
    pg.set_password(pg_role, mock.queue_azure_token(APPSERVICE))
    return hermetic_env(IDENTITY_ENDPOINT=mock.http_url + "/azure/appservice/token",
                        IDENTITY_HEADER=mock.identity_header)


# --- Python -------------------------------------------------------------------------------------

def test_the_wheel_is_manylinux_2_17_and_needs_no_newer_glibc(dist):
    wheel = only(dist, f"passmint-{VERSION}-cp39-abi3-*manylinux_2_17_*.whl")
    r = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True,
                       check=True)
    assert 'consistent with the following platform tag:\n"manylinux_2_17_' in r.stdout, r.stdout
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        native = next(n for n in names if n.endswith(".abi3.so"))
        so = dist / "native.so"
        so.write_bytes(z.read(native))
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    needed = glibc_needed(so)
    print(f"\nwheel {wheel.name}: the extension needs GLIBC_{needed[0]}.{needed[1]} at most")
    assert needed <= OLDEST_GLIBC
    assert any(n.endswith("licenses/LICENSE-MIT") for n in names) and any(n.endswith("licenses/LICENSE-APACHE")
                                                                        for n in names), names
    for field in ("Project-URL: Repository", "Classifier: Operating System :: POSIX :: Linux",
                  "License-Expression: MIT OR Apache-2.0", "Requires-Python: >=3.9"):
        assert field in metadata, field
    assert "## Install" in metadata  # the README stands alone on PyPI


def test_the_wheel_installs_into_a_fresh_venv_with_no_compiler_and_logs_in(dist, tmp_path, pg, pg_role,
                                                                            logged_in_env, mock):
    wheel = only(dist, f"passmint-{VERSION}-cp39-abi3-*manylinux_2_17_*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    path = bare_path(tmp_path)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--no-index", "--only-binary=:all:", "--find-links", str(TOP / "build" / "wheelhouse"),
                          str(wheel), "psycopg[binary]"],
                         env={**logged_in_env, "PATH": path}, capture_output=True, text=True, check=False, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    script = tmp_path / "login.py"
    script.write_text(
        "import sys, passmint, passmint.psycopg\n"
        "provider = passmint.Provider(sys.argv[1])\n"
        "with passmint.psycopg.connection_class(provider).connect(sys.argv[2]) as conn:\n"
        "    print(passmint.__file__)\n"
        "    print(conn.execute('select current_user').fetchone()[0])\n")
    dsn = pg.dsn(pg_role)
    r = subprocess.run([str(venv / "bin" / "python"), str(script), MANAGED, re.sub(r"\buser=\S+ ?", "", dsn)],
                       env={**logged_in_env, "PATH": path}, cwd=tmp_path, capture_output=True, text=True, check=False,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    location, user = r.stdout.split()
    assert location.startswith(str(venv)), location  # the installed wheel, not the checkout
    assert user == pg_role
    assert len(route_requests(mock, APPSERVICE)) == 1


def test_the_sdist_carries_the_core_and_builds_from_source(dist, tmp_path):
    sdist = only(dist, f"passmint-{VERSION}.tar.gz")
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "LICENSE-MIT", "LICENSE-APACHE", "core/src/lib.rs"):
        assert any(n == needed or n.endswith("/" + needed) for n in names), f"{needed} not in the sdist"
    # Built as pip builds an sdist, sharing this checkout's compiled dependencies (offline).
    env = {**os.environ, "MATURIN_PEP517_ARGS": "--profile dev",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--no-build-isolation", "--no-index", "-w", str(tmp_path), str(sdist)], env=env,
                       capture_output=True, text=True, check=False, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with zipfile.ZipFile(only(tmp_path, "passmint-*.whl")) as z:
        assert any(n.startswith("passmint/_native") for n in z.namelist())


# --- Node ---------------------------------------------------------------------------------------

def test_the_npm_tarballs_carry_readme_licenses_and_the_addon(dist):
    main = only(dist, f"passmint-{VERSION}.tgz")
    platform = only(dist, f"passmint-linux-x64-gnu-{VERSION}.tgz")
    with tarfile.open(main) as t:
        files = {n.removeprefix("package/") for n in t.getnames()}
        meta = json.load(t.extractfile("package/package.json"))
    assert {"README.md", "index.js", "index.mjs", "index.d.ts", "native.js", *LICENSES} <= files, files
    assert not any(f.endswith(".node") for f in files)  # the addon is the platform package's
    assert meta["optionalDependencies"] == {"passmint-linux-x64-gnu": VERSION}
    assert meta["engines"] == {"node": ">=20"}
    with tarfile.open(platform) as t:
        files = {n.removeprefix("package/") for n in t.getnames()}
        pmeta = json.load(t.extractfile("package/package.json"))
        addon = dist / "addon.node"
        addon.write_bytes(t.extractfile("package/passmint.linux-x64-gnu.node").read())
    assert {"passmint.linux-x64-gnu.node", "package.json", *LICENSES} <= files, files
    assert (pmeta["os"], pmeta["cpu"], pmeta["libc"]) == (["linux"], ["x64"], ["glibc"])
    needed = glibc_needed(addon)
    print(f"\nnpm addon: needs GLIBC_{needed[0]}.{needed[1]} at most")
    assert needed <= OLDEST_GLIBC
    # npm's own listing of what it would publish (the staged main package).
    r = subprocess.run(["npm", "pack", "--dry-run", "--json", str(TOP / "build" / "npm" / "passmint")],
                       capture_output=True, text=True, check=True)
    listed = {f["path"] for f in json.loads(r.stdout)[0]["files"]}
    assert {"README.md", *LICENSES} <= listed, listed


def test_the_npm_packages_install_offline_into_an_empty_project_and_log_in(dist, tmp_path, pg, pg_role,
                                                                           logged_in_env, mock):
    project = tmp_path / "app"
    project.mkdir()
    (project / "package.json").write_text('{"name": "app", "version": "1.0.0", "private": true}\n')
    path = bare_path(tmp_path, "node", "npm")
    pg_driver = TOP / "tests" / "node_modules" / "pg"
    r = subprocess.run(["npm", "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error",
                        str(only(dist, f"passmint-{VERSION}.tgz")), str(only(dist, f"passmint-linux-x64-gnu-{VERSION}.tgz")),
                        str(pg_driver)],
                       cwd=project, env={**logged_in_env, "PATH": path}, capture_output=True, text=True, check=False,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (project / "node_modules" / "passmint-linux-x64-gnu" / "passmint.linux-x64-gnu.node").is_file()
    assert not (project / "node_modules" / "passmint" / "passmint.linux-x64-gnu.node").exists()
    dsn = {"host": "localhost", "port": pg.port, "database": "postgres", "ca": Path(pg.ca_pem).read_text()}
    (project / "login.cjs").write_text(
        "const pg = require('pg')\n"
        "const { Provider, version } = require('passmint')\n"
        "const [host, port, database, ca] = JSON.parse(process.argv[2])\n"
        "const provider = new Provider(process.argv[3])\n"
        ";(async () => {\n"
        "  const token = await provider.tokenInfo()\n"
        "  const client = new pg.Client({ host, port, database, user: token.username, password: provider.password,\n"
        "    ssl: { ca, rejectUnauthorized: true } })\n"
        "  await client.connect()\n"
        "  const { rows } = await client.query('select current_user')\n"
        "  console.log(require.resolve('passmint-linux-x64-gnu'), version, rows[0].current_user)\n"
        "  await client.end()\n"
        "})().catch((e) => { console.error(e.code || '', e.message); process.exitCode = 1 })\n")
    (project / "import.mjs").write_text(
        "import { Provider, PassmintError, version } from 'passmint'\n"
        "const p = new Provider('azure://?credential=managed')\n"
        "console.log(typeof p.password, PassmintError.name, version)\n")
    args = json.dumps([dsn["host"], dsn["port"], dsn["database"], dsn["ca"]])
    env = {**logged_in_env, "PATH": path}
    r = subprocess.run(["node", "login.cjs", args, MANAGED], cwd=project, env=env, capture_output=True, text=True,
                       check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    addon, version, user = r.stdout.split()
    assert addon.startswith(str(project / "node_modules" / "passmint-linux-x64-gnu")), addon
    assert (version, user) == (VERSION, pg_role)
    r = subprocess.run(["node", "import.mjs"], cwd=project, env=env, capture_output=True, text=True, check=False,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["function", "PassmintError", VERSION], r.stdout + r.stderr
    assert len(route_requests(mock, APPSERVICE)) == 1


# --- C and the CLI ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unpacked(dist, tmp_path_factory) -> Path:
    """The C tarball, unpacked somewhere it was not built for (pkg-config finds it by pcfiledir)."""
    where = tmp_path_factory.mktemp("opt")
    with tarfile.open(only(dist, f"passmint-{VERSION}-{TRIPLE}.tar.gz")) as t:
        t.extractall(where, filter="tar")
    return where / f"passmint-{VERSION}-{TRIPLE}"


def test_the_c_tarball_holds_the_library_header_pkgconfig_cli_and_licenses(unpacked):
    files = sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if not p.is_dir())
    for needed in ("include/passmint.h", "lib/libpassmint.a", "lib/libpassmint.so", "lib/libpassmint.so.0",
                   f"lib/libpassmint.so.{VERSION}", "lib/pkgconfig/passmint.pc", "bin/passmint", "README.md",
                   "CHANGELOG.md", *LICENSES):
        assert needed in files, f"{needed} not in {files}"
    header = (unpacked / "include" / "passmint.h").read_text()
    major, minor, patch = VERSION.split(".")
    for macro, value in (("MAJOR", major), ("MINOR", minor), ("PATCH", patch)):
        assert re.search(rf"#define PASSMINT_VERSION_{macro} {value}\b", header), macro
    for binary in ("lib/libpassmint.so", "bin/passmint"):
        needed = glibc_needed(unpacked / binary)
        print(f"\n{binary}: needs GLIBC_{needed[0]}.{needed[1]} at most")
        assert needed <= OLDEST_GLIBC, binary
    soname = subprocess.run([tool("readelf"), "-d", str(unpacked / "lib" / "libpassmint.so")], capture_output=True,
                            text=True, check=True).stdout
    assert "Library soname: [libpassmint.so.0]" in soname
    r = subprocess.run([str(unpacked / "bin" / "passmint"), "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and VERSION in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("link", ["shared", "static"])
def test_a_program_built_with_pkg_config_against_the_tarball_logs_in(unpacked, tmp_path, link, pg, pg_role,
                                                                      logged_in_env):
    pc_env = {**os.environ, "PKG_CONFIG_PATH": str(unpacked / "lib" / "pkgconfig")}

    def pkg(*args: str) -> list[str]:
        return subprocess.run([tool("pkg-config"), *args], env=pc_env, capture_output=True, text=True,
                              check=True).stdout.split()

    cflags = pkg("--cflags", "passmint", "libpq")
    assert f"-I{unpacked}/lib/pkgconfig/../../include" in cflags, cflags  # relocated by pcfiledir
    libdir = pkg("--variable=libdir", "passmint")[0]
    if link == "shared":
        libs = [*pkg("--libs", "passmint", "libpq"), f"-Wl,-rpath,{libdir}"]
    else:
        private = [f for f in pkg("--static", "--libs", "passmint") if f != "-lpassmint" and not f.startswith("-L")]
        libs = [f"{libdir}/libpassmint.a", *private, *pkg("--libs", "libpq")]
    exe = tmp_path / "connect"
    r = subprocess.run([tool("cc"), "-std=c11", "-O1", "-o", str(exe), str(TOP / "examples" / "c" / "connect.c"),
                        *cflags, *libs], capture_output=True, text=True, check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    dynamic = subprocess.run([tool("readelf"), "-d", str(exe)], capture_output=True, text=True, check=True).stdout
    assert ("libpassmint.so.0" in dynamic) == (link == "shared"), dynamic
    env = {**logged_in_env, "PGHOST": "localhost", "PGPORT": str(pg.port), "PGDATABASE": "postgres",
           "PGSSLROOTCERT": str(pg.ca_pem)}
    r = subprocess.run([str(exe), MANAGED], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"current_user: {pg_role}" in r.stdout, r.stdout
