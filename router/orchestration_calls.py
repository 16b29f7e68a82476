"""How the router's orchestrators act: version-map operations and activities, typed (replay-safe).

Every activity answers an envelope, `{"ok": true, "value": ...}` or `{"ok": false, "status",
"error": {...}, "retryable"}` (`router.activities`), so a failure keeps its code and whether it
is worth retrying across the durable boundary. `activity` retries the retryable ones with a
durable timer between attempts and raises the typed `RouterError` of the last; a permanent
failure (a refused package, a taken name, a forbidden call) is raised at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generator, TypeVar

import azure.durable_functions as df

from router.durable_inputs import Timing, from_json, to_json
from router.entity import VERSION_MAP_ID
from router.errors import ActivityNotRun, RouterError, error_from_body
from router.lanes import Lane, VersionMap, lane_from_dict
from router.map_operations import raise_for_result

T = TypeVar("T")
Orchestration = Generator[Any, Any, Any]
Context = df.DurableOrchestrationContext


def now(context: Context) -> str:
    return context.current_utc_datetime.isoformat()


def after(context: Context, seconds: float) -> datetime:
    return context.current_utc_datetime + timedelta(seconds=seconds)


def map_op(context: Context, operation: str, **args: Any) -> Orchestration:
    """Call one version-map operation; its typed RouterError is raised here on refusal."""
    result = yield context.call_entity(VERSION_MAP_ID, operation, {"at": now(context), **args})
    return raise_for_result(result)


def lane_op(context: Context, operation: str, lane: str, **args: Any) -> Orchestration:
    """A version-map operation on one lane; answers the lane as it is afterwards."""
    return lane_from_dict((yield from map_op(context, operation, lane=lane, **args)))


def read_map(context: Context) -> Orchestration:
    return VersionMap.from_dict((yield from map_op(context, "get")))


def read_lane(context: Context, key: str) -> Orchestration:
    """The lane as the map has it now, or None."""
    vmap: VersionMap = yield from read_map(context)
    lane: Lane | None = vmap.lanes.get(key)
    return lane


def activity(
    context: Context, name: str, request: Any, result_type: type[T], timing: Timing, *, attempts: int | None = None
) -> Orchestration:
    """Run activity `name`; retry what is retryable with backoff; the typed result, or raise."""
    result, _ = yield from activity_with_attempts(context, name, request, result_type, timing, attempts=attempts)
    return result


def activity_with_attempts(
    context: Context, name: str, request: Any, result_type: type[T], timing: Timing, *, attempts: int | None = None
) -> Orchestration:
    """`activity`, answering (the typed result, how many attempts it took): a retried call may
    find done what an earlier attempt did before its answer was lost."""
    tries = max(1, attempts if attempts is not None else timing.activity_attempts)
    delay = timing.activity_retry_seconds
    for attempt in range(1, tries + 1):
        try:
            outcome = yield context.call_activity(name, to_json(request))
        except Exception as failure:  # the host could not run it at all (not found, crashed)
            unrun = ActivityNotRun(f"The {name} step could not run: {_first_line(failure)}")
            outcome = {"ok": False, "status": unrun.status, "retryable": True, "error": unrun.body()}
        if outcome.get("ok"):
            return from_json(result_type, outcome.get("value")), attempt
        error = error_from_body(int(outcome.get("status", 500)), dict(outcome.get("error") or {}))
        if not outcome.get("retryable") or attempt == tries:
            raise error
        yield context.create_timer(after(context, delay))
        delay = min(delay * 2, timing.activity_retry_max_seconds)
    raise AssertionError("unreachable")  # pragma: no cover


def describe(error: Exception) -> tuple[str, str]:
    """(code, message) of any error an orchestrator catches."""
    if isinstance(error, RouterError):
        return error.code, error.message
    return "internal_error", _first_line(error)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__
