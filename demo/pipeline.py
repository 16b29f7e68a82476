"""The release CLI as a pipeline runs it, for `make demo`: `python -m router.cli` in a subprocess,
its key in DFROUTER_KEY (never on the command line), its output shown as a pipeline's log shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from demo.router_client import RouterClient
from demo.stack import REPO

CLI_TIMEOUT = 120.0  # seconds: a replay of a few histories takes a few


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def dfrouter(router: RouterClient, key: str, *argv: str) -> CliRun:
    """`python -m router.cli ARGV` against `router` with `key` (the role the command needs)."""
    env = {**os.environ, "DFROUTER_URL": router.base_url, "DFROUTER_KEY": key}
    done = subprocess.run([sys.executable, "-m", "router.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, check=False)
    return CliRun(done.returncode, done.stdout, done.stderr)


def check_patch(router: RouterClient, lane: str, package: Path, out_file: Path) -> CliRun:
    """`check-patch` (an admin's key: histories carry inputs and outputs); its output kept in
    `out_file`, as a pipeline tees it for `release --replay-check`."""
    run = dfrouter(router, router.master_key, "check-patch", "--lane", lane, "--package", str(package))
    out_file.write_text(run.out, encoding="utf-8")
    return run


def indented(text: str) -> str:
    return "\n".join(f"        {line}" for line in text.rstrip().splitlines())
