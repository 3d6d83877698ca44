"""The npm packages in napi-rs's layout, from the addon `make node` built: one package per
platform (`passmint-linux-x64-gnu`: the `.node` file and the licenses) and the main package
`passmint` (loader, JavaScript, types, README, licenses), which lists every platform package of
`napi.targets` in `optionalDependencies`, so npm installs the one matching the machine and no
compiler is needed. Writes the tarballs to OUT (`make dist`).

    python packaging/npm_dist.py OUT

A platform whose addon was not built here is skipped (the release workflow builds each on its
own runner and packs them together).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
NODE = TOP / "bindings-node"
STAGE = TOP / "build" / "npm"
LICENSES = ("LICENSE-MIT", "LICENSE-APACHE")


def pack(directory: Path, out: Path) -> Path:
    r = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(out), str(directory)],
                       capture_output=True, text=True, check=True)
    return out / json.loads(r.stdout)[0]["filename"]


def platform_packages(out: Path) -> dict[str, str]:
    """Packs each platform whose addon exists; returns {package name: version} of all targets."""
    subprocess.run([str(NODE / "node_modules" / ".bin" / "napi"), "create-npm-dirs"], cwd=NODE, check=True,
                   capture_output=True)
    names = {}
    for manifest in sorted((NODE / "npm").glob("*/package.json")):
        meta = json.loads(manifest.read_text())
        names[meta["name"]] = meta["version"]
        addon = NODE / meta["main"]
        if not addon.is_file():
            continue
        stage = STAGE / manifest.parent.name
        shutil.rmtree(stage, ignore_errors=True)
        shutil.copytree(manifest.parent, stage)
        shutil.copy2(addon, stage / addon.name)
        meta["files"] = [addon.name, *LICENSES]
        meta["engines"] = json.loads((NODE / "package.json").read_text())["engines"]
        (stage / "package.json").write_text(json.dumps(meta, indent=2) + "\n")
        for name in LICENSES:
            shutil.copyfile(TOP / name, stage / name)
        print(pack(stage, out))
    return names


def main_package(out: Path, platforms: dict[str, str]) -> None:
    meta = json.loads((NODE / "package.json").read_text())
    stage = STAGE / "passmint"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    meta["files"] = [f for f in meta["files"] if not f.endswith(".node")] + ["README.md", *LICENSES]
    meta["optionalDependencies"] = platforms
    meta.pop("devDependencies", None)
    meta.pop("scripts", None)
    for name in meta["files"]:
        source = TOP / name if name in LICENSES else NODE / name
        shutil.copyfile(source, stage / name)
    (stage / "package.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(pack(stage, out))


if __name__ == "__main__":
    destination = Path(sys.argv[1]).resolve()
    destination.mkdir(parents=True, exist_ok=True)
    main_package(destination, platform_packages(destination))
