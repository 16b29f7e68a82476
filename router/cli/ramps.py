"""The ramp options of `dfrouter release` and `dfrouter lanes current`, and how a ramp is shown.

`--ramp 5,25,50,100 --ramp-step-seconds 600 --max-failed-ratio 0.05` becomes the `ramp` object
of POST /api/releases and POST /api/current (router/validation.py parse_ramp). The CLI parses
only the shapes (whole numbers, a ratio); the router checks the plan itself (increasing, ending at
100, a step at most a week) and answers a 400 naming the field, so the rule lives in one place.
"""

from __future__ import annotations

import argparse
from typing import Any

from router.cli.command import positive_int
from router.cli.errors import UsageError

# The example plan: ten minutes a step, abort above 5% Failed.
DEFAULT_STEP_SECONDS = 600
DEFAULT_MAX_FAILED_RATIO = 0.05


def ramp_steps(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected whole percents separated by commas, such as 5,25,50,100, "
                                         f"not {text[:40]!r}")
    return [int(part) for part in parts]


def ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a ratio from 0 to 1, such as 0.05, not {text[:40]!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a ratio from 0 to 1, such as 0.05, not {text[:40]!r}")
    return value


def add_ramp_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("progressive ramp")
    group.add_argument("--ramp", type=ramp_steps, metavar="STEPS",
                       help="ramp version-less starts onto the lane in these percents, e.g. 5,25,50,100 "
                            "(increasing, ending at 100); the previous lane stays current until it completes")
    group.add_argument("--ramp-step-seconds", type=positive_int, metavar="S",
                       help=f"with --ramp: seconds each step lasts (default {DEFAULT_STEP_SECONDS})")
    group.add_argument("--max-failed-ratio", type=ratio, metavar="R",
                       help=f"with --ramp: abort (the previous lane stays current) when more than this share of "
                            f"the lane's orchestrations started since the ramp began Failed (default "
                            f"{DEFAULT_MAX_FAILED_RATIO:g})")


def ramp_plan(args: argparse.Namespace) -> dict[str, Any] | None:
    """The `ramp` object to send, or None without --ramp; a usage error for a lone step option."""
    if args.ramp is None:
        if args.ramp_step_seconds is not None or args.max_failed_ratio is not None:
            raise UsageError("--ramp-step-seconds and --max-failed-ratio go with --ramp STEPS (e.g. --ramp 5,25,50,100).")
        return None
    return {"steps": args.ramp,
            "stepSeconds": DEFAULT_STEP_SECONDS if args.ramp_step_seconds is None else args.ramp_step_seconds,
            "maxFailedRatio": DEFAULT_MAX_FAILED_RATIO if args.max_failed_ratio is None else args.max_failed_ratio}


def ramp_line(ramp: dict[str, Any]) -> str:
    """One line for a ramp as the router shows it (router/map_view.py ramp_view)."""
    steps = ramp.get("steps") or []
    plan = (f"steps {','.join(str(s) for s in steps)}% every {ramp.get('stepSeconds')} s, "
            f"abort above {ramp.get('maxFailedRatio')} failed")
    state = ramp.get("state")
    where = f"ramp {ramp.get('fromLane')} -> {ramp.get('lane')} {state}"
    if state == "running":
        where += (f": step {ramp.get('step')} of {len(steps)}, {ramp.get('share')}% of version-less starts "
                  f"(until {ramp.get('stepEndsAt')})")
    elif ramp.get("reason"):
        where += f": {ramp.get('reason')}"
    checks = ramp.get("checks") or []
    if checks:
        last = checks[-1]
        where += (f"; last check at {last.get('share')}%: {last.get('failed')} of {last.get('started')} "
                  f"failed (ratio {last.get('ratio')})")
    return f"{where}; {plan}"
