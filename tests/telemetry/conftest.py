"""Fixtures of the telemetry tests: the router's JSON log lines, and OpenTelemetry SDK providers
with in-memory exporters installed as the router's telemetry for one test (never as the
process's global providers, which can be set only once)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import telemetry


class LogLines:
    """Every line logged while the fixture is active, formatted as the router's console does."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def ours(self) -> list[dict[str, Any]]:
        """The router's lines, parsed (each must be one JSON object)."""
        return [json.loads(line) for line in self.text() if line.startswith("{")]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    lines = LogLines()
    handler = logging.StreamHandler(lines.stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    # The dev host's console handler is a plain StreamHandler like this one: the same install.
    telemetry.install_log_fields(root, json_lines=True)
    levels = {name: logging.getLogger(name).level for name in ("", "router", "provisioning")}
    root.setLevel(logging.DEBUG)
    for name in ("router", "provisioning"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@dataclass
class Exported:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    def points(self, metric: str) -> dict[str, float]:
        """The latest value of `metric` per lane."""
        data = self.metrics.get_metrics_data()
        found: dict[str, float] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        for point in item.data.data_points:
                            found[str(point.attributes.get("lane"))] = point.value
        return found


@pytest.fixture
def exported() -> Iterator[Exported]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    previous = telemetry.install(telemetry.Telemetry(tracer_provider, MeterProvider(metric_readers=[reader])))
    try:
        yield Exported(spans, reader)
    finally:
        telemetry.install(previous)
        tracer_provider.shutdown()


@pytest.fixture
def untraced() -> Iterator[Exported]:
    """The router as it runs with no OpenTelemetry configured: no span recorded, counts kept."""
    reader = InMemoryMetricReader()
    previous = telemetry.install(telemetry.Telemetry(None, MeterProvider(metric_readers=[reader])))
    try:
        yield Exported(InMemorySpanExporter(), reader)
    finally:
        telemetry.install(previous)
