"""Activities: all I/O and non-determinism of the feature orchestrations lives here."""

import time
from typing import Any

import azure.durable_functions as df

from scratch import record_attempt, scratch_dir

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
    """Marks that it started, then takes `seconds`, or less once a test leaves a `<key>.release`
    mark: a test can then kill the host while it surely still runs, whatever the machine's load."""
    attempt = record_attempt(request["key"], "slow-started")
    release = scratch_dir() / f"{request['key']}.release"
    deadline = time.monotonic() + request["seconds"]
    while time.monotonic() < deadline and not release.exists():
        time.sleep(0.05)
    return {"echo": request["key"], "attempt": attempt}
