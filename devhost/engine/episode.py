"""One orchestration episode: feed new events to the SDK's replay engine and turn the actions it
returns into history and work, numbering tasks exactly as the SDK does.

How the SDK numbers tasks (azure/durable_functions/models/DurableOrchestrationContext.py and
Task.py): a counter starts at 0 for each execution; every task the orchestrator yields for the
first time takes the next number, in the order its action is appended to the cumulative action
list (so "new actions" are simply the list's tail past what we already handled). Exceptions:
WaitForExternalEvent takes no number (it is matched by name); SignalEntity and ContinueAsNew take
one although nothing waits on them; and a retry task takes extra numbers while history replays:
one for a timer when an attempt fails (also after the last attempt: the SDK waits for that extra
timer before it surfaces the error) and one for the next attempt when such a timer fires.
Those extra numbers are taken when the SDK processes the failure / timer event, so within an
episode the engine puts those events first: their numbers then come before any number the
orchestrator's new yields take, on this run and on every later replay.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from devhost.engine import history as h
from devhost.engine.history import EventType
from devhost.engine.model import (
    EntityOp,
    Instance,
    Message,
    new_runtime,
    split_entity_id,
)
from devhost.engine.runtime_status import TERMINAL, RuntimeStatus

# The replay schema the host announces (`upperSchemaVersion`): V3 = 2, the newest of
# azure-functions-durable 1.7.0 (azure/durable_functions/models/ReplaySchema.py). A constant of
# the host's, not read from the SDK: the SDK is the app's dependency, in its package, not the
# host's. Long timers are not split: the host never sends maximumShortTimerDuration.
REPLAY_SCHEMA = 2
HTTP_ACTIVITY = "BuiltIn::HttpActivity"
OUT_OF_PROC_MARKER = "$OutOfProcData$:"

CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
ACTIVITY_ACTIONS = (0, CALL_ACTIVITY_WITH_RETRY)
SUB_ORCHESTRATION_ACTIONS = (2, CALL_SUB_ORCHESTRATOR_WITH_RETRY)
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EVENT = 6
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
COMPOUND_ACTIONS = (11, 12)


@dataclass
class NewWork:
    task_id: int
    name: str
    input: str | None
    kind: str = "activity"


@dataclass
class NewChild:
    """A sub-orchestration to start (or to fail at once when its id is taken)."""

    instance_id: str
    name: str
    input: str | None
    task_id: int


@dataclass
class Outcome:
    instance: Instance  # the instance as it is after the episode
    consumed: list[Message] = field(default_factory=list)
    held: list[Message] = field(default_factory=list)  # received while suspended
    appended: list[dict[str, Any]] = field(default_factory=list)  # history to append
    reset_history: bool = False  # continue_as_new: the new execution starts a fresh history
    work: list[NewWork] = field(default_factory=list)
    children: list[NewChild] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # to this or other instances
    entity_ops: list[EntityOp] = field(default_factory=list)
    ran_sdk: bool = False
    replayed: bool = False  # the SDK replayed earlier episodes
    error: str | None = None


def flatten_actions(actions: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Atomic actions in the order the SDK numbered their tasks (depth-first)."""
    flat: list[dict[str, Any]] = []

    def walk(action: dict[str, Any]) -> None:
        if action.get("actionType") in COMPOUND_ACTIONS:
            for child in action.get("compoundActions") or []:
                walk(child)
        else:
            flat.append(action)

    for group in actions or []:
        for action in group:
            walk(action)
    return flat


def call_orchestrator(handle: Callable[[str], str], context_json: str) -> dict[str, Any]:
    """Run the SDK; a user exception arrives with the state JSON after the out-of-proc marker."""
    try:
        return json.loads(handle(context_json))
    except Exception as exc:  # noqa: BLE001 - user code may raise anything
        text = str(exc)
        if OUT_OF_PROC_MARKER in text:
            message, state_text = text.split(OUT_OF_PROC_MARKER, 1)
            state = json.loads(state_text)
            state["error"] = state.get("error") or message.strip()
            return state
        return {"isDone": False, "actions": [], "error": f"{type(exc).__name__}: {exc}"}


def run_episode(
    instance: Instance,
    messages: list[Message],
    handle: Callable[[str], str] | None,
    now: float | None = None,
) -> Outcome:
    """Apply `messages` to `instance`; pure except for calling the SDK's `handle`."""
    now = time.time() if now is None else now
    runtime = json.loads(json.dumps(instance.runtime))
    inst = replace(instance, runtime=runtime)
    out = Outcome(instance=inst)
    at = datetime.fromtimestamp(now, timezone.utc)

    if inst.status in TERMINAL:
        out.consumed = list(messages)  # late completions, events for a finished instance
        return out

    sdk_messages: list[Message] = []
    suspended = inst.status == RuntimeStatus.SUSPENDED
    for index, message in enumerate(messages):
        if message.execution_id is not None and message.execution_id != inst.execution_id:
            out.consumed.append(message)  # meant for an execution that continued as new
            continue
        kind = message.event["EventType"]
        if kind == EventType.EXECUTION_TERMINATED:
            out.consumed.extend(messages[index:])
            out.consumed.extend(out.held)
            out.held = []
            _terminate(inst, out, message.event, at)
            return out
        if kind == EventType.EXECUTION_SUSPENDED:
            suspended = True
            out.consumed.append(message)
            out.appended.append(message.event)
            continue
        if kind == EventType.EXECUTION_RESUMED:
            suspended = False
            out.consumed.append(message)
            out.appended.append(message.event)
            # What arrived while suspended is delivered now, in arrival order.
            out.consumed.extend(out.held)
            sdk_messages.extend(out.held)
            out.held = []
            continue
        if suspended:
            out.held.append(message)  # delivered once resumed, as on Azure
            continue
        out.consumed.append(message)
        sdk_messages.append(message)

    if suspended:
        inst.status = RuntimeStatus.SUSPENDED
    elif inst.status == RuntimeStatus.SUSPENDED:
        inst.status = (RuntimeStatus.RUNNING if inst.history or sdk_messages
                       else RuntimeStatus.PENDING)
    inst.updated = now
    if not sdk_messages:
        return out
    if handle is None:
        _fail(inst, out, f"The orchestrator function '{inst.name}' does not exist.", at)
        return out

    ordered = _order_for_numbering(sdk_messages, runtime)
    for message in ordered:
        if message.external and message.event["EventType"] == EventType.EVENT_RAISED:
            name = message.event["Name"]
            runtime["received"][name] = runtime["received"].get(name, 0) + 1

    stamp = max(now, runtime["last_started"] + 1e-6)
    runtime["last_started"] = stamp
    orchestrator_started = h.event(EventType.ORCHESTRATOR_STARTED,
                                   datetime.fromtimestamp(stamp, timezone.utc))
    new_events = [orchestrator_started] + [m.event for m in ordered]
    old = instance.history or []
    context_json = (
        '{"history":[' + ",".join([*old, *(h.dumps(e) for e in new_events)]) + "],"
        + '"instanceId":' + json.dumps(inst.instance_id)
        + ',"isReplaying":' + ("true" if old else "false")
        + ',"parentInstanceId":' + json.dumps((inst.parent or {}).get("instanceId"))
        + ',"input":' + json.dumps(inst.input)
        + ',"upperSchemaVersion":' + str(REPLAY_SCHEMA) + "}"
    )
    state = call_orchestrator(handle, context_json)
    out.ran_sdk = True
    out.replayed = bool(old)
    out.appended.extend(new_events)
    inst.status = RuntimeStatus.RUNNING

    # An error fails the orchestration even when isDone is set, as the extension checks it first:
    # the SDK reports an unserialisable return value that way (isDone true, output dropped).
    if state.get("error"):
        _fail(inst, out, str(state["error"]), at)
        return out

    _number_retry_events(ordered, runtime, out, at)
    inst.custom_status = (
        json.dumps(state["customStatus"]) if state.get("customStatus") is not None else None
    )
    continue_input: tuple[bool, str | None] = (False, None)
    flat = flatten_actions(state.get("actions") or [])
    for action in flat[runtime["actions"]:]:
        kind = action.get("actionType")
        if kind == WAIT_FOR_EVENT:
            name = action.get("externalEventName")
            runtime["waits"][name] = runtime["waits"].get(name, 0) + 1
            continue
        task_id = _next_id(runtime)
        if kind in ACTIVITY_ACTIONS:
            _schedule_activity(action, task_id, runtime, out, at)
        elif kind in SUB_ORCHESTRATION_ACTIONS:
            _schedule_child(action, task_id, runtime, inst, out, at)
        elif kind == CREATE_TIMER:
            _schedule_timer(action["fireAt"], task_id, inst, out, at)
        elif kind == CALL_HTTP:
            request_text = json.dumps(action.get("httpRequest") or {})
            out.appended.append(h.event(EventType.TASK_SCHEDULED, at, task_id,
                                        Name=HTTP_ACTIVITY, Input=request_text))
            out.work.append(NewWork(task_id, HTTP_ACTIVITY, request_text, "http"))
        elif kind in (CALL_ENTITY, SIGNAL_ENTITY):
            _send_to_entity(action, task_id, kind == SIGNAL_ENTITY, inst, out, at)
        elif kind == CONTINUE_AS_NEW:
            continue_input = (True, action.get("input"))
    runtime["actions"] = len(flat)
    _stamp_in_order(out.appended, at)

    if continue_input[0]:
        _continue_as_new(inst, out, continue_input[1], instance.history or [], at, now)
    elif state.get("isDone"):
        output = state.get("output")
        output_text = None if output is None else json.dumps(output)
        inst.status = RuntimeStatus.COMPLETED
        inst.output = output_text
        out.appended.append(h.event(EventType.EXECUTION_COMPLETED, at,
                                    OrchestrationStatus=RuntimeStatus.COMPLETED.value,
                                    Result=output_text))
        _notify_parent(inst, out, h.event(EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, at,
                                          TaskScheduledId=_parent_task(inst), Result=output_text))
    out.appended.append(h.event(EventType.ORCHESTRATOR_COMPLETED, at))
    return out


# --- numbering -------------------------------------------------------------------------------

def _next_id(runtime: dict[str, Any]) -> int:
    value = runtime["seq"]
    runtime["seq"] = value + 1
    return value


def _is_numbering_event(message: Message, runtime: dict[str, Any]) -> bool:
    """Does the SDK take a task id while processing this event (a retry's timer or attempt)?"""
    event = message.event
    kind = event["EventType"]
    if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
        return str(event.get("TaskScheduledId")) in runtime["retry_children"]
    if kind == EventType.TIMER_FIRED:
        key = runtime["retry_timers"].get(str(event.get("TimerId")))
        if key is None:
            return False
        retry = runtime["retries"][key]
        return retry["attempts"] < retry["max"]
    return False


def _order_for_numbering(messages: list[Message], runtime: dict[str, Any]) -> list[Message]:
    starts = [m for m in messages if m.event["EventType"] == EventType.EXECUTION_STARTED]
    rest = [m for m in messages if m.event["EventType"] != EventType.EXECUTION_STARTED]
    numbering = [m for m in rest if _is_numbering_event(m, runtime)]
    others = [m for m in rest if not _is_numbering_event(m, runtime)]
    return starts[:1] + numbering + others


def _number_retry_events(ordered: list[Message], runtime: dict[str, Any], out: Outcome,
                         at: datetime) -> None:
    """Give retry timers and re-attempts the ids the SDK took for them, and schedule them."""
    for message in ordered:
        event = message.event
        kind = event["EventType"]
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED):
            key = runtime["retry_children"].pop(str(event.get("TaskScheduledId")), None)
            if key is None:
                continue
            retry = runtime["retries"][key]
            timer_id = _next_id(runtime)
            runtime["retry_timers"][str(timer_id)] = key
            # The SDK still waits for one timer after the last attempt: fire that one at once.
            delay = retry["interval_ms"] if retry["attempts"] < retry["max"] else 0
            fire_at = h.format_time(at + timedelta(milliseconds=delay))
            _schedule_timer(fire_at, timer_id, out.instance, out, at)
        elif kind == EventType.TIMER_FIRED:
            key = runtime["retry_timers"].pop(str(event.get("TimerId")), None)
            if key is None:
                continue
            retry = runtime["retries"][key]
            if retry["attempts"] >= retry["max"]:
                runtime["retries"].pop(key, None)
                continue
            retry["attempts"] += 1
            task_id = _next_id(runtime)
            runtime["retry_children"][str(task_id)] = key
            if retry["kind"] == "activity":
                out.appended.append(h.event(EventType.TASK_SCHEDULED, at, task_id,
                                            Name=retry["name"], Input=retry["input"]))
                out.work.append(NewWork(task_id, retry["name"], retry["input"]))
            else:
                child_id = retry["instance_id"] or _child_id(out.instance, task_id)
                _start_child(retry["name"], child_id, retry["input"], task_id, out, at)
        elif kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED):
            key = runtime["retry_children"].pop(str(event.get("TaskScheduledId")), None)
            if key is not None:
                runtime["retries"].pop(key, None)


def _register_retry(action: dict[str, Any], task_id: int, runtime: dict[str, Any], kind: str,
                    instance_id: str | None = None) -> None:
    options = action.get("retryOptions") or {}
    key = str(task_id)
    runtime["retries"][key] = {
        "kind": kind,
        "name": action["functionName"],
        "input": action.get("input"),
        "instance_id": instance_id,
        "max": int(options.get("maxNumberOfAttempts", 1)),
        "interval_ms": int(options.get("firstRetryIntervalInMilliseconds", 1000)),
        "attempts": 1,
    }
    runtime["retry_children"][key] = key


# --- actions -> history and work -----------------------------------------------------------

_SCHEDULING = (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
               EventType.TIMER_CREATED, EventType.EVENT_SENT)


def _stamp_in_order(events: list[dict[str, Any]], at: datetime) -> None:
    """Give each scheduling event of the episode its own time, 1 us apart, as DTFx stamps each
    HistoryEvent when it creates it (DurableTask.Core HistoryEvent: Timestamp = DateTime.UtcNow):
    the HTTP API's merged history keeps only ScheduledTime, and the order of a fan-out's tasks
    then survives in it (devhost/replay.py numbers tasks by it)."""
    scheduled = 0
    for event in events:
        if event["EventType"] in _SCHEDULING:
            event["Timestamp"] = h.format_time(at + timedelta(microseconds=scheduled))
            scheduled += 1


def _schedule_activity(action: dict[str, Any], task_id: int, runtime: dict[str, Any],
                       out: Outcome, at: datetime) -> None:
    name = action["functionName"]
    input_text = action.get("input")
    out.appended.append(h.event(EventType.TASK_SCHEDULED, at, task_id, Name=name,
                                Input=input_text))
    out.work.append(NewWork(task_id, name, input_text))
    if action.get("actionType") == CALL_ACTIVITY_WITH_RETRY:
        _register_retry(action, task_id, runtime, "activity")


def _child_id(inst: Instance, task_id: int) -> str:
    # Deterministic, so a replayed or retried episode names the same child.
    return f"{inst.instance_id}:{task_id}"


def _schedule_child(action: dict[str, Any], task_id: int, runtime: dict[str, Any],
                    inst: Instance, out: Outcome, at: datetime) -> None:
    fixed_id = action.get("instanceId") or None
    child_id = fixed_id or _child_id(inst, task_id)
    if action.get("actionType") == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
        _register_retry(action, task_id, runtime, "orchestration", fixed_id)
    _start_child(action["functionName"], child_id, action.get("input"), task_id, out, at)


def _start_child(name: str, child_id: str, input_text: str | None, task_id: int,
                 out: Outcome, at: datetime) -> None:
    out.appended.append(h.event(EventType.SUB_ORCHESTRATION_INSTANCE_CREATED, at, task_id,
                                Name=name, InstanceId=child_id, Input=input_text))
    out.children.append(NewChild(child_id, name, input_text, task_id))


def _schedule_timer(fire_at: str, task_id: int, inst: Instance, out: Outcome,
                    at: datetime) -> None:
    moment = h.parse_time(fire_at)
    out.appended.append(h.event(EventType.TIMER_CREATED, at, task_id, FireAt=fire_at))
    fired = h.event(EventType.TIMER_FIRED, moment, TimerId=task_id, FireAt=fire_at)
    out.messages.append(Message(inst.instance_id, fired, inst.execution_id,
                                visible_at=moment.timestamp()))


def _send_to_entity(action: dict[str, Any], task_id: int, signal: bool, inst: Instance,
                    out: Outcome, at: datetime) -> None:
    name, key = split_entity_id(action["instanceId"])
    target = f"@{name}@{key}"
    operation = str(action.get("operation") or "")
    # A stable request id: a retried episode sends the same request.
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL,
                                f"{inst.instance_id}/{inst.execution_id}/{task_id}"))
    sent = {"id": request_id, "op": operation, "signal": signal,
            "parent": inst.instance_id}
    out.appended.append(h.event(EventType.EVENT_SENT, at, task_id, InstanceId=target,
                                Name=operation, Input=json.dumps(sent)))
    out.entity_ops.append(EntityOp(
        entity_id=target, operation=operation, input=action.get("input"), signal=signal,
        caller_instance=None if signal else inst.instance_id,
        caller_execution=None if signal else inst.execution_id,
        request_id=None if signal else request_id,
    ))


# --- endings --------------------------------------------------------------------------------

def _parent_task(inst: Instance) -> int:
    return int((inst.parent or {}).get("taskId", -1))


def _notify_parent(inst: Instance, out: Outcome, event: dict[str, Any]) -> None:
    if inst.parent:
        out.messages.append(Message(inst.parent["instanceId"], event,
                                    inst.parent.get("executionId")))


def _fail(inst: Instance, out: Outcome, error: str, at: datetime) -> None:
    message = f"Orchestrator function '{inst.name}' failed: {error}"
    inst.status = RuntimeStatus.FAILED
    inst.output = json.dumps(message)
    out.error = message
    out.appended.append(h.event(EventType.EXECUTION_COMPLETED, at,
                                OrchestrationStatus=RuntimeStatus.FAILED.value, Result=inst.output))
    _notify_parent(inst, out, h.event(EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, at,
                                      TaskScheduledId=_parent_task(inst), Reason=message,
                                      Details=None))


def _terminate(inst: Instance, out: Outcome, event: dict[str, Any], at: datetime) -> None:
    reason = event.get("Input")
    inst.status = RuntimeStatus.TERMINATED
    inst.output = json.dumps(reason)
    out.appended.append(event)
    _notify_parent(inst, out, h.event(
        EventType.SUB_ORCHESTRATION_INSTANCE_FAILED, at, TaskScheduledId=_parent_task(inst),
        Reason=f"Orchestration '{inst.instance_id}' was terminated: {reason}", Details=None))


def _continue_as_new(inst: Instance, out: Outcome, input_text: str | None,
                     old_history: list[str], at: datetime, now: float) -> None:
    runtime = inst.runtime
    carried = _unconsumed_events(runtime, old_history + [h.dumps(e) for e in out.appended])
    inst.execution_id = uuid.uuid4().hex
    inst.input = input_text
    inst.output = None
    inst.runtime = new_runtime()
    inst.runtime["last_started"] = runtime["last_started"]
    out.reset_history = True
    out.appended = []
    out.work = []  # nothing scheduled by the old execution is waited for any more
    out.messages = [m for m in out.messages if m.instance_id != inst.instance_id]
    started = h.execution_started(at, inst.name, input_text, _parent_instance(inst))
    out.messages.append(Message(inst.instance_id, started, inst.execution_id))
    for event in carried:
        out.messages.append(Message(inst.instance_id, event, inst.execution_id, external=True))


def _parent_instance(inst: Instance) -> dict[str, Any] | None:
    if not inst.parent:
        return None
    return {"OrchestrationInstance": {"InstanceId": inst.parent["instanceId"]}}


def _unconsumed_events(runtime: dict[str, Any], texts: list[str]) -> list[dict[str, Any]]:
    """Client-raised events the execution never waited for, oldest first."""
    if not runtime["received"]:
        return []
    to_skip = {name: runtime["waits"].get(name, 0) for name in runtime["received"]}
    carried = []
    for text in texts:
        if '"EventType":15' not in text:
            continue
        event = json.loads(text)
        name = event.get("Name")
        if name not in to_skip:
            continue
        if to_skip[name] > 0:
            to_skip[name] -= 1
            continue
        event["IsPlayed"] = False
        carried.append(event)
    return carried
