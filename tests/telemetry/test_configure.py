"""`telemetry.configure` in a process of its own (OpenTelemetry's global providers can be set
only once per process, so never in the test process): the console exporter shows the router's
span as the client's child, Azure Monitor is set up only with its connection string, and never
twice. Azure Monitor distro: https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-enable?tabs=python
(`configure_azure_monitor(connection_string=...)`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Points at a closed local port: nothing leaves the machine.
CONNECTION_STRING = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                     "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/")


def run_python(script: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "ROUTER_OTEL_CONSOLE", "ROUTER_LOG_FORMAT")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=45,
        env={**clean, "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_console_exporter_shows_the_routers_span_as_the_clients_child() -> None:
    out = run_python(f"""
        import json, os, sys
        from router import telemetry
        assert telemetry.configure(os.environ)
        with telemetry.current().forward_span(
                telemetry.IncomingTrace.of({CLIENT_TRACEPARENT!r}), lane="1.0", orchestrator="o") as headers:
            print("HEADERS " + json.dumps(dict(headers)), flush=True)
        print("AZURE_MONITOR_IMPORTED", "azure.monitor.opentelemetry" in sys.modules, flush=True)
    """, ROUTER_OTEL_CONSOLE="true")
    headers_line = next(line for line in out.splitlines() if line.startswith("HEADERS "))
    headers = json.loads(headers_line[len("HEADERS "):])
    span, _ = json.JSONDecoder().raw_decode(out[out.index("{", out.index(headers_line) + len(headers_line)):])
    assert span["name"] == "forward start" and span["kind"] == "SpanKind.CLIENT"
    assert span["parent_id"] == "0x00f067aa0ba902b7"
    assert span["context"]["trace_id"] == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    assert headers["traceparent"] == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span['context']['span_id'][2:]}-01"
    assert "AZURE_MONITOR_IMPORTED False" in out


def test_azure_monitor_is_configured_from_its_connection_string_once() -> None:
    out = run_python("""
        import logging, os
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider
        from router import telemetry
        assert telemetry.configure(os.environ)
        tracer_provider = trace.get_tracer_provider()
        assert isinstance(tracer_provider, TracerProvider)
        assert isinstance(metrics.get_meter_provider(), MeterProvider)
        # Never twice: a second call (a second import of the app, another setting) changes nothing.
        assert not telemetry.configure({"ROUTER_OTEL_CONSOLE": "true"})
        assert trace.get_tracer_provider() is tracer_provider
        handlers = logging.getLogger().handlers
        names = [type(h).__name__ for h in handlers]
        assert "LoggingHandler" in names, names
        assert all(any(isinstance(f, telemetry.ContextFilter) for f in h.filters) for h in handlers)
        print("OK", flush=True)
        os._exit(0)  # no export at exit: the endpoint is a closed port
    """, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)
    assert "OK" in out


def test_without_settings_nothing_is_exported_and_azure_monitor_is_never_imported() -> None:
    out = run_python("""
        import os, sys
        from opentelemetry import trace
        from router import telemetry
        assert telemetry.configure(os.environ)
        with telemetry.current().forward_span(None, lane="1.0", orchestrator="o") as headers:
            assert dict(headers) == {}
        print(type(trace.get_tracer_provider()).__name__, "azure.monitor.opentelemetry" in sys.modules)
    """)
    assert out.split() == ["ProxyTracerProvider", "False"]


def test_opentelemetry_set_up_before_the_app_is_used_not_set_up_again() -> None:
    out = run_python("""
        import os
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        theirs = TracerProvider()  # as the Python worker's own Azure Monitor setup leaves it
        trace.set_tracer_provider(theirs)
        from router import telemetry
        assert telemetry.configure(os.environ)
        assert trace.get_tracer_provider() is theirs
        assert telemetry.current().tracing
        print("OK", "azure.monitor.opentelemetry" in __import__("sys").modules, flush=True)
        os._exit(0)
    """, APPLICATIONINSIGHTS_CONNECTION_STRING=CONNECTION_STRING)
    assert out.split() == ["OK", "False"]
