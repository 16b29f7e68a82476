"""A lock file per lane or cached install, for every caller on the machine.

`flock` on a freshly opened file excludes every other open of it, whether in another router
process, another thread or another event loop of this one. Waiting polls without blocking, so a
waiting coroutine neither holds its loop nor leaves a thread behind when it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from pathlib import Path
from typing import AsyncIterator, Iterator

_POLL_SECONDS = 0.05


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock_file:
        while True:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def blocking_file_lock(path: Path) -> Iterator[None]:
    """`file_lock` for synchronous callers (a build run from a command line or a thread): waits
    in the kernel, which is fine where no event loop is held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
