"""The bench's pure parts: nginx's generated config, wrk's script and result, the acceptance figures.

The bench itself (`make bench`) is not part of `make test`: it takes minutes and measures speed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.__main__ import acceptance
from bench.forwarding import Run, summarize
from bench.load import parse, script
from bench.nginx import config


def test_the_nginx_config_proxies_to_the_lane_over_pooled_keepalive_connections(tmp_path: Path) -> None:
    text = config(tmp_path, "127.0.0.1:7071", 8080)
    assert "server 127.0.0.1:7071;" in text and "keepalive 128;" in text
    assert "proxy_http_version 1.1;" in text and 'proxy_set_header Connection "";' in text
    assert "listen 127.0.0.1:8080;" in text and "access_log off;" in text
    assert f"pid {tmp_path}/nginx.pid;" in text


@pytest.mark.skipif(shutil.which("nginx", path="/usr/sbin:/usr/bin") is None, reason="nginx is not installed")
def test_nginx_accepts_the_generated_config(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(config(tmp_path, "127.0.0.1:7071", 8080))
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    checked = subprocess.run([str(nginx), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_wrk_script_sends_method_body_and_headers_without_lua_long_bracket_traps() -> None:
    lua = script("POST", '{"a": 1}', {"x-functions-key": "k+/=="})
    assert "wrk.method = [==[POST]==]" in lua
    assert 'wrk.body = [==[{"a": 1}]==]' in lua
    # `wrk.headers[[==[` would open a Lua long string: the key needs a space after the bracket.
    assert "wrk.headers[ [==[x-functions-key]==] ] = [==[k+/==]==]" in lua


def test_a_value_that_would_close_the_lua_string_is_refused() -> None:
    with pytest.raises(ValueError):
        script("GET", None, {"x": "a]==]b"})


def test_the_wrk_result_line_is_read_and_a_missing_one_is_an_error() -> None:
    output = 'Running 3s test\nWRK-RESULT {"requests": 300, "durationUs": 3000000, "p50Us": 1500, "p99Us": 9000, ' \
             '"non2xx": 2, "socketErrors": 1}\n'
    load = parse(output, 0.03)
    assert (load.requests, load.per_second, load.p50_ms, load.p99_ms) == (300, 100.0, 1.5, 9.0)
    assert (load.non_2xx, load.socket_errors, load.generator_cpu_seconds) == (2, 1, 0.03)
    with pytest.raises(RuntimeError, match="no result"):
        parse("Running 3s test\n", 0.0)


def _run(workload: str, concurrency: int, target: str, per_second: float, p50: float, cpu: float) -> Run:
    return Run(round=1, workload=workload, concurrency=concurrency, target=target, requests=int(per_second * 3),
               seconds=3.0, requestsPerSecond=per_second, p50Ms=p50, p99Ms=p50 * 3, non2xxAnswers=0, socketErrors=0,
               settleSeconds=0.5, proxyCpuMsPerRequest=cpu, laneCpuMsPerRequest=1.0, loadGeneratorCpuMsPerRequest=0.02)


def test_the_summary_gives_the_ratios_and_the_acceptance_says_what_is_met() -> None:
    runs = [
        _run(w, c, t, rate, p50, cpu)
        for w in ("start", "status")
        for c in (16, 64)
        for t, rate, p50, cpu in (("direct", 1000.0, 10.0, 0.0), ("nginx", 950.0, 10.5, 0.05),
                                  ("router", 900.0 if c == 16 else 800.0, 12.0, 0.3 if c == 16 else 0.4))
    ]
    summary = summarize(runs, (16, 64))
    at16 = summary["start"]["concurrency16"]
    assert (at16["routerToDirectThroughput"], at16["nginxToDirectThroughput"], at16["routerAddedP50Ms"]) == (0.9, 0.95, 2.0)
    assert at16["routerToNginxThroughput"] == round(900 / 950, 3)
    figures = acceptance(summary, {"entityReads": {"entityReadsPer1000Starts": 0.0}})
    assert figures["startRouterToDirectThroughputAt16"]["met"] is True
    assert figures["startRouterToDirectThroughputAt64"]["met"] is False  # 0.8 < 0.85
    assert figures["statusRouterAddedP50MsAt16"] == {"value": 2.0, "target": 3.0, "met": True}
    assert figures["routerCpuPerStartAt64OverAt16"]["value"] == round(0.4 / 0.3, 3)
    assert figures["routerCpuPerStartAt64OverAt16"]["met"] is False
    assert figures["entityReadsPer1000Starts"]["met"] is True
