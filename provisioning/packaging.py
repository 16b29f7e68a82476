"""Deployable packages: the zip App Service runs, with the app's dependencies inside it.

A package run from a URL (WEBSITE_RUN_FROM_PACKAGE) or deployed as a zip without remote build is
mounted read-only as wwwroot and nothing is installed on the way; the Python worker imports the
app's dependencies from `.python_packages/lib/site-packages` at the package's root, built on
Linux for the app's Python version ("Local build": `pip install --target .python_packages/lib/
site-packages --platform manylinux2014_x86_64 --only-binary=:all:`). Sources:
https://learn.microsoft.com/azure/azure-functions/python-build-options and
https://learn.microsoft.com/azure/azure-functions/run-functions-from-deployment-package.

    python -m provisioning package APP_DIR --out FILE.zip [--python-version 3.11]
                                   [--platform manylinux2014_x86_64]

The zip is reproducible (sorted entries, fixed timestamps and modes): the same app and
requirements give the same sha256, so a redeploy is recognised as the same package. Installing
takes seconds to minutes, so installed site-packages are cached by a hash of (requirements,
Python version, platform) under a lock: every build of that set on this machine after the first
is a copy into the zip.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioning.errors import PackageError
from provisioning.local_locks import blocking_file_lock
from provisioning.packages import sha256_of

logger = logging.getLogger(__name__)

SITE_PACKAGES = ".python_packages/lib/site-packages"  # where the Python worker looks
DEFAULT_PYTHON_VERSION = "3.11"
DEFAULT_PLATFORM = "manylinux2014_x86_64"  # App Service's Linux workers are x86_64
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / ".devhost" / "site-packages"
APP_FILES = ("host.json", "function_app.py")  # a v2-model Python app has both at its root

# Never part of a package: local settings (secrets), environments, tests, caches, VCS and the dev
# host's data; an old `.python_packages` is replaced by the one built here.
_EXCLUDED_ANYWHERE = {"__pycache__", ".git", ".venv", "venv", ".devhost", ".pytest_cache", ".mypy_cache",
                      ".ruff_cache", ".hypothesis", ".python_packages", ".vscode"}  # fmt: skip
_EXCLUDED_AT_ROOT = {"tests", "local.settings.json", ".funcignore", ".gitignore"}
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_READY_MARKER = ".installed"
_PROGRESS_PREFIXES = ("Collecting", "Downloading", "Installing", "Successfully", "ERROR")
_TAIL_LINES = 8

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltPackage:
    """A package written to `path`: its size in bytes and hex sha256."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Target:
    """What the dependencies are built for. `platform` None: this machine, as it runs them."""

    python_version: str = DEFAULT_PYTHON_VERSION
    platform: str | None = DEFAULT_PLATFORM

    def pip_options(self) -> list[str]:
        if self.platform is None:
            return []
        return ["--platform", self.platform, "--python-version", self.python_version,
                "--implementation", "cp", "--only-binary=:all:"]  # fmt: skip

    def describe(self) -> str:
        return f"python={self.python_version} platform={self.platform or 'native'}"


def native_target() -> Target:
    """This interpreter and machine (for what runs here, such as the local lanes' worker runtime)."""
    return Target(python_version=f"{sys.version_info.major}.{sys.version_info.minor}", platform=None)


def normalized_requirements(text: str) -> list[str]:
    """Requirement lines without comments and blanks, in a stable order."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return sorted(set(lines))


def cache_key(requirements_text: str, target: Target) -> str:
    """The cache key of an installed set: what goes in and what it is built for."""
    material = "\n".join([target.describe(), *normalized_requirements(requirements_text)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def check_app_dir(app_dir: Path) -> Path:
    """The app directory, resolved; PackageError unless it is a v2-model Python Functions app."""
    app_dir = Path(app_dir).resolve()
    if not app_dir.is_dir():
        raise PackageError(f"{app_dir} is not a directory")
    missing = [name for name in APP_FILES if not (app_dir / name).is_file()]
    if missing:
        raise PackageError(
            f"{app_dir} is not a v2-model Python Functions app: it has no {' or '.join(missing)} at its root"
        )
    return app_dir


def installed_site_packages(
    requirements_text: str,
    target: Target,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: Progress | None = None,
) -> Path:
    """A directory holding `requirements_text` installed for `target`, built once per machine.

    Blocking (pip runs for seconds at first): call it from a thread on an event loop."""
    key = cache_key(requirements_text, target)
    installed = Path(cache_dir).resolve() / key
    if (installed / _READY_MARKER).is_file():
        return installed
    with blocking_file_lock(installed.with_name(f"{key}.lock")):
        if not (installed / _READY_MARKER).is_file():
            _install(requirements_text, target, installed, progress or (lambda line: None))
    return installed


def _install(requirements_text: str, target: Target, installed: Path, progress: Progress) -> None:
    staging = installed.with_name(f".{installed.name}.{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        requirements = staging / "requirements.txt"
        requirements.write_text("\n".join(normalized_requirements(requirements_text)) + "\n")
        site = staging / "site-packages"
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                   "--no-compile", "--target", str(site), *target.pip_options(), "-r", str(requirements)]  # fmt: skip
        progress(f"installing requirements for {target.describe()} (cached as {installed.name})")
        _run_pip(command, staging / "pip.log", progress)
        (staging / _READY_MARKER).write_text(target.describe() + "\n")
        if installed.exists():
            shutil.rmtree(installed)  # an unfinished install of an earlier crash
        staging.rename(installed)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _run_pip(command: list[str], log_path: Path, progress: Progress) -> None:
    """Run pip, passing its progress lines on and keeping its whole output in `log_path`; a
    failure raises PackageError with pip's last lines."""
    # Our own environment variables must not redirect the install (a venv, a PYTHONPATH).
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    tail: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            log.write(line + "\n")
            if line.strip():
                tail = (tail + [line.strip()])[-_TAIL_LINES:]
            if line.lstrip().startswith(_PROGRESS_PREFIXES):
                progress(line.strip())
        code = process.wait()
    if code != 0:
        raise PackageError(f"pip install failed (exit code {code}): " + " | ".join(tail))


def app_files(app_dir: Path) -> Iterator[tuple[str, Path]]:
    """The app's own files as (zip entry name, path), sorted, without what never ships."""
    for path in sorted(app_dir.rglob("*")):
        relative = path.relative_to(app_dir)
        if path.is_file() and not _is_excluded(relative):
            yield relative.as_posix(), path


def _is_excluded(relative: Path) -> bool:
    return (
        relative.parts[0] in _EXCLUDED_AT_ROOT
        or any(part in _EXCLUDED_ANYWHERE for part in relative.parts)
        or relative.name.endswith(_EXCLUDED_SUFFIXES)
    )


def _site_files(site: Path) -> Iterator[tuple[str, Path]]:
    """The installed files, without caches and without pip's console scripts (`bin/`): the worker
    never runs them, and their first line names the interpreter that built the package, which
    would make the zip's digest depend on the build machine."""
    for path in sorted(site.rglob("*")):
        relative = path.relative_to(site)
        if (
            path.is_file()
            and relative.parts[0] != "bin"
            and "__pycache__" not in relative.parts
            and not path.name.endswith(_EXCLUDED_SUFFIXES)
        ):
            yield f"{SITE_PACKAGES}/{relative.as_posix()}", path


def build_package(
    app_dir: Path,
    out: Path,
    *,
    target: Target = Target(),
    requirements: Path | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: Progress | None = None,
) -> BuiltPackage:
    """Zip the app in `app_dir` with its requirements (its requirements.txt, or `requirements`)
    installed for `target` under `.python_packages/lib/site-packages`; write it to `out`."""
    app_dir = check_app_dir(app_dir)
    requirements = requirements or app_dir / "requirements.txt"
    if not requirements.is_file():
        raise PackageError(
            f"{requirements} does not exist: a package carries its dependencies, listed in requirements.txt"
        )
    site = installed_site_packages(
        requirements.read_text(encoding="utf-8"), target, cache_dir=cache_dir, progress=progress
    ) / "site-packages"
    entries = dict(app_files(app_dir))
    entries.setdefault("requirements.txt", requirements)  # what the dependencies were built from
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in [*sorted(entries.items()), *_site_files(site)]:
                entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
                entry.compress_type = zipfile.ZIP_DEFLATED
                # Modes are part of the digest: only "executable or not" is kept.
                entry.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                archive.writestr(entry, path.read_bytes())
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BuiltPackage(path=out, size=out.stat().st_size, sha256=sha256_of(out))


# --- `python -m provisioning package` ---------------------------------------------------------


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `package` subcommand to `python -m provisioning`'s parser."""
    package = commands.add_parser("package", help="build a deployable package (app + .python_packages)")
    package.add_argument("app_dir", type=Path, metavar="APP_DIR", help="the Functions app (v2 model)")
    package.add_argument("--out", type=Path, required=True, metavar="FILE.zip", help="the zip to write")
    package.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION,
                         help=f"the app's Python on App Service (default {DEFAULT_PYTHON_VERSION})")
    package.add_argument("--platform", default=DEFAULT_PLATFORM,
                         help=f"the wheels' platform tag (default {DEFAULT_PLATFORM})")
    package.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                         help=f"where installed requirements are cached (default {DEFAULT_CACHE_DIR})")  # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    """Build the package; progress on stderr, then `size` and `sha256` (and the path) on stdout."""
    try:
        built = build_package(
            args.app_dir,
            args.out,
            target=Target(python_version=args.python_version, platform=args.platform),
            cache_dir=args.cache_dir,
            progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
        )
    except PackageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"{built.path}\nsize {built.size} bytes\nsha256 {built.sha256}")
    return 0
