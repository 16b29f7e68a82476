"""The pure parts of router.telemetry: W3C traceparent parsing, where a request's trace comes
from, log fields and their JSON lines, redaction. W3C Trace Context, level 1:
https://www.w3.org/TR/trace-context/#traceparent-header (version 00: exactly 55 characters,
lower-case hex; all-zero ids and version ff invalid; a later version may append fields)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from devhost.http_trigger import InvocationContext, _TraceContext
from router import telemetry
from router.errors import SettingsError
from router.telemetry import (
    ContextFilter, IncomingTrace, JsonFormatter, TraceParent, annotate, incoming_trace, payload_fields, redact,
    request_context,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(("header", "valid"), [
    (VALID, True),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", True),  # not sampled
    ("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds", True),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", False),  # version 00 is exact
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
    ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
    ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", False),  # upper case
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", False),
    ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", False),
    ("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", False),
    ("", False),
    (None, False),
])
def test_traceparent_parsing(header: str | None, valid: bool) -> None:
    assert (TraceParent.parse(header) is not None) is valid


def test_a_child_keeps_the_trace_and_flags_with_a_new_span() -> None:
    parent = TraceParent.parse(VALID)
    assert parent is not None and parent.header() == VALID
    child = parent.child()
    assert (child.trace_id, child.flags) == (parent.trace_id, parent.flags)
    assert child.span_id != parent.span_id and TraceParent.parse(child.header()) == child


def test_the_hosts_trace_context_wins_over_the_request_header() -> None:
    host_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
    context = InvocationContext("id", "start_orchestration", "/app", _TraceContext(host_span, "a=1"))
    assert incoming_trace(context, {"traceparent": VALID}) == IncomingTrace.of(host_span, "a=1")
    # The Python worker's own object spells them Traceparent/Tracestate
    # (azure-functions-python-worker azure_functions_worker/bindings/tracecontext.py).
    worker_like = type("Ctx", (), {"trace_context": type("Tc", (), {"Traceparent": host_span, "Tracestate": ""})()})()
    assert incoming_trace(worker_like, {}) == IncomingTrace.of(host_span, "")
    # None or unusable from the host: the request's own header, else nothing.
    empty = InvocationContext("id", "start_orchestration", "/app", _TraceContext("", ""))
    assert incoming_trace(empty, {"traceparent": VALID, "tracestate": "b=2"}) == IncomingTrace.of(VALID, "b=2")
    assert incoming_trace(None, {"traceparent": "garbage"}) is None
    assert incoming_trace(None, {}) is None


def test_the_dev_hosts_trace_context_answers_both_spellings() -> None:
    context = _TraceContext(VALID, "a=1")
    assert (context.trace_parent, context.trace_state) == (context.Traceparent, context.Tracestate) == (VALID, "a=1")
    assert context.attributes == context.Attributes == {}


def record(name: str = "router.forwarding", message: str = "hello %s", *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args or ("world",), None)


def test_fields_are_set_at_the_edge_grow_as_known_and_end_with_it() -> None:
    with request_context(lane="1.0"):
        annotate(version="1.0.3", instance_id=None)
        annotate(instance_id="order-1")
        inside = record()
        ContextFilter().filter(inside)
        with request_context():  # a nested edge (an activity run in the same task) starts empty
            assert telemetry.current_fields() == telemetry.NO_FIELDS
    after = record()
    ContextFilter().filter(after)
    assert (inside.lane, inside.version, inside.instanceId) == ("1.0", "1.0.3", "order-1")  # type: ignore[attr-defined]
    assert not hasattr(inside, "releaseId")  # unknown: not set, so OpenTelemetry gets no None attribute
    assert not hasattr(after, "lane")


def test_a_field_passed_as_extra_wins() -> None:
    logger = logging.getLogger("router.test_extra")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    try:
        with request_context(lane="1.0", version="1.0.0"):
            logger.warning("lane %s", "2.0", extra={"lane": "2.0"})
    finally:
        logger.removeHandler(handler)
    assert (seen[0].lane, seen[0].version) == ("2.0", "1.0.0")  # type: ignore[attr-defined]


def test_the_routers_lines_are_json_with_null_for_unknown_fields_and_others_keep_their_format() -> None:
    formatter = JsonFormatter(logging.Formatter("[host] %(message)s"))
    ours = record()
    with request_context(lane="1.0", release_id="release-1.0.0-abc"):
        ContextFilter().filter(ours)
    line = json.loads(formatter.format(ours))
    assert line["message"] == "hello world" and line["logger"] == "router.forwarding" and line["level"] == "INFO"
    assert (line["lane"], line["version"], line["instanceId"], line["releaseId"]) == (
        "1.0", None, None, "release-1.0.0-abc")
    assert line["time"].endswith("Z")
    assert formatter.format(record("devhost", "Host started: %s", "http://127.0.0.1:7071")) == (
        "[host] Host started: http://127.0.0.1:7071")


def test_an_exception_is_one_json_line_too() -> None:
    try:
        raise RuntimeError("boom with sig=abc")
    except RuntimeError:
        failed = logging.LogRecord("router.http", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = JsonFormatter().format(failed)
    assert "\n" not in text
    line = json.loads(text)
    assert "RuntimeError" in line["exception"] and "sig=abc" not in line["exception"]


@pytest.mark.parametrize(("text", "secret"), [
    ("GET https://st.blob.core.windows.net/p/1.0.0.zip?sv=2022-11-02&sig=c2VjcmV0%3D&se=2030", "c2VjcmV0%3D"),
    ("https://lane.azurewebsites.net/runtime/webhooks/durabletask/instances?code=abcDEF123==", "abcDEF123=="),
    ("DefaultEndpointsProtocol=https;AccountName=st;AccountKey=bXlrZXk=;EndpointSuffix=core", "bXlrZXk="),
    ("InstrumentationKey=00000000-1111-2222-3333-444444444444;IngestionEndpoint=https://x", "1111-2222"),
    ("headers: {'x-functions-key': 'k3y-value'}", "k3y-value"),
    ("Endpoint=sb://ns/;SharedAccessKeyName=root;SharedAccessKey=c2Fz", "c2Fz"),
])
def test_credentials_are_redacted_from_a_line(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted and "<redacted>" in redacted


def test_a_line_without_credentials_is_left_as_it_is() -> None:
    text = "lane 1.0: app lane-1-0 at http://127.0.0.1:7072; 3 instance(s) in flight, code path ok"
    assert redact(text) == text


def test_an_activitys_fields_come_from_its_input() -> None:
    from provisioning.base import AppRef, LaneSpec, Package
    from router.durable_inputs import DeployRequest, LaneCommand, to_json
    from router.lanes import Release

    release = Release("1.2.3", "https://st.blob.core.windows.net/p/1.2.3.zip?sig=secret")
    command = to_json(LaneCommand(lane="1.2", release=release))
    assert payload_fields(command) == {
        "lane": "1.2", "version": "1.2.3", "instance_id": None, "release_id": release.id}
    # The shown form (secret taken out, id pinned) names the same release.
    assert payload_fields(to_json(LaneCommand(lane="1.2", release=release.shown())))["release_id"] == release.id
    spec = {"lane": {"lane": "1.2", "version": "1.2.3", "task_hub": "Lane12"}, "app": {"name": "lane-1-2"}}
    assert payload_fields(spec) == {"lane": "1.2", "version": "1.2.3", "instance_id": None, "release_id": None}
    deploy = to_json(DeployRequest(LaneSpec("1.2", "1.2.3", "Lane12"), AppRef("lane-1-2", "http://lane"),
                                   Package("https://st/p.zip"), release_id=release.id))
    assert payload_fields(deploy) == {"lane": "1.2", "version": "1.2.3", "instance_id": None, "release_id": release.id}
    forward = {"lane": "1.2", "instance_id": "order-7", "app": {}}
    assert payload_fields(forward)["instance_id"] == "order-7"
    assert payload_fields("not an object") == {}


def test_a_bad_telemetry_setting_is_refused_by_name() -> None:
    for setting, bad in (("ROUTER_LOG_FORMAT", "xml"), ("ROUTER_OTEL_CONSOLE", "maybe")):
        with pytest.raises(SettingsError, match=setting) as refused:
            telemetry.TelemetrySettings.from_env({setting: bad})
        assert refused.value.details.get("setting") == setting
    settings = telemetry.TelemetrySettings.from_env({"ROUTER_OTEL_CONSOLE": "TRUE"})
    assert settings.console and settings.json_logs and not settings.connection_string
