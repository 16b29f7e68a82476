"""Build a sample version into a deployable package, the way a release pipeline would.

Through `provisioning.packaging`: the app's files plus its requirements installed under
`.python_packages/lib/site-packages` for Linux x86_64 (`manylinux2014_x86_64`) and this
interpreter's Python version, so the same zip runs on the local lanes (which import the app's
dependencies from the package, as the Python worker does) and on App Service with that Python.
The zip is reproducible, so building the same version twice gives the same sha256 and redeploying
it is recognised as the same package; installs are cached per machine.

    python -m samples.build [VERSION ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from provisioning import packaging
from provisioning.packages import sha256_of

SAMPLES_DIR = Path(__file__).resolve().parent
VERSIONS = ("1.0.0", "1.0.1", "1.1.0")
DEFAULT_OUT_DIR = SAMPLES_DIR.parent / ".devhost" / "packages"
# Built for the Python the local lanes run; on Azure the app's Python version must match it.
TARGET = packaging.Target(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")


def app_dir(version: str) -> Path:
    """The directory of one sample version."""
    if version not in VERSIONS:
        raise ValueError(f"unknown sample version {version!r}; known: {', '.join(VERSIONS)}")
    return SAMPLES_DIR / version


def build_package(version: str, out_dir: Path | None = None) -> Path:
    """Build sample `version` into `out_dir` (default .devhost/packages) and return the zip's path."""
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    return packaging.build_package(app_dir(version), out / f"sample-{version}.zip", target=TARGET).path


def package_sha256(path: Path) -> str:
    """The hex sha256 of a package file, as a release posts it."""
    return sha256_of(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samples.build", description=__doc__.splitlines()[0])
    parser.add_argument(
        "versions",
        nargs="*",
        metavar="VERSION",
        help=f"sample versions to package (default: all of {', '.join(VERSIONS)})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default {DEFAULT_OUT_DIR})"
    )
    args = parser.parse_args(argv)
    for version in args.versions or VERSIONS:
        if version not in VERSIONS:
            parser.error(f"unknown sample version {version!r}; known: {', '.join(VERSIONS)}")
        path = build_package(version, args.out)
        print(json.dumps({"version": version, "path": str(path), "sha256": package_sha256(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
