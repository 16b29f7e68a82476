"""Lane processes: whether a recorded pid is still our host, stopping a process group, ports."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from devhost.ports import free_port, port_is_free
from provisioning import local_process


def _sleeper() -> subprocess.Popen[bytes]:
    # A process that ignores SIGTERM, as a hung host would, in its own session like a lane.
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None and process.stdout.readline() == b"up\n"
    return process


def test_a_recorded_pid_is_ours_only_with_the_same_start_time() -> None:
    process = _sleeper()
    try:
        started = local_process.start_time_of(process.pid)
        assert started is not None
        assert local_process.is_running(process.pid, started)
        assert not local_process.is_running(process.pid, "1")  # the pid reused by someone else
    finally:
        process.kill()
        process.wait()
    assert not local_process.is_running(process.pid, started)


def test_stop_escalates_to_sigkill_and_reaps_an_untracked_child() -> None:
    process = _sleeper()
    started = local_process.start_time_of(process.pid)
    asyncio.run(local_process.stop_process(process.pid, started, timeout=0.3))
    # Stopped and reaped through waitpid, although no Popen of local_process tracked it.
    assert not local_process.is_running(process.pid, started)
    assert process.poll() is not None


def test_stopping_a_missing_process_is_fine() -> None:
    asyncio.run(local_process.stop_process(None, None, timeout=0.1))
    asyncio.run(local_process.stop_process(2**22 + 17, None, timeout=0.1))


def test_port_is_free_sees_listeners_only() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
    assert port_is_free(free_port())


def test_log_tail_masks_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "host.log"
    log.write_text("starting\nkey is s3cr3t-key\nboom\n")
    tail = local_process.log_tail(log, ("s3cr3t-key",))
    assert "s3cr3t-key" not in tail and "key is ***" in tail and "boom" in tail
