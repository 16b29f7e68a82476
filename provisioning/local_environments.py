"""Python environments for local lanes: one virtual environment per distinct set of requirements.

A lane's app runs with its own `requirements.txt` installed, as on Azure. Creating a venv and
installing into it takes seconds, so environments are cached by a hash of what goes into them
(the lane's requirements, the dev host's own needs and the Python version) and shared by every
lane and every restart that needs the same set. A file lock keeps two routers on one machine
from building the same environment at once; a marker file tells a finished one from a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Sequence

from provisioning.local_locks import file_lock
from provisioning.errors import PackageError

logger = logging.getLogger(__name__)

# What `python -m devhost` imports besides the app's own requirements.
DEVHOST_NEEDS = ("azure-functions", "azure-functions-durable", "aiohttp", "httpx")
_READY_MARKER = ".ready"
_PROGRESS_PREFIXES = ("Collecting", "Downloading", "Installing", "Successfully", "ERROR")


def devhost_requirements() -> list[str]:
    """The dev host's needs, pinned to the versions this process runs (those it was built on)."""
    pinned = []
    for name in DEVHOST_NEEDS:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(name)
    return pinned


def normalized_requirements(text: str) -> list[str]:
    """Requirement lines without comments and blanks, in a stable order."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return sorted(set(lines))


class LaneEnvironments:
    """Builds and caches the virtual environments lanes run in, under `root`."""

    def __init__(
        self,
        root: Path,
        *,
        base_python: str = sys.executable,
        extra_requirements: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()  # lanes run with their own cwd
        self.base_python = base_python
        self.extra_requirements = list(
            devhost_requirements() if extra_requirements is None else extra_requirements
        )

    def key_for(self, requirements_text: str) -> str:
        """The cache key of an environment: what goes into it, and which Python builds it."""
        material = "\n".join(
            [f"python={sys.version_info.major}.{sys.version_info.minor}", f"base={self.base_python}"]
            + normalized_requirements(requirements_text)
            + ["--devhost--"]
            + sorted(self.extra_requirements)
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    async def python_for(self, requirements_text: str) -> str:
        """The interpreter of the environment for these requirements, building it if needed."""
        key = self.key_for(requirements_text)
        venv = self.root / key
        python = venv / "bin" / "python"
        if (venv / _READY_MARKER).is_file():
            return str(python)
        async with file_lock(self.root / f"{key}.lock"):
            if not (venv / _READY_MARKER).is_file():
                await self._build(venv, requirements_text)
        return str(python)

    async def _build(self, venv: Path, requirements_text: str) -> None:
        if venv.exists():
            shutil.rmtree(venv)  # an unfinished build
        logger.info("creating lane environment %s (first use of this set of requirements)", venv.name)
        await self._run([self.base_python, "-m", "venv", str(venv)], venv, "creating the virtual environment")
        requirements = venv / "requirements.txt"
        requirements.write_text(
            "\n".join(normalized_requirements(requirements_text) + self.extra_requirements) + "\n"
        )
        await self._run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(requirements),
            ],
            venv,
            "installing the lane's requirements",
        )
        (venv / _READY_MARKER).write_text("\n".join(self.extra_requirements))
        logger.info("lane environment %s ready", venv.name)

    async def _run(self, command: list[str], venv: Path, what: str) -> None:
        """Run a build step, logging pip's progress lines and keeping the whole output in pip.log."""
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
        assert process.stdout is not None
        tail: list[str] = []
        venv.mkdir(parents=True, exist_ok=True)
        with open(venv / "pip.log", "a", encoding="utf-8") as log:
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                log.write(line + "\n")
                tail = (tail + [line])[-8:]
                if line.lstrip().startswith(_PROGRESS_PREFIXES):
                    logger.info("lane environment %s: %s", venv.name, line.strip())
        if await process.wait() != 0:
            raise PackageError(
                f"{what} for lane environment {venv.name} failed: " + " | ".join(t for t in tail if t.strip())
            )
