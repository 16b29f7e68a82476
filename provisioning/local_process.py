"""Lane host processes: start a dev host in its own session, wait for it, find it again, stop it.

A lane process outlives the router that started it (its own session, so a Ctrl-C or a crash of
the router does not take the lanes down), which is why a pid alone is never trusted: a pid is
ours only if the process's start time matches the one recorded when we started it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from devhost import launcher
from devhost.launcher import HostCommand, ping_async
from devhost.ports import port_is_free
from provisioning.errors import ProvisioningError

# Children started by this process, so they can be reaped (and not linger as zombies that
# still answer "alive" to kill(pid, 0)) whichever backend instance stops them.
_children: dict[int, subprocess.Popen[bytes]] = {}


def start_time_of(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields are counted after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def is_running(pid: int | None, started: str | None = None) -> bool:
    """Whether `pid` is alive (not a zombie) and, if `started` is given, the same process."""
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
            return False
    else:
        try:
            # Reaps it if it is an exited child of ours that no Popen tracks.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        except ChildProcessError:
            pass
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    if _is_zombie(pid):
        return False
    if started is not None:
        current = start_time_of(pid)
        if current is not None and current != started:
            return False  # the pid was reused by another process
    return True


def _is_zombie(pid: int) -> bool:
    """A zombie whose threads have all exited: it holds no file (no socket) any more.

    A killed multi-threaded process shows its leader as a zombie while other threads are still
    exiting and still hold its sockets, so the zombie state alone does not mean "port released".
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if not stat[stat.rindex(")") + 2 :].startswith("Z"):
            return False
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except OSError:
        return False


async def wait_for_port(port: int, timeout: float) -> bool:
    """Wait until nobody listens on `port` (a stopped host's sockets close a moment after it)."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def start_host(command: HostCommand) -> tuple[int, str | None]:
    """Start the lane's dev host in its own session (the dev host's own launcher); return its
    pid and start time."""
    process = launcher.spawn(command, own_session=True)
    _children[process.pid] = process
    return process.pid, start_time_of(process.pid)


async def wait_until_ready(base_url: str, pid: int, started: str | None, timeout: float) -> bool:
    """Poll the ping endpoint until it answers; False if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await ping_async(base_url, timeout=1.0):
            return True
        if not is_running(pid, started):
            return False
        await asyncio.sleep(0.1)
    return False


async def stop_process(pid: int | None, started: str | None, timeout: float) -> None:
    """SIGTERM the lane's process group, SIGKILL it if it is still there after `timeout`."""
    if not pid or not is_running(pid, started):
        _children.pop(pid or 0, None)
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        _signal_group(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_running(pid, started):
                _children.pop(pid, None)
                return
            await asyncio.sleep(0.05)
    raise ProvisioningError(f"lane host process {pid} did not stop after SIGKILL")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        # The host leads its own session; signalling the group also stops any worker it spawned.
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def log_tail(path: Path, secrets: tuple[str, ...], lines: int = 12) -> str:
    """The last lines of a lane's log, with every secret masked, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())
    return redact(tail, secrets)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
