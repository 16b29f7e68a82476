"""What telemetry adds to a forwarded start, per start: `python -m tests.telemetry.microbench`.

Not a test (no timing is asserted anywhere): it prints microseconds per call of each piece the
hot path runs, as the router runs without OpenTelemetry configured (the default) and with an
SDK tracer (spans kept in memory), so the report can compare them with a start's CPU.
"""

from __future__ import annotations

import timeit
import uuid

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devhost.http_trigger import InvocationContext, _TraceContext
from router import telemetry

CLIENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADERS = {"traceparent": CLIENT, "content-type": "application/json", "x-functions-key": "k"}


def per_call_us(fn, number: int = 20_000) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    untraced = telemetry.Telemetry(None, None)  # the API's no-op meter: no SDK configured
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = telemetry.Telemetry(provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    parent = telemetry.IncomingTrace.of(CLIENT)
    context = InvocationContext("id", "start_orchestration", "/app", _TraceContext(CLIENT, ""))

    def span(t: telemetry.Telemetry, trace: telemetry.IncomingTrace | None) -> None:
        with t.forward_span(trace, lane="1.0", orchestrator="process_order"):
            pass

    def fields() -> None:
        with telemetry.request_context():
            telemetry.annotate(lane="1.0", version="1.0.0")
            telemetry.annotate(lane="1.0", instance_id="abc")

    def traced_span() -> None:
        span(traced, parent)
        exporter.clear()

    rows = [
        ("request_context + 2 annotate (every start)", fields),
        ("incoming_trace from context.trace_context", lambda: telemetry.incoming_trace(context, HEADERS)),
        ("incoming_trace from the header (no context)", lambda: telemetry.incoming_trace(None, HEADERS)),
        ("forward_span, no tracing, no client trace", lambda: span(untraced, None)),
        ("forward_span, no tracing, client traceparent", lambda: span(untraced, parent)),
        ("count_forwarded, no SDK (no-op meter)", lambda: untraced.count_forwarded("1.0")),
        ("dev host: context argument (uuid4 + InvocationContext)",
         lambda: InvocationContext(str(uuid.uuid4()), "start_orchestration", "/app", _TraceContext(CLIENT, ""))),
        ("forward_span with an SDK tracer (in-memory export)", traced_span),
        ("count_forwarded with an SDK meter", lambda: traced.count_forwarded("1.0")),
    ]
    for name, fn in rows:
        print(f"{per_call_us(fn):8.2f} us  {name}")


if __name__ == "__main__":
    main()
