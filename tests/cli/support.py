"""Running `dfrouter` in-process for the CLI's tests: its exit code and what it wrote."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from router.cli.main import main


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def dfrouter(*argv: str, env: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None,
             secrets: tuple[str, ...] = (), **seams: Any) -> Run:
    """main(argv) with non-terminal streams (a pipeline's log); fails if a secret was printed."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, env=env or {}, transport=transport, **seams)
    run = Run(code, out.getvalue(), err.getvalue())
    for secret in secrets:
        assert secret not in run.out + run.err, "a secret was printed"
    return run
