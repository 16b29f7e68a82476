"""Replay in-flight histories against a package as its lane would run it (I/O edge: files, a subprocess).

Shared by `python -m router.cli check-patch` (a pipeline's machine) and the lane lifecycle's own
check with the local provisioner. The package runs in `python -S -m devhost replay APP --histories
F --json`, the way a local lane runs its host (provisioning.local_worker): this interpreter
without its site-packages, the dev host alone on PYTHONPATH with the shared worker runtime
(azure-functions, aiohttp, httpx), and the package's own `.python_packages` first on sys.path. So
the replay sees the package's SDK and nothing of the router's environment, as on App Service.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning import packaging
from provisioning.base import Package
from provisioning.local_packages import LocalPackage, fetch_package, unpack_package
from provisioning.local_worker import NO_SITE, worker_site_packages
from provisioning.packages import sha256_of, verify_sha256
from router.errors import RouterError

VERDICTS = ("clean", "diverged", "failed")
# What the replay must not inherit: another environment's packages, the router's settings and keys.
_NOT_INHERITED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
_NOT_INHERITED_PREFIXES = ("ROUTER_", "DEVHOST_")
DEFAULT_TIMEOUT = 300.0


class ReplayRunError(RouterError):
    """The replay could not run (the package does not load, the command crashed or timed out)."""

    status = 422
    code = "replay_not_run"


@dataclass(frozen=True)
class InstanceVerdict:
    """One line of `devhost replay --json`."""

    instance_id: str
    name: str
    verdict: str  # clean, diverged or failed
    event_index: int | None = None
    expected: str | None = None
    produced: str | None = None
    error: str | None = None

    @property
    def first_difference(self) -> str:
        """The first divergence or the failure, in a line; "" when clean."""
        if self.verdict == "diverged":
            at = f"event {self.event_index}: " if self.event_index is not None else ""
            return f"{at}expected {self.expected}, produced {self.produced}"
        if self.verdict == "failed":
            return self.error or "failed"
        return ""


@dataclass(frozen=True)
class ReplayReport:
    verdicts: tuple[InstanceVerdict, ...]

    @property
    def checked(self) -> int:
        return len(self.verdicts)

    def count(self, verdict: str) -> int:
        return sum(1 for v in self.verdicts if v.verdict == verdict)

    @property
    def passed(self) -> bool:
        return all(v.verdict == "clean" for v in self.verdicts)

    def summary(self, limit: int = 5) -> str:
        """The instances that did not replay, with their first difference (the first `limit`)."""
        broken = [v for v in self.verdicts if v.verdict != "clean"]
        shown = "; ".join(f"{v.instance_id} ({v.name}) {v.verdict} at {v.first_difference}" for v in broken[:limit])
        more = f"; and {len(broken) - limit} more" if len(broken) > limit else ""
        return f"{len(broken)} of {self.checked} in-flight instance(s) do not replay: {shown}{more}" if broken else ""


def parse_verdicts(stdout: str) -> list[InstanceVerdict]:
    """The verdict lines of `devhost replay --json` (pure). A line that is not one is an error:
    the command's contract is one JSON object per instance on stdout."""
    verdicts = []
    for number, line in enumerate(stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            raise ReplayRunError(f"devhost replay printed a line that is not JSON (line {number})") from None
        if not isinstance(document, dict) or document.get("verdict") not in VERDICTS:
            raise ReplayRunError(f"devhost replay printed something other than a verdict (line {number})")
        index = document.get("eventIndex")
        verdicts.append(InstanceVerdict(
            instance_id=str(document.get("instanceId", "")), name=str(document.get("name", "")),
            verdict=document["verdict"], event_index=index if isinstance(index, int) else None,
            expected=_text(document.get("expected")), produced=_text(document.get("produced")),
            error=_text(document.get("error")),
        ))
    return verdicts


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def write_histories(documents: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write status documents as NDJSON, one per line; how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as stream:
        for document in documents:
            stream.write(json.dumps(document, separators=(",", ":")) + "\n")
            count += 1
    return count


def replay_env(worker_packages: Path, host_import_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The replay's environment: ours without another environment's packages or the router's
    settings, PYTHONPATH the dev host then the worker runtime (as provisioning.local does)."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _NOT_INHERITED and not k.startswith(_NOT_INHERITED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join([str(host_import_dir), str(worker_packages)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def host_import_dir(under: Path) -> Path:
    """A directory holding only the `devhost` package: nothing of the router (`function_app`,
    `router`) may shadow the package's own modules."""
    # Imported here, not at load: the router deployed to Azure leaves devhost/ out (.funcignore)
    # and imports this module through its activities; only the local check runs this function.
    import devhost

    import_dir = under / "hostlib"
    import_dir.mkdir(parents=True, exist_ok=True)
    link = import_dir / "devhost"
    if not link.exists():
        link.symlink_to(Path(devhost.__file__).resolve().parent, target_is_directory=True)
    return import_dir


async def run_replay(
    app_dir: Path,
    histories: Path,
    *,
    worker_cache: Path = packaging.DEFAULT_CACHE_DIR,
    python: str = sys.executable,
    timeout: float = DEFAULT_TIMEOUT,
    expected: int | None = None,
) -> ReplayReport:
    """Replay `histories` (NDJSON) against the unpacked package `app_dir` in a subprocess.
    `expected`: how many histories the file holds; a verdict must come back for each."""
    worker_packages = await worker_site_packages(worker_cache)
    with tempfile.TemporaryDirectory(prefix="replay-host-") as scratch:
        command = [python, *NO_SITE, "-m", "devhost", "replay", str(app_dir), "--histories", str(histories),
                   "--json"]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=str(app_dir), env=replay_env(worker_packages, host_import_dir(Path(scratch))),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ReplayRunError(f"devhost replay did not finish within {timeout:g} s") from None
    report = ReplayReport(tuple(parse_verdicts(stdout.decode("utf-8", errors="replace"))))
    # Non-zero is its answer when an instance diverged or failed; with none, the command itself failed.
    if process.returncode != 0 and report.passed:
        tail = stderr.decode("utf-8", errors="replace").strip().splitlines()[-5:]
        raise ReplayRunError(f"devhost replay exited {process.returncode}: {' | '.join(tail) or 'no output'}")
    if expected is not None and report.checked != expected:
        raise ReplayRunError(f"devhost replay answered for {report.checked} of {expected} histories")
    return report


async def unpack_zip(package_zip: Path, into: Path, sha256: str | None = None) -> tuple[Path, str]:
    """Unpack a local package zip under `into`; (its app directory, its sha256). With `sha256`,
    a package whose digest differs is refused."""
    digest = await asyncio.to_thread(sha256_of, package_zip)
    verify_sha256(Package(url=str(package_zip), sha256=sha256), digest)
    app_dir = await asyncio.to_thread(unpack_package, LocalPackage(package_zip, digest), into)
    return app_dir, digest


async def fetch_and_unpack(package: Package, into: Path, allowed_hosts: tuple[str, ...]) -> tuple[Path, str]:
    """A release's package (a local path or an allowed https URL) unpacked under `into`, its
    announced sha256 verified; (its app directory, its sha256)."""
    fetched = await fetch_package(package, into / "downloads", allowed_hosts)
    return await unpack_zip(fetched.path, into / "packages", package.sha256)
