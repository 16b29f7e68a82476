"""`dfrouter versionmap`: the lanes, their states and versions, the current lane and the quota
(`GET /api/versionmap`, an admin's key), and the latest progressive ramp under it when there is one:
its state, step and share, and the failure figures of its last check."""

from __future__ import annotations

import argparse
from typing import Any

from router.cli.command import CommandContext, add_command
from router.cli.errors import ExitCode
from router.cli.ramps import ramp_line

HEADERS = ("lane", "state", "version", "current", "closed", "app", "in flight", "updated", "note")


def register(subcommands: Any) -> None:
    add_command(subcommands, "versionmap", handler=run_versionmap, help="show the version map as a table",
                description=__doc__)


def run_versionmap(args: argparse.Namespace, ctx: CommandContext) -> int:
    vmap = ctx.api.version_map()
    if ctx.output.as_json:
        ctx.output.document(vmap)
        return ExitCode.OK
    ctx.output.table(title_of(vmap), HEADERS, lane_rows(vmap))
    if isinstance(vmap.get("ramp"), dict):
        ctx.output.line(ramp_line(vmap["ramp"]))
    return ExitCode.OK


def title_of(vmap: dict[str, Any]) -> str:
    quota = vmap.get("quota") or {}
    current = vmap.get("current")
    shown = f"{current} ({vmap.get('currentVersion')})" if current else "none"
    return f"current lane: {shown}   lanes with an app: {quota.get('used')} of {quota.get('limit')}"


def lane_rows(vmap: dict[str, Any]) -> list[list[Any]]:
    return [lane_row(key, lane) for key, lane in (vmap.get("lanes") or {}).items()]


def lane_row(key: str, lane: dict[str, Any]) -> list[Any]:
    deployed = lane.get("deployed_version")
    posted = (lane.get("release") or {}).get("version")
    version = deployed or posted
    if posted and deployed and posted != deployed:
        version = f"{deployed} (deploying {posted})"
    drain = lane.get("drain") or {}
    in_flight = drain.get("remaining") if lane.get("state") in ("draining", "retiring") else None
    return [key, lane.get("state"), version, lane.get("current"), lane.get("closed"), lane.get("app_name"),
            in_flight, lane.get("updated_at"), lane_note(lane)]


def lane_note(lane: dict[str, Any]) -> str | None:
    """Why a lane needs a look: its error, its unhealthy condition, a forced retire, a lazy start."""
    notes = []
    for name in ("error", "unhealthy"):
        fault = lane.get(name)
        if fault:
            notes.append(f"{name}: {fault.get('code')}: {fault.get('message')}")
    if lane.get("forced_retire"):
        notes.append("force-retired")
    if lane.get("started") is False:
        notes.append("lazy: waits for its first request")
    age = (lane.get("drain") or {}).get("oldestAgeSeconds")
    if age is not None and lane.get("state") == "draining":
        notes.append(f"oldest in flight {age:g} s")
    return "; ".join(notes) or None
