"""Zip a sample version into a deployable package, the way a release pipeline would.

The zip is reproducible (sorted entries, fixed timestamps), so building the same version twice
gives the same sha256 and redeploying it is recognised as the same package.

    python -m samples.build [VERSION ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

from provisioning.packages import sha256_of

SAMPLES_DIR = Path(__file__).resolve().parent
VERSIONS = ("1.0.0", "1.0.1", "1.1.0")
DEFAULT_OUT_DIR = SAMPLES_DIR.parent / ".devhost" / "packages"

# Local leftovers that are never part of a package (as `func azure functionapp publish` skips them).
_EXCLUDED_PARTS = {"__pycache__", ".devhost", ".venv", ".python_packages"}
_EXCLUDED_NAMES = {"local.settings.json"}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def app_dir(version: str) -> Path:
    """The directory of one sample version."""
    if version not in VERSIONS:
        raise ValueError(f"unknown sample version {version!r}; known: {', '.join(VERSIONS)}")
    return SAMPLES_DIR / version


def build_package(version: str, out_dir: Path | None = None) -> Path:
    """Zip sample `version` into `out_dir` (default .devhost/packages) and return the zip's path."""
    source = app_dir(version)
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"sample-{version}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if not path.is_file() or _is_excluded(relative):
                continue
            entry = zipfile.ZipInfo(relative.as_posix(), date_time=_ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes())
    partial.replace(target)
    return target


def package_sha256(path: Path) -> str:
    """The hex sha256 of a package file, as a release posts it."""
    return sha256_of(path)


def _is_excluded(relative: Path) -> bool:
    return relative.name in _EXCLUDED_NAMES or any(part in _EXCLUDED_PARTS for part in relative.parts)


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
