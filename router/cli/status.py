"""`dfrouter status` and `dfrouter gate`: what runs on each lane (`GET /api/status`, an admin's key).

`gate` is the deployment gate of the slot strategy (Azure's "status check with slots"): it exits
0 only when no orchestration is running, pending or suspended on any lane, or on `--lane L`.
A lane whose instances cannot be counted keeps the gate closed, as the router's `hasRunning` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from router.cli.command import CommandContext, add_command
from router.cli.errors import ExitCode, RouterRefused
from router.errors import UnknownLane

HEADERS = ("lane", "state", "running", "pending", "suspended", "note")


def register(subcommands: Any) -> None:
    add_command(subcommands, "status", handler=run_status, help="show what runs on each lane",
                description=__doc__)
    gate = add_command(subcommands, "gate", handler=run_gate,
                       help="exit 0 only when no orchestration runs (on any lane, or on --lane)",
                       description=__doc__ + "\nExit 0: nothing runs (open); exit 1: something runs (closed).")
    gate.add_argument("--lane", metavar="L", help="only this lane (MAJOR.MINOR)")


def run_status(args: argparse.Namespace, ctx: CommandContext) -> int:
    status = ctx.api.status()
    if ctx.output.as_json:
        ctx.output.document(status)
        return ExitCode.OK
    running = "yes" if status.get("hasRunning") else "no"
    ctx.output.table(f"orchestrations in flight: {running}", HEADERS, status_rows(status))
    return ExitCode.OK


def status_rows(status: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for key, lane in (status.get("lanes") or {}).items():
        notes = []
        if lane.get("error"):
            notes.append(f"not counted: {lane['error'].get('error')}: {lane['error'].get('message')}")
        if lane.get("unhealthy"):
            notes.append(f"unhealthy since {lane['unhealthy'].get('since')}: {lane['unhealthy'].get('message')}")
        rows.append([key, lane.get("state"), lane.get("running"), lane.get("pending"), lane.get("suspended"),
                     "; ".join(notes) or None])
    return rows


def lane_in_flight(lane: dict[str, Any]) -> bool:
    """Something runs on the lane, or it could not be counted (then the gate stays closed)."""
    if "error" in lane:
        return True
    return sum(int(lane.get(name) or 0) for name in ("running", "pending", "suspended")) > 0


def run_gate(args: argparse.Namespace, ctx: CommandContext) -> int:
    status = ctx.api.status()
    counted: dict[str, Any] = status.get("lanes") or {}
    if args.lane is not None and args.lane not in counted:
        check_known_lane(ctx, args.lane)  # only lanes with an app are counted: the others run nothing
    watched = counted if args.lane is None else {k: v for k, v in counted.items() if k == args.lane}
    busy = sorted(key for key, lane in watched.items() if lane_in_flight(lane))
    is_open = not busy and (args.lane is not None or not status.get("hasRunning"))
    where = f"lane {args.lane}" if args.lane is not None else "any lane"
    if ctx.output.as_json:
        ctx.output.document({"open": is_open, "lane": args.lane, "busyLanes": busy, "lanes": watched})
    elif is_open:
        ctx.output.line(f"gate open: no orchestration runs on {where}")
    else:
        ctx.output.line(f"gate closed: orchestrations run on {', '.join(busy) or where}")
        for row in status_rows({"lanes": {key: watched[key] for key in busy}}):
            ctx.output.line(f"  lane {row[0]} ({row[1]}): running {row[2]}, pending {row[3]}, suspended {row[4]}"
                            + (f"; {row[5]}" if row[5] else ""))
    return ExitCode.OK if is_open else ExitCode.FAILED


def check_known_lane(ctx: CommandContext, lane: str) -> None:
    """A lane the map never had is a typo, not an open gate."""
    known = ctx.api.version_map().get("lanes") or {}
    if lane not in known:
        raise RouterRefused(f"No lane {lane}: the router knows {', '.join(known) or 'no lane'}.",
                            status=404, code=UnknownLane.code, details={"knownLanes": list(known)})
