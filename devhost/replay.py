"""Replay recorded histories against an app's orchestrator code: the check that a new build of an
orchestrator still fits the instances already running on the old one (the patch gate).

The Functions host hands the SDK an orchestration's whole history and the SDK rebuilds every
action from the start; the extension then replays those actions on the Durable Task Framework,
which numbers them in order and fails the instance on the first history event whose number the
new actions do not match ("non-deterministic workflow detected"). This module does that check
for each recorded history and gives a verdict.

Input: `python -m devhost replay APP_DIR --histories PATH` reads PATH as newline-delimited JSON
(or one JSON document, or a directory of `*.json`). Each document is either

- a status document, exactly as
  `GET /runtime/webhooks/durabletask/instances/{id}?showHistory=true&showHistoryOutput=true&showInput=true`
  answers it (the router's `GET /api/lanes/{lane}/histories` gives one per line), or
- the older recording `{"orchestrator", "instanceId", "input", "history": [host-shape events]}`
  (tests/router/histories), replayed by `replay_history` with its coarser comparison.

Output, `--json` (a stable format: `router.cli check-patch` parses it), one object per line:

    {"instanceId": str, "name": str, "verdict": "clean" | "diverged" | "failed",
     "eventIndex": int,    # diverged: index in the document's historyEvents of the first difference
     "expected": str,      # diverged: what the history scheduled there, e.g. "activity 'charge'"
     "produced": str,      # diverged: what the code schedules there, or "nothing: <why>"
     "error": str}         # failed: the exception, or why the orchestrator could not run

Keys that do not apply are left out. A step is spelled `activity '<name>'`,
`sub-orchestration '<name>'`, `timer`, `entity operation`, `http call` or `continue_as_new`.
The command exits 1 when any history diverged or failed, 0 when all are clean, 2 when the
histories cannot be read. A history with no events yet (Pending) is clean.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.engine.episode import (
    ACTIVITY_ACTIONS,
    CALL_ACTIVITY_WITH_RETRY,
    CALL_ENTITY,
    CALL_HTTP,
    CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    CONTINUE_AS_NEW,
    CREATE_TIMER,
    HTTP_ACTIVITY,
    REPLAY_SCHEMA,
    SIGNAL_ENTITY,
    SUB_ORCHESTRATION_ACTIONS,
    WAIT_FOR_EVENT,
    call_orchestrator,
    flatten_actions,
)
from devhost.engine.history import EventType, parse_time

CLEAN = "clean"
DIVERGED = "diverged"
FAILED = "failed"

Handle = Callable[[str], str]  # the SDK's Orchestrator.handle: context JSON -> state JSON


class HistoriesError(ValueError):
    """The histories file cannot be read (missing, or not JSON)."""


# --- verdicts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    instance_id: str
    name: str
    verdict: str
    event_index: int | None = None
    expected: str | None = None
    produced: str | None = None
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.verdict == CLEAN

    def to_json(self) -> dict[str, Any]:
        """The `--json` line (module docstring): keys that do not apply are left out."""
        shown = {"instanceId": self.instance_id, "name": self.name, "verdict": self.verdict,
                 "eventIndex": self.event_index, "expected": self.expected,
                 "produced": self.produced, "error": self.error}
        return {key: value for key, value in shown.items() if value is not None}

    def describe(self) -> str:
        """One line for people: the instance id, the verdict and its first difference or error."""
        line = f"{self.instance_id}  {self.verdict}"
        if self.verdict == DIVERGED:
            line += f" at history event {self.event_index}: expected {self.expected}, produced {self.produced}"
        elif self.error:
            line += f": {self.error}"
        return line


# --- the merged history of the HTTP API -> the host-shape history the SDK replays ---------------

@dataclass(frozen=True)
class Step:
    """One numbered task: what DTFx matches a history event to an action by (its sequence
    number's kind and name; DurableTask.Core TaskOrchestrationContext.cs HandleTaskScheduledEvent,
    HandleTimerCreatedEvent, HandleSubOrchestrationCreatedEvent, HandleEventSentEvent)."""

    kind: str  # activity | sub-orchestration | timer | entity operation | http call | continue_as_new
    name: str | None = None

    def same_as(self, other: Step) -> bool:
        if self.kind != other.kind:
            return False
        # Only activities and sub-orchestrations are compared by name, ignoring case as DTFx does
        # (StringComparison.OrdinalIgnoreCase). Entity operations are all EventSent "op" on Azure.
        if self.kind in ("activity", "sub-orchestration"):
            return (self.name or "").lower() == (other.name or "").lower()
        return True

    def __str__(self) -> str:
        return f"{self.kind} '{self.name}'" if self.kind in ("activity", "sub-orchestration") else self.kind


@dataclass
class Scheduled:
    """A task the history scheduled, found in the HTTP API's merged form."""

    step: Step
    at: datetime  # when it was scheduled: its ScheduledTime, or its own Timestamp
    index: int  # where the history shows it: the merged completion, or the event itself
    input: str | None = None
    fire_at: datetime | None = None
    answer: dict[str, Any] | None = None  # the completion (or TimerFired) that answered it
    failed: bool = False
    task_id: int = -1


# The completions the extension merges into their scheduling event (ScheduledTime, FunctionName,
# Input), dropping that event: azure-functions-durable-extension
# src/WebJobs.Extensions.DurableTask/ContextImplementations/DurableClient.cs,
# GetDurableOrchestrationStatusAsync's history conversion (the parity table in docs/devhost.md).
_MERGED = {"TaskCompleted": ("activity", False), "TaskFailed": ("activity", True),
           "SubOrchestrationInstanceCompleted": ("sub-orchestration", False),
           "SubOrchestrationInstanceFailed": ("sub-orchestration", True)}
# Scheduling events the API still shows in place: a timer, an entity message, and a task or
# sub-orchestration no completion has answered yet.
_IN_PLACE = {"TimerCreated": "timer", "EventSent": "entity operation",
             "TaskScheduled": "activity", "SubOrchestrationInstanceCreated": "sub-orchestration"}
_SCHEDULING_TYPE = {"activity": EventType.TASK_SCHEDULED, "http call": EventType.TASK_SCHEDULED,
                    "sub-orchestration": EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
                    "timer": EventType.TIMER_CREATED, "entity operation": EventType.EVENT_SENT}


def _event_type(name: str) -> EventType | None:
    """The SDK's number for the API's EventType name (HistoryEventType.py; "TaskCompleted" ->
    TASK_COMPLETED), None for a type the SDK does not know (it would ignore it). The extension
    writes the enum's name (DurableClient.cs, EventType converted with StringEnumConverter)."""
    snake = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(name)).upper()
    return EventType.__members__.get(snake)


def _time(event: Mapping[str, Any], key: str = "Timestamp") -> datetime:
    value = event.get(key)
    if not isinstance(value, str):
        raise TypeError(f"a {event.get('EventType')} event has no {key}")
    return parse_time(value)


def _json_text(value: Any) -> str | None:
    """Back to the JSON text the SDK reads: the API shows results parsed (showHistoryOutput;
    DurableClient.cs ParseToJToken) and keeps inputs as the text they were sent as."""
    return None if value is None else json.dumps(value)


def _input_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def find_scheduled(events: list[dict[str, Any]]) -> list[Scheduled]:
    """Every task the history scheduled, in the order the events show them (not yet numbered)."""
    found: list[Scheduled] = []
    for index, event in enumerate(events):
        kind = event.get("EventType")
        if kind in _MERGED:
            step_kind, failed = _MERGED[kind]
            name = event.get("FunctionName")
            if step_kind == "activity" and name == HTTP_ACTIVITY:
                step_kind = "http call"
            # A completion whose scheduling event was not found keeps no ScheduledTime: it was
            # scheduled before it completed, so at the latest when the previous event happened.
            at = _time(event, "ScheduledTime") if event.get("ScheduledTime") else (
                _time(events[index - 1]) if index else _time(event))
            found.append(Scheduled(Step(step_kind, name), at, index, event.get("Input"),
                                   answer=event, failed=failed))
        elif kind in _IN_PLACE:
            step_kind = _IN_PLACE[kind]
            name = event.get("Name")
            if step_kind == "activity" and name == HTTP_ACTIVITY:
                step_kind = "http call"
            fire_at = _time(event, "FireAt") if kind == "TimerCreated" else None
            found.append(Scheduled(Step(step_kind, name), _time(event), index, event.get("Input"),
                                   fire_at=fire_at))
        elif kind == "TimerFired":
            # The API drops TimerId (DurableClient.cs); the timer is the oldest unanswered one
            # due at the same moment.
            fire_at = _time(event, "FireAt")
            timer = next((s for s in found if s.step.kind == "timer" and s.answer is None
                          and s.fire_at == fire_at), None)
            if timer is not None:
                timer.answer = event
    return found


def number(scheduled: list[Scheduled], tie_order: Mapping[int, int] | None = None) -> list[Scheduled]:
    """Give each task its sequence number: the order it was scheduled in. DTFx numbers actions
    in the order the orchestrator produced them (TaskOrchestrationContext.cs, `idCounter++`), and
    stamps each history event when it creates it (HistoryEvent's Timestamp; the dev host 1 us
    apart: devhost/engine/episode.py _stamp_in_order), so the scheduling times give that order.
    Tasks with equal times keep `tie_order` (by event index), else the order the API shows
    them in."""
    ties = tie_order or {}
    ordered = sorted(scheduled, key=lambda s: (s.at, ties.get(s.index, 0), s.index))
    for task_id, item in enumerate(ordered):
        item.task_id = task_id
    return ordered


def _answer_event(item: Scheduled) -> dict[str, Any]:
    """The host-shape completion of a task, naming it by its number (TaskScheduledId, TimerId)."""
    answer = item.answer or {}
    kind = answer["EventType"]  # TimerFired or a _MERGED completion: all known to the SDK
    event: dict[str, Any] = {"EventType": int(_event_type(kind)), "EventId": -1, "IsPlayed": True,
                             "Timestamp": answer["Timestamp"]}
    if kind == "TimerFired":
        event.update(TimerId=item.task_id, FireAt=answer.get("FireAt"))
    elif item.failed:
        event.update(TaskScheduledId=item.task_id, Reason=answer.get("Reason"),
                     Details=answer.get("Details"))
    else:
        event.update(TaskScheduledId=item.task_id, Result=_json_text(answer.get("Result")))
    return event


def _scheduling_event(item: Scheduled, events: list[dict[str, Any]]) -> dict[str, Any]:
    shown = events[item.index]
    event: dict[str, Any] = {"EventType": int(_SCHEDULING_TYPE[item.step.kind]), "EventId": item.task_id,
                             "IsPlayed": True, "Timestamp": item.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if item.step.kind == "timer":
        event["FireAt"] = shown.get("FireAt")
    else:
        event.update(Name=item.step.name, Input=_input_text(item.input))
        if item.step.kind in ("sub-orchestration", "entity operation"):
            event["InstanceId"] = shown.get("InstanceId")
    return event


def host_history(events: list[dict[str, Any]], ordered: list[Scheduled]) -> list[dict[str, Any]]:
    """The host-shape history the SDK replays, rebuilt from the API's events and the numbered tasks.

    The SDK (azure/durable_functions/models/TaskOrchestrationExecutor.py) wants
    [OrchestratorStarted, ExecutionStarted, ...], resolves tasks by TaskScheduledId / TimerId /
    event Name, reads EventSent's request id, and takes the time from OrchestratorStarted; it
    does not read the scheduling events, which are put back for completeness. The API drops
    OrchestratorStarted (DurableClient.cs): one is put before each event the orchestrator
    woke up for, at the time the next task was scheduled (when that episode ran).
    """
    by_answer = {id(item.answer): item for item in ordered if item.answer is not None}
    pending = list(ordered)  # scheduling events not yet written, by number
    rebuilt: list[dict[str, Any]] = []

    def flush(before: datetime | None) -> None:
        while pending and (before is None or pending[0].at < before):
            rebuilt.append(_scheduling_event(pending.pop(0), events))

    def orchestrator_started(at: datetime) -> None:
        moment = max(at, pending[0].at) if pending else at
        rebuilt.append({"EventType": int(EventType.ORCHESTRATOR_STARTED), "EventId": -1,
                        "IsPlayed": True, "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})

    for event in events:
        kind = event.get("EventType")
        if kind in _IN_PLACE or kind == "ExecutionCompleted":
            continue  # scheduling events come back numbered; the SDK ignores the ending
        at = _time(event)
        flush(at)
        orchestrator_started(at)
        if kind == "ExecutionStarted":
            rebuilt.append({"EventType": int(EventType.EXECUTION_STARTED), "EventId": -1, "IsPlayed": True,
                            "Timestamp": event["Timestamp"], "Name": event.get("FunctionName"),
                            "Input": _input_text(event.get("Input")), "Version": ""})
        elif id(event) in by_answer:
            rebuilt.append(_answer_event(by_answer[id(event)]))
        elif (number_ := _event_type(str(kind))) is not None:
            # EventRaised, ExecutionSuspended/Resumed/Terminated...: as they were, typed by number.
            shown = {k: v for k, v in event.items() if k != "EventType"}
            if kind == "EventRaised":
                shown["Input"] = _input_text(shown.get("Input"))
            rebuilt.append({"EventType": int(number_), "EventId": -1, "IsPlayed": True, **shown})
    flush(None)
    return rebuilt


# --- what the code schedules -----------------------------------------------------------------

@dataclass
class Produced:
    """The code's actions, numbered as the SDK and DTFx number them."""

    steps: list[Step] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)
    waiting_for: str | None = None  # the external event the code waits on at the end


def _step_of_action(action: dict[str, Any]) -> Step | None:
    kind = action.get("actionType")
    if kind in ACTIVITY_ACTIONS:
        return Step("activity", action.get("functionName"))
    if kind in SUB_ORCHESTRATION_ACTIONS:
        return Step("sub-orchestration", action.get("functionName"))
    if kind == CREATE_TIMER:
        return Step("timer")
    if kind in (CALL_ENTITY, SIGNAL_ENTITY):
        return Step("entity operation")
    if kind == CALL_HTTP:
        return Step("http call")
    if kind == CONTINUE_AS_NEW:
        return Step("continue_as_new")  # takes a number in the SDK (devhost/engine/episode.py)
    return None  # WaitForExternalEvent takes none: it is matched by name


def number_actions(actions: list[dict[str, Any]], history: list[Scheduled]) -> Produced:
    """Number the code's actions. A retried call takes more numbers than its one action, as the
    SDK and the extension's retry take them (devhost/engine/episode.py, `_number_retry_events`):
    after each failed attempt a timer, and after that timer fires, while attempts remain, the
    next attempt. The failures are the history's, so the numbers follow it. (A retried call
    running beside other tasks can take them later than this puts them: a limit of this check.)
    """
    produced = Produced()

    def take(step: Step, action: dict[str, Any]) -> int:
        produced.steps.append(step)
        produced.inputs.append(action.get("input"))
        return len(produced.steps) - 1

    for action in actions:
        step = _step_of_action(action)
        if step is None:
            if action.get("actionType") == WAIT_FOR_EVENT:
                produced.waiting_for = action.get("externalEventName")
            continue
        produced.waiting_for = None
        attempt = take(step, action)
        if action.get("actionType") not in (CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            continue
        attempts, most = 1, int((action.get("retryOptions") or {}).get("maxNumberOfAttempts", 1))
        while attempt < len(history) and history[attempt].failed and history[attempt].step.same_as(step):
            timer = take(Step("timer"), {})
            if timer >= len(history) or history[timer].answer is None or attempts >= most:
                break
            attempts += 1
            attempt = take(step, action)
    return produced


# --- one history ------------------------------------------------------------------------------

def is_status_document(document: Mapping[str, Any]) -> bool:
    """A Durable HTTP API status document (vs the older recording, which has `history` and
    `orchestrator`). Anything else is read as a status document, so what it lacks is named."""
    return not ("history" in document and "orchestrator" in document)


def _rebuild_ties(ordered: list[Scheduled], produced: Produced) -> dict[int, int] | None:
    """For tasks scheduled at one instant, the order the code gives them, when the code
    schedules the same ones there (same kind, name and, when shown, input); None when no such
    group needs another order. The merged history cannot tell that order itself."""
    ties: dict[int, int] = {}
    changed = False
    start = 0
    while start < len(ordered):
        end = start
        while end < len(ordered) and ordered[end].at == ordered[start].at:
            end += 1
        if end - start > 1 and end <= len(produced.steps):
            order = _order_like(ordered[start:end], produced, start)
            if order is not None:
                ties.update((item.index, rank) for rank, item in enumerate(order))
                changed = changed or any(a is not b for a, b in zip(order, ordered[start:end]))
        start = end
    return ties if changed else None


def _order_like(group: list[Scheduled], produced: Produced, start: int) -> list[Scheduled] | None:
    """`group` in the order the code schedules its tasks from number `start`, or None when the
    code schedules other tasks there."""
    unused = list(group)
    order = []
    for position in range(start, start + len(group)):
        step, text = produced.steps[position], produced.inputs[position]
        match = next((s for s in unused if s.step.same_as(step) and (s.input is None or s.input == text)), None)
        if match is None:
            return None
        unused.remove(match)
        order.append(match)
    return order


def _history_failed(document: Mapping[str, Any]) -> bool:
    if document.get("runtimeStatus") == "Failed":
        return True
    return any(e.get("EventType") == "ExecutionCompleted" and e.get("OrchestrationStatus") == "Failed"
               for e in document.get("historyEvents") or [])


def replay_status(handle: Handle, document: Mapping[str, Any]) -> Verdict:
    """Replay one status document through `handle` and compare, as the extension does."""
    return replay_outcome(handle, document)[0]


def replay_outcome(handle: Handle, document: Mapping[str, Any]) -> tuple[Verdict, dict[str, Any]]:
    """The verdict and the orchestrator state (the SDK's answer: actions, output, error) of the
    replay of one status document; the state is {} when nothing was replayed."""
    instance_id, name = str(document.get("instanceId", "")), str(document.get("name", ""))
    if "historyEvents" not in document and document.get("runtimeStatus") != "Pending":
        # Fetched without showHistory=true: a clean verdict would say it was checked when it was not.
        return Verdict(instance_id, name, FAILED, error=(
            "the status document has no historyEvents: fetch it with "
            "showHistory=true&showHistoryOutput=true&showInput=true")), {}
    events = list(document.get("historyEvents") or [])
    if not events:
        return Verdict(instance_id, name, CLEAN), {}  # Pending: nothing ran, nothing to contradict
    try:
        if not isinstance(events[0], dict) or events[0].get("EventType") != "ExecutionStarted":
            raise ValueError("the history does not begin with ExecutionStarted")
        scheduled = find_scheduled(events)
        tie_order: Mapping[int, int] | None = None
        for _ in range(3):  # a new order for tied tasks changes what the code is given: run again
            ordered = number(scheduled, tie_order)
            state = _run(handle, instance_id, document, host_history(events, ordered))
            produced = number_actions(flatten_actions(state.get("actions") or []), ordered)
            tie_order = _rebuild_ties(ordered, produced)
            if tie_order is None:
                break
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Verdict(instance_id, name, FAILED, error=f"the history cannot be read: {exc}"), {}
    return _compare(instance_id, name, ordered, produced, state, _history_failed(document)), state


def _run(handle: Handle, instance_id: str, document: Mapping[str, Any],
         history: list[dict[str, Any]]) -> dict[str, Any]:
    started = next(e for e in history if e["EventType"] == EventType.EXECUTION_STARTED)
    input_text = started.get("Input")
    if input_text is None and document.get("input") is not None:
        input_text = json.dumps(document["input"])
    context = {"history": history, "instanceId": instance_id, "isReplaying": True,
               "parentInstanceId": None, "input": input_text, "upperSchemaVersion": REPLAY_SCHEMA}
    with warnings.catch_warnings():
        # The SDK warns of a "duplicate" completion when a changed code no longer waits for a
        # task the history answered: the verdict says it better.
        warnings.simplefilter("ignore")
        return call_orchestrator(handle, json.dumps(context))


def _compare(instance_id: str, name: str, history: list[Scheduled], produced: Produced,
             state: dict[str, Any], history_failed: bool) -> Verdict:
    """The first numbered task where the code and the history differ, as DTFx finds it: each
    scheduling event of the history must meet an action with its number, of its kind and name
    (TaskOrchestrationContext.cs: "... but the current replay execution hasn't (yet?) scheduled
    this task" / "... instead produced a ... action with this sequence number"). Actions past
    the history's last task are new work, not a difference.

    An added `wait_for_external_event` takes no number (the SDK matches waits by name), so it
    shifts nothing; where its event is not in the history, the code blocks there, and the first
    history task after it has no action: that task is the first difference, and "produced" says
    which event the code waits for. On Azure the extension throws at that TaskScheduled (or
    TimerCreated, SubOrchestrationInstanceCreated) event, the "hasn't (yet?) scheduled" case.
    """
    error = state.get("error")
    for position, expected in enumerate(history):
        if position >= len(produced.steps):
            if error and not history_failed:
                return Verdict(instance_id, name, FAILED, error=str(error))
            return Verdict(instance_id, name, DIVERGED, expected.index, str(expected.step),
                           _nothing(produced, state))
        if not produced.steps[position].same_as(expected.step):
            return Verdict(instance_id, name, DIVERGED, expected.index, str(expected.step),
                           str(produced.steps[position]))
    if error and not history_failed:
        return Verdict(instance_id, name, FAILED, error=str(error))
    return Verdict(instance_id, name, CLEAN)


def _nothing(produced: Produced, state: dict[str, Any]) -> str:
    if state.get("error"):
        return f"nothing: the orchestrator failed: {state['error']}"
    if state.get("isDone"):
        return "nothing: the orchestrator returned"
    if produced.waiting_for is not None:
        return f"nothing: the code waits for external event '{produced.waiting_for}'"
    return "nothing: the code waits for the tasks it already has"


def replay_all(orchestrators: Mapping[str, Handle], documents: list[dict[str, Any]],
               load_error: str | None = None) -> list[Verdict]:
    """A verdict for each status document; `load_error` fails them all (the app did not load)."""
    by_lower = {key.lower(): handle for key, handle in orchestrators.items()}
    verdicts = []
    for document in documents:
        instance_id, name = str(document.get("instanceId", "")), str(document.get("name", ""))
        handle = orchestrators.get(name) or by_lower.get(name.lower())
        if load_error is not None:
            verdicts.append(Verdict(instance_id, name, FAILED, error=load_error))
        elif handle is None:
            # As the extension fails such an instance (docs/devhost.md, parity table).
            verdicts.append(Verdict(instance_id, name, FAILED,
                                    error=f"The function '{name}' doesn't exist in the app."))
        else:
            verdicts.append(replay_status(handle, document))
    return verdicts


# --- the older recording ------------------------------------------------------------------------

# What a scheduling history event records, as (kind, name).
_SCHEDULED = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "orchestration",
    EventType.TIMER_CREATED: "timer",
    EventType.EVENT_SENT: "entity",
}


@dataclass(frozen=True)
class ReplayResult:
    orchestrator: str
    instance_id: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def verdict(self) -> Verdict:
        if self.ok:
            return Verdict(self.instance_id, self.orchestrator, CLEAN)
        failed = self.problems[0].startswith("the orchestrator failed")
        return Verdict(self.instance_id, self.orchestrator, FAILED if failed else DIVERGED,
                       error=self.problems[0])


def _old_step_of_event(event: dict[str, Any]) -> tuple[str, str | None] | None:
    try:
        kind = _SCHEDULED.get(EventType(event["EventType"]))
    except ValueError:
        return None
    if kind is None:
        return None
    name = event.get("Name") if kind != "timer" else None
    if kind == "activity" and name == HTTP_ACTIVITY:
        return "http", None
    return kind, name


def _old_step_of_action(action: dict[str, Any]) -> tuple[str, str | None] | None:
    kind = action.get("actionType")
    if kind in ACTIVITY_ACTIONS:
        return "activity", action.get("functionName")
    if kind in SUB_ORCHESTRATION_ACTIONS:
        return "orchestration", action.get("functionName")
    if kind == CREATE_TIMER:
        return "timer", None
    if kind in (CALL_ENTITY, SIGNAL_ENTITY):
        return "entity", str(action.get("operation") or "")
    if kind == CALL_HTTP:
        return "http", None
    return None  # waiting for an event or continuing as new schedules nothing


def replay_history(handle: Handle, recorded: dict[str, Any]) -> ReplayResult:
    """Replay one older recording (host-shape `history`) through `handle`: the code must schedule
    the same kinds of step, with the same names, in the same order."""
    history = list(recorded["history"])
    context = {
        "history": history, "instanceId": recorded["instanceId"], "isReplaying": True,
        "parentInstanceId": None, "input": recorded.get("input"), "upperSchemaVersion": REPLAY_SCHEMA,
    }
    state = call_orchestrator(handle, json.dumps(context))
    problems: list[str] = []
    if state.get("error"):
        problems.append(f"the orchestrator failed while replaying: {state['error']}")
    replayed = [s for s in map(_old_step_of_action, flatten_actions(state.get("actions") or [])) if s]
    recorded_steps = [s for s in map(_old_step_of_event, history) if s]
    for index, expected in enumerate(recorded_steps):
        if index >= len(replayed):
            problems.append(f"step {index}: the history scheduled {_show(expected)}, the code schedules nothing more")
            break
        if replayed[index] != expected:
            problems.append(f"step {index}: the history scheduled {_show(expected)}, "
                            f"the code schedules {_show(replayed[index])}")
            break
    return ReplayResult(str(recorded.get("orchestrator", "")), str(recorded["instanceId"]), tuple(problems))


def _show(step: tuple[str, str | None]) -> str:
    kind, name = step
    return f"{kind} {name!r}" if name is not None else kind


# --- reading ------------------------------------------------------------------------------------

def read_histories(path: Path) -> Iterator[dict[str, Any]]:
    """Documents from a JSON file, an NDJSON file (one per line) or a directory of *.json.
    Raises HistoriesError naming the file and line of what is not a JSON object."""
    if not path.exists():
        raise HistoriesError(f"{path}: no such file or directory")
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            # A zip or a binary file passed by mistake: exit 2 naming it, not a traceback.
            raise HistoriesError(f"{file}: cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
        try:
            documents = [(1, json.loads(text))]
        except json.JSONDecodeError:
            documents = []
            for number_, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    documents.append((number_, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise HistoriesError(f"{file}:{number_}: not JSON ({exc.msg})") from None
        for number_, document in documents:
            if not isinstance(document, dict):
                raise HistoriesError(f"{file}:{number_}: expected a JSON object per line")
            yield document
