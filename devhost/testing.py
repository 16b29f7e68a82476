"""Start real dev host processes from tests: `with running_host(app_dir) as host: ...`.

Each host is a `python -m devhost start` subprocess (started by `devhost.launcher`) on a free
loopback port with (by default) a fresh data directory, so tests never share state. Its output
goes to `DATA/host-output.log`, which `HostHandle.output()` reads when a test needs the log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devhost import launcher
from devhost.errors import HostStartError
from devhost.ports import free_port

__all__ = ["REPO_ROOT", "HostHandle", "HostStartError", "running_host"]

REPO_ROOT = launcher.REPO_ROOT
OUTPUT_LOG = "host-output.log"


@dataclass
class HostHandle:
    """A running dev host process. Keys are secrets: tests may use them, never print them."""

    base_url: str
    master_key: str
    function_key: str
    system_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    command: launcher.HostCommand = field(repr=False)

    def output(self) -> str:
        """Everything the host printed so far (all its runs on this data dir)."""
        path = self.command.log_path
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        return launcher.stop(self.process)

    def kill(self) -> int:
        """SIGKILL: the process dies at once, as in a crash."""
        return launcher.stop(self.process, signum=signal.SIGKILL)

    def restart(self) -> None:
        """Stop (cleanly, if still running) and start again on the same port and data dir."""
        self.stop()
        self.process = launcher.start(self.command)
        self._read_keys()

    def _read_keys(self) -> None:
        keys = json.loads((self.data_dir / "keys.json").read_text(encoding="utf-8"))
        self.master_key = keys["masterKey"]
        self.function_key = keys["functionKeys"]["default"]
        self.system_key = keys["systemKeys"]["durabletask_extension"]


@contextmanager
def running_host(
    app_dir: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    enable_auth: bool = False,
) -> Iterator[HostHandle]:
    """A dev host serving `app_dir`, stopped (and its temporary data dir removed) on exit.

    `env` adds or replaces environment variables of the host process, e.g. DEVHOST_FAULT_*
    fault injection or DEVHOST_*_KEY fixed keys. `enable_auth` starts it with `--enableAuth`, so
    keys are checked as on Azure; by default they are bypassed, as under `func start`. Raises HostStartError (with the host's output)
    if it exits or does not answer its ping in time.
    """
    own_data = data_dir is None
    data = Path(tempfile.mkdtemp(prefix="devhost-")) if own_data else Path(data_dir)  # type: ignore[arg-type]
    data = data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    command = launcher.HostCommand(
        app_dir=Path(app_dir).resolve(),
        port=port or free_port(),
        data_dir=data,
        log_path=data / OUTPUT_LOG,
        env=launcher.host_env(env),
        enable_auth=enable_auth,
    )
    try:
        handle = HostHandle(command.base_url, "", "", "", data, launcher.start(command), command)
        try:
            handle._read_keys()
            yield handle
        finally:
            launcher.stop(handle.process)
    finally:
        if own_data:
            shutil.rmtree(data, ignore_errors=True)
