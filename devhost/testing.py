"""Start real dev host processes from tests: `with running_host(app_dir) as host: ...`.

Each host is a `python -m devhost start` subprocess on a free loopback port with (by default) a
fresh data directory, so tests never share state. Its output goes to `DATA/host-output.log`,
which `HostHandle.output()` reads when a test needs the log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_LOG = "host-output.log"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HostStartError(RuntimeError):
    """The host process exited or did not answer its ping in time; carries its output."""


@dataclass
class HostHandle:
    """A running dev host process. Keys are secrets: tests may use them, never print them."""

    base_url: str
    master_key: str
    function_key: str
    system_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    app_dir: Path = field(repr=False, default=Path("."))
    port: int = field(repr=False, default=0)
    env: dict[str, str] = field(repr=False, default_factory=dict)
    _log: IO[bytes] | None = field(repr=False, default=None)

    def output(self) -> str:
        """Everything the host printed so far (all its runs on this data dir)."""
        path = self.data_dir / OUTPUT_LOG
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        return self._end(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL: the process dies at once, as in a crash."""
        return self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (cleanly, if still running) and start again on the same port and data dir."""
        if self.process.poll() is None:
            self.stop()
        _launch(self)

    def _end(self, signum: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return int(self.process.returncode)


def _ping(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/admin/host/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _launch(handle: HostHandle) -> None:
    """Start the process for `handle` and wait until it answers; fills in the keys."""
    handle.data_dir.mkdir(parents=True, exist_ok=True)
    log = open(handle.data_dir / OUTPUT_LOG, "ab")
    handle._log = log
    env = {**os.environ, **handle.env}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    command = [
        sys.executable, "-m", "devhost", "start", str(handle.app_dir),
        "--port", str(handle.port), "--host", "127.0.0.1", "--data", str(handle.data_dir),
    ]  # fmt: skip
    handle.process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(handle.app_dir)
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _ping(handle.base_url):
        if handle.process.poll() is not None or time.monotonic() > deadline:
            handle._end(signal.SIGKILL)
            raise HostStartError(
                f"dev host for {handle.app_dir} did not start "
                f"(exit code {handle.process.returncode}):\n{handle.output()[-4000:]}"
            )
        time.sleep(0.05)
    keys = json.loads((handle.data_dir / "keys.json").read_text(encoding="utf-8"))
    handle.master_key = keys["masterKey"]
    handle.function_key = keys["functionKeys"]["default"]
    handle.system_key = keys["systemKeys"]["durabletask_extension"]


@contextmanager
def running_host(
    app_dir: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[HostHandle]:
    """A dev host serving `app_dir`, stopped (and its temporary data dir removed) on exit.

    `env` adds or replaces environment variables of the host process, e.g. DEVHOST_FAULT_*
    fault injection or DEVHOST_*_KEY fixed keys.
    """
    own_data = data_dir is None
    data = Path(tempfile.mkdtemp(prefix="devhost-")) if own_data else Path(data_dir)  # type: ignore[arg-type]
    chosen_port = port or free_port()
    handle = HostHandle(
        base_url=f"http://127.0.0.1:{chosen_port}",
        master_key="",
        function_key="",
        system_key="",
        data_dir=data.resolve(),
        process=None,  # type: ignore[arg-type]  # set by _launch
        app_dir=Path(app_dir).resolve(),
        port=chosen_port,
        env=dict(env or {}),
    )
    try:
        _launch(handle)
        yield handle
    finally:
        if handle.process is not None:
            handle._end(signal.SIGTERM)
        if own_data:
            shutil.rmtree(data, ignore_errors=True)
