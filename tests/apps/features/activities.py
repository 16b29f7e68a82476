"""Activities: all I/O and non-determinism of the feature orchestrations lives here."""

import time
from typing import Any

import azure.durable_functions as df

from scratch import record_attempt

bp = df.Blueprint()


@bp.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    return f"Hello {name}!"


@bp.activity_trigger(input_name="value")
def double(value: int) -> int:
    return 2 * value


@bp.activity_trigger(input_name="request")
def flaky(request: dict[str, Any]) -> dict[str, int]:
    """Fails `failures` times for `key`, then succeeds: what call_activity_with_retry is for."""
    attempt = record_attempt(request["key"], "flaky")
    if attempt <= request["failures"]:
        raise RuntimeError(f"flaky failure {attempt} of {request['failures']}")
    return {"attempts": attempt}


@bp.activity_trigger(input_name="request")
def slow_echo(request: dict[str, Any]) -> dict[str, Any]:
    """Marks that it started, then takes `seconds`: long enough to kill the host under it."""
    attempt = record_attempt(request["key"], "slow-started")
    time.sleep(request["seconds"])
    return {"echo": request["key"], "attempt": attempt}
