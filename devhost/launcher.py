"""Run a dev host as a process: build its command line, spawn it, wait for its ping, stop it.

The one launcher of `python -m devhost start`: `devhost.testing.running_host` (tests, the demo)
and the benchmark start hosts through it; `own_session` and `ping_async` are there for hosts that
outlive their starter, such as the local provisioning backend's lane hosts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from devhost.errors import HostStartError

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
PING_PATH = "/admin/host/ping"  # answers 200 without a key once the host serves requests
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
PING_INTERVAL_SECONDS = 0.05


@dataclass(frozen=True)
class HostCommand:
    """How to run one dev host process; `env` is its whole environment (see `host_env`)."""

    app_dir: Path
    port: int
    data_dir: Path
    log_path: Path  # stdout and stderr, appended to across restarts
    env: Mapping[str, str]
    cwd: Path | None = None  # None: the app directory, as `func start` runs
    python: str = sys.executable
    enable_auth: bool = False  # True: `--enableAuth`, keys checked as on Azure; False: as `func start`
    # True: an app that cannot be loaded is served with no functions and its error in
    # /admin/host/status, as on App Service; False: the host exits 1 (fails fast for tests).
    serve_on_load_error: bool = False
    # Python options before `-m devhost` (e.g. `-S`: no site-packages but PYTHONPATH's).
    python_options: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        argv = [
            self.python, *self.python_options, "-m", "devhost", "start", str(self.app_dir),
            "--host", LOOPBACK, "--port", str(self.port), "--data", str(self.data_dir),
        ]  # fmt: skip
        if self.serve_on_load_error:
            argv += ["--on-load-error", "serve"]
        return [*argv, "--enableAuth"] if self.enable_auth else argv


def host_env(extra: Mapping[str, str] | None = None, *, import_dir: Path = REPO_ROOT) -> dict[str, str]:
    """This process's environment plus `extra`, with `import_dir` (where `devhost` is) first on
    PYTHONPATH and unbuffered output, so the log shows lines as they are printed."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(import_dir), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(command: HostCommand, *, own_session: bool = False) -> subprocess.Popen[bytes]:
    """Start the host process and return at once. `own_session`: the host leads its own process
    group, so it outlives a Ctrl-C of its starter and `stop` signals the whole group."""
    command.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(command.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command.argv(),
            cwd=str(command.cwd or command.app_dir),
            env=dict(command.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )


def ping(base_url: str, timeout: float = 2.0) -> bool:
    """Whether the host at `base_url` answers its ping now."""
    try:
        return httpx.get(base_url + PING_PATH, timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


async def ping_async(base_url: str, timeout: float = 2.0) -> bool:
    """`ping` for callers on an event loop."""
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(base_url + PING_PATH)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_until_ready(process: subprocess.Popen[bytes], base_url: str,
                     timeout: float = START_TIMEOUT_SECONDS) -> bool:
    """Poll the ping until it answers; False if the process exits or `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while not ping(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(PING_INTERVAL_SECONDS)
    return True


def start(command: HostCommand, *, timeout: float = START_TIMEOUT_SECONDS,
          own_session: bool = False) -> subprocess.Popen[bytes]:
    """Spawn the host and wait for its ping; on failure kill it and raise HostStartError with the
    end of its log."""
    process = spawn(command, own_session=own_session)
    if not wait_until_ready(process, command.base_url, timeout):
        code = stop(process, signum=signal.SIGKILL)
        raise HostStartError(
            f"dev host for {command.app_dir} did not start (exit code {code}):\n"
            f"{log_tail(command.log_path)}"
        )
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS, *,
         signum: int = signal.SIGTERM) -> int:
    """Send `signum` (SIGTERM: a clean shutdown), SIGKILL if still there after `timeout`; wait
    for the exit and return its code. A host in its own session is signalled as a group."""
    if process.poll() is None:
        _signal(process, signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait()
    return int(process.returncode)


def log_tail(path: Path, chars: int = 4000) -> str:
    """The end of a host's log, for an error message."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:  # leads its own group: stop its children too
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
    except ProcessLookupError:
        pass
