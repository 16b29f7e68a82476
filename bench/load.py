"""The load generator: wrk (C, from Debian), whose own CPU per request is measured and reported.

One wrk thread keeps `concurrency` connections busy for a fixed time. Method, body and headers
go in a generated Lua script (not argv, where a key would show in `ps`), and the script's
`done` hook prints the figures as one JSON line.
"""

from __future__ import annotations

import json
import resource
import subprocess
import tempfile
from dataclasses import dataclass

from bench.setup import tool

_MARK = "WRK-RESULT "

_SCRIPT = """\
wrk.method = [==[{method}]==]
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{mark}{{"requests": %d, "durationUs": %d, "p50Us": %d, "p99Us": %d, ' ..
    '"non2xx": %d, "socketErrors": %d}}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    generator_cpu_seconds: float  # wrk's own user + system CPU

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(value: str) -> str:
    if "]==]" in value:
        raise ValueError("a value the bench sends contains ']==]'")
    return f"[==[{value}]==]"


def script(method: str, body: str | None, headers: dict[str, str]) -> str:
    return _SCRIPT.format(
        method=method,
        body=f"wrk.body = {_lua_string(body)}" if body is not None else "",
        headers="\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()),
        mark=_MARK,
    )


def parse(output: str, cpu_seconds: float) -> Load:
    line = next((line for line in output.splitlines() if line.startswith(_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    figures = json.loads(line[len(_MARK):])
    return Load(
        requests=int(figures["requests"]),
        seconds=figures["durationUs"] / 1e6,
        p50_ms=figures["p50Us"] / 1000,
        p99_ms=figures["p99Us"] / 1000,
        non_2xx=int(figures["non2xx"]),
        socket_errors=int(figures["socketErrors"]),
        generator_cpu_seconds=cpu_seconds,
    )


def wrk(url: str, *, method: str, body: str | None, headers: dict[str, str], concurrency: int,
        seconds: float) -> Load:
    """`concurrency` connections sending the same request for `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as lua:
        lua.write(script(method, body, headers))
        lua.flush()
        # Only wrk is reaped while it runs (nginx and the hosts outlive it): the children's
        # rusage grows by wrk's CPU alone.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [tool("wrk"), "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s", "-s", lua.name, url],
            capture_output=True, text=True, timeout=seconds + 60,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return parse(done.stdout, cpu)


