"""The router's telemetry: log fields, W3C trace context to the lanes, OpenTelemetry, counters.

- Log fields. Every record logged while a request or activity is handled carries `lane`,
  `version`, `instanceId` and `releaseId` as far as they are known: the edges (HTTP handlers,
  activity glue) open a `request_context()` and `annotate()` it as facts become known; a
  `ContextFilter` on the handlers copies the fields onto each record (the record's extra, which
  Azure Monitor's log handler exports as `customDimensions`), and `JsonFormatter` writes the
  router's lines as one JSON object each on the console, unknown fields as null.
- Trace context. A start forwarded to a lane runs in one span of the router (`forward_span`)
  whose parent is the caller's: the Functions host's `context.trace_context` on Azure, the
  client's `traceparent` header otherwise. The lane call carries that span as its
  `traceparent`, so one trace shows client, router and lane. Without an OpenTelemetry SDK the
  router still hands a child of the client's traceparent on (a new span id, no export), so
  lanes correlate; with neither, it sends none.
- OpenTelemetry. `configure()` (once per process) sets up Azure Monitor when
  `APPLICATIONINSIGHTS_CONNECTION_STRING` is set, console exporters when `ROUTER_OTEL_CONSOLE`
  is true, neither otherwise: then the metrics API's no-op meter takes the counts.

No Azure import here beyond the optional `azure.monitor.opentelemetry`, imported only when its
connection string is set. docs/telemetry.md says what shows where.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from provisioning.env_reader import EnvReader
from provisioning.errors import ConfigError
from router.errors import SettingsError

log = logging.getLogger("router.telemetry")

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CONSOLE_SETTING = "ROUTER_OTEL_CONSOLE"  # true: spans and metrics printed on stdout (local runs)
LOG_FORMAT_SETTING = "ROUTER_LOG_FORMAT"  # json (default) or text: the router's console lines
LOG_FIELDS = ("lane", "version", "instanceId", "releaseId")
# Loggers whose console lines are JSON; a host's or library's own lines keep the host's format.
JSON_LOGGERS = ("router", "provisioning", "function_app")
TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
INSTRUMENTATION_NAME = "durable-app-router"


# --- log fields -----------------------------------------------------------------------------------

class LogFields(NamedTuple):
    """What is known about the work being logged; None when not (yet) known. A tuple: starts
    build two or three of these, and a frozen dataclass costs several times more to build."""

    lane: str | None = None
    version: str | None = None
    instance_id: str | None = None
    release_id: str | None = None

    def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        """The known fields under their log names (camelCase, as the API spells them)."""
        for name, value in (("lane", self.lane), ("version", self.version),
                            ("instanceId", self.instance_id), ("releaseId", self.release_id)):
            if value is not None:
                yield name, value


NO_FIELDS = LogFields()
_fields: ContextVar[LogFields] = ContextVar("router_log_fields", default=NO_FIELDS)


class request_context:  # noqa: N801 - used as a function: `with request_context(...):`
    """Fields for every line logged inside, starting from `known`; restored on the way out, so
    one request's fields never reach the next one's lines. (A class: a generator-based context
    manager costs more than the rest of it.)"""

    __slots__ = ("_fields", "_token")

    def __init__(self, **known: str | None) -> None:
        self._fields = LogFields(**known) if known else NO_FIELDS

    def __enter__(self) -> None:
        self._token = _fields.set(self._fields)

    def __exit__(self, *exc_info: object) -> None:
        _fields.reset(self._token)


def annotate(**known: str | None) -> None:
    """Add what became known to the current request's fields (None leaves a field as it is)."""
    now = _fields.get()
    _fields.set(LogFields(
        known.get("lane") or now.lane, known.get("version") or now.version,
        known.get("instance_id") or now.instance_id, known.get("release_id") or now.release_id,
    ))


def current_fields() -> LogFields:
    return _fields.get()


def payload_fields(payload: Any) -> dict[str, str | None]:
    """Log fields of an activity's input as it arrives (its JSON form, see durable_inputs):
    `lane` is a lane key or a LaneSpec, `release` a Release (or `release_id` its id),
    `instance_id` a target instance."""
    if not isinstance(payload, Mapping):
        return {}
    lane, version = payload.get("lane"), payload.get("version")
    if isinstance(lane, Mapping):  # a LaneSpec
        lane, version = lane.get("lane"), lane.get("version")
    release, release_id = payload.get("release"), payload.get("release_id") or None
    if isinstance(release, Mapping) and release.get("version"):
        from router.lanes import Release  # pure; imported late so this module stays light

        shown = Release(**{k: v for k, v in release.items() if k in Release.__dataclass_fields__})
        release_id, version = shown.id, version or shown.version
    instance_id = payload.get("instance_id")
    return {
        "lane": lane if isinstance(lane, str) and lane else None,
        "version": version if isinstance(version, str) and version else None,
        "instance_id": instance_id if isinstance(instance_id, str) and instance_id else None,
        "release_id": release_id if isinstance(release_id, str) and release_id else None,
    }


class ContextFilter(logging.Filter):
    """Puts the current log fields on each record a handler takes (never drops one).

    A handler's filter, not a record factory: `extra={"lane": ...}` from a caller would make
    `Logger.makeRecord` refuse a record whose factory had already set the name. A field the
    caller passed in `extra` wins. Only known fields are set: OpenTelemetry's log handler turns
    record attributes into `customDimensions` and refuses None values.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        # Held by the filter: at interpreter shutdown the module's globals are already None while
        # aiohttp still logs its unclosed-session warnings through this filter.
        self._current_fields = _fields.get

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in self._current_fields().items():
            if name not in record.__dict__:
                record.__dict__[name] = value
        return True


# Credentials as they appear in URLs, settings and headers: a query `sig=`/`code=`, a connection
# string's `AccountKey=`/`SharedAccessKey=`, an `x-functions-key` header. The router never logs
# them (architecture.md "Secrets"); this is the second line, for a message that would.
_SECRET = re.compile(
    r"(?i)\b(sig|code|accountkey|sharedaccesskey|sharedaccesssignature|password|x-functions-key"
    r"|instrumentationkey)(['\"]?\s*[=:]\s*)(['\"]?)[^&;,\s'\"]+"
)
_SECRET_HINT = re.compile(r"(?i)sig|code|key|password|sharedaccess")


def redact(text: str) -> str:
    """`text` with credential values replaced by `<redacted>`."""
    if not _SECRET_HINT.search(text):
        return text  # the common case: one scan, no substitution
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}<redacted>", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line for the router's records; others go to `fallback` unchanged.

    `{"time", "level", "logger", "message", "lane", "version", "instanceId", "releaseId"}` plus
    `"exception"` when there is one; a field not known for the record is null.
    """

    def __init__(self, fallback: logging.Formatter | None = None, *, loggers: tuple[str, ...] = JSON_LOGGERS) -> None:
        super().__init__()
        self._fallback = fallback or logging.Formatter()
        self._loggers = loggers

    def _is_ours(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self._loggers)

    def format(self, record: logging.LogRecord) -> str:
        if not self._is_ours(record.name):
            return self._fallback.format(record)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in LOG_FIELDS:
            line[name] = record.__dict__.get(name)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


# --- W3C trace context ----------------------------------------------------------------------------

# Version 00 is exactly these four fields; a later version may append "-..." (the spec's rule).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header)."""

    trace_id: str  # 32 lower-case hex digits, not all zero
    span_id: str  # 16 lower-case hex digits, not all zero
    flags: str  # 2 hex digits; 01 = sampled

    @classmethod
    def parse(cls, header: str | None) -> TraceParent | None:
        """The header's value when it is a valid version-00 traceparent (or a later version's
        first four fields, as the spec asks a parser to take them); None otherwise."""
        match = _TRACEPARENT.fullmatch(header.strip()) if header else None
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        return cls(trace_id, span_id, flags)

    def child(self) -> TraceParent:
        """The same trace, a new span: what a hop that records no span of its own passes on."""
        return TraceParent(self.trace_id, os.urandom(8).hex(), self.flags)

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


@dataclass(frozen=True, slots=True)
class IncomingTrace:
    """The trace context a piece of work was called in: its traceparent (valid) and tracestate."""

    parent: TraceParent
    tracestate: str = ""

    @classmethod
    def of(cls, traceparent: str | None, tracestate: str | None = None) -> IncomingTrace | None:
        parent = TraceParent.parse(traceparent)
        return cls(parent, tracestate or "") if parent is not None else None

    @property
    def traceparent(self) -> str:
        return self.parent.header()


def incoming_trace(context: Any, headers: Mapping[str, str]) -> IncomingTrace | None:
    """The parent of the router's span for a request.

    On Azure, the Functions host passes its own span for the invocation (`Activity.Current.Id`,
    azure-functions-host `src/WebJobs.Script.Grpc/MessageExtensions/GrpcMessageConversionExtensions.cs`
    GetRpcTraceContext), itself a child of the client's traceparent; the Python worker exposes it
    as `context.trace_context` (`Traceparent`/`Tracestate` in azure-functions-python-worker
    `azure_functions_worker/bindings/tracecontext.py`, `trace_parent`/`trace_state` in
    azure-functions' `_abc.TraceContext`). Without a usable one, the request's own header.
    """
    trace_context = getattr(context, "trace_context", None)
    if trace_context is not None:
        parent = getattr(trace_context, "Traceparent", None) or getattr(trace_context, "trace_parent", None)
        state = getattr(trace_context, "Tracestate", None) or getattr(trace_context, "trace_state", None)
        found = IncomingTrace.of(parent, state)
        if found is not None:
            return found
    return IncomingTrace.of(headers.get(TRACEPARENT), headers.get(TRACESTATE))


# --- OpenTelemetry: spans and counters ------------------------------------------------------------

NO_HEADERS: Mapping[str, str] = {}
_propagator = TraceContextTextMapPropagator()


class Telemetry:
    """The router's span and instruments, from the given providers (tests pass SDK ones with
    in-memory exporters; `configure` the global ones). With `tracer_provider` None no span is
    recorded and `forward_span` only passes a child traceparent on."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self._tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME) if tracer_provider is not None else None
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(INSTRUMENTATION_NAME)
        self.forwarded_starts = meter.create_counter(
            "router.starts.forwarded", unit="{start}", description="Starts forwarded to a lane, by lane")
        self.held_starts = meter.create_counter(
            "router.starts.held", unit="{start}", description="Starts held for a lane still provisioning, by lane")
        self._draining: dict[str, int] = {}
        self._draining_lock = threading.Lock()
        meter.create_observable_gauge(
            "router.lane.draining.in_flight", callbacks=[self._observe_draining], unit="{instance}",
            description="Instances in flight on a draining lane, at the drain monitor's last count")

    def forward_span(self, parent: IncomingTrace | None, *, lane: str,
                     orchestrator: str) -> contextlib.AbstractContextManager[Mapping[str, str]]:
        """The router's span around forwarding a start; gives the trace headers for the lane."""
        if self._tracer is None:
            return _Headers(_child_headers(parent))
        return self._recorded_span(parent, lane, orchestrator)

    @contextlib.contextmanager
    def _recorded_span(self, parent: IncomingTrace | None, lane: str, orchestrator: str) -> Iterator[Mapping[str, str]]:
        assert self._tracer is not None
        context: Context | None = None
        if parent is not None:
            carrier = {TRACEPARENT: parent.traceparent, TRACESTATE: parent.tracestate}
            context = _propagator.extract(carrier)
        with self._tracer.start_as_current_span(
            "forward start", context=context, kind=trace.SpanKind.CLIENT,
            attributes={"router.lane": lane, "router.orchestrator": orchestrator},
        ):
            carried: dict[str, str] = {}
            _propagator.inject(carried)
            yield carried

    @property
    def tracing(self) -> bool:
        return self._tracer is not None

    def count_forwarded(self, lane: str) -> None:
        self.forwarded_starts.add(1, {"lane": lane})

    def count_held(self, lane: str) -> None:
        self.held_starts.add(1, {"lane": lane})

    def record_draining(self, lane: str, in_flight: int) -> None:
        """The drain monitor's latest count of a draining lane."""
        with self._draining_lock:
            self._draining[lane] = in_flight

    def lane_deleted(self, lane: str) -> None:
        """The lane is gone: it drains no more."""
        with self._draining_lock:
            self._draining.pop(lane, None)

    def _observe_draining(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        with self._draining_lock:
            counts = dict(self._draining)
        return [metrics.Observation(count, {"lane": lane}) for lane, count in counts.items()]


class _Headers:
    """A context manager that only gives `headers`: the span of a router that records none."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def __enter__(self) -> Mapping[str, str]:
        return self._headers

    def __exit__(self, *exc_info: object) -> None:
        return None


def _child_headers(parent: IncomingTrace | None) -> Mapping[str, str]:
    """What a router that records no span passes on: a child of the caller's traceparent (so the
    lane's work still joins the client's trace), or nothing when the caller sent none."""
    if parent is None:
        return NO_HEADERS
    child = parent.parent.child().header()
    return {TRACEPARENT: child, TRACESTATE: parent.tracestate} if parent.tracestate else {TRACEPARENT: child}


_current: Telemetry | None = None


def current() -> Telemetry:
    global _current
    if _current is None:
        _current = Telemetry()  # the API's global providers: no-ops until an SDK is configured
    return _current


def install(telemetry: Telemetry | None) -> Telemetry | None:
    """Use `telemetry` from now on (None: the default); returns the one it replaces."""
    global _current
    previous, _current = _current, telemetry
    return previous


# --- configuration, once per process --------------------------------------------------------------

@dataclass(frozen=True)
class TelemetrySettings:
    connection_string: str = ""  # never logged: it carries the instrumentation key
    console: bool = False
    json_logs: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TelemetrySettings:
        """Read with the settings' own reader (the same words for a flag, the same error naming
        the setting); read apart from `Settings` because it runs first, before anything logs."""
        reader = EnvReader(environ)
        try:
            return cls(
                connection_string=reader.text(CONNECTION_STRING_SETTING, ""),
                console=reader.flag(CONSOLE_SETTING, False),
                json_logs=reader.choice(LOG_FORMAT_SETTING, ("json", "text"), "json") == "json",
            )
        except ConfigError as err:
            raise SettingsError(err.message, setting=err.setting) from None


_configure_lock = threading.Lock()
_configured = False


def configure(environ: Mapping[str, str]) -> bool:
    """Set up the process's telemetry from `environ`; only the first call does anything (a second
    OpenTelemetry setup would export everything twice). Returns whether this call did it."""
    global _configured
    with _configure_lock:
        if _configured:
            return False
        _configured = True
    settings = TelemetrySettings.from_env(environ)
    tracer_provider: trace.TracerProvider | None = None
    existing = trace.get_tracer_provider()
    if not isinstance(existing, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        # Someone set up OpenTelemetry before the app was imported: the Python worker does under
        # PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true (azure-functions-python-worker's
        # initialize_azure_monitor calls configure_azure_monitor). Use theirs: twice exports twice.
        tracer_provider = existing
    elif settings.connection_string:
        tracer_provider = _configure_azure_monitor(settings.connection_string)
    elif settings.console:
        tracer_provider = _configure_console()
    install(Telemetry(tracer_provider, metrics.get_meter_provider()))
    install_log_fields(logging.getLogger(), json_lines=settings.json_logs)
    return True


def install_log_fields(logger: logging.Logger, *, json_lines: bool) -> None:
    """Put a `ContextFilter` on each of `logger`'s handlers and, with `json_lines`, a
    `JsonFormatter` on its plain console ones (keeping their format for other loggers' lines)."""
    for handler in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if json_lines and type(handler) is logging.StreamHandler and not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter(handler.formatter))


def _configure_azure_monitor(connection_string: str) -> trace.TracerProvider | None:
    # Imported here: a router without the setting never pays for (or needs) the package.
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError:
        log.warning("%s is set but azure-monitor-opentelemetry is not installed: no telemetry is exported",
                    CONNECTION_STRING_SETTING)
        return None
    configure_azure_monitor(connection_string=connection_string)
    return trace.get_tracer_provider()


def _configure_console() -> trace.TracerProvider:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[PeriodicExportingMetricReader(ConsoleMetricExporter())]))
    return tracer_provider
