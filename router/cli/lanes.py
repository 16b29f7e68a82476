"""`dfrouter lanes close|retire|current L`: an admin's commands on one lane.

close: the lane takes no new starts (410), its instances finish (POST /api/lanes/{lane}/close).
retire: delete the lane's app once drained; --force deletes it now, whatever still runs there
(POST /api/lanes/{lane}/retire). current: version-less requests go to the lane; an older lane is
a rollback (POST /api/current). With --ramp STEPS the lane takes version-less starts step by step
instead (202: the ramp's state is printed; the current lane stays current until it reaches 100%,
and a Failed share above --max-failed-ratio aborts it).
"""

from __future__ import annotations

import argparse
from typing import Any

from router.cli.command import CommandContext, add_command, add_common_options
from router.cli.errors import ExitCode
from router.cli.ramps import add_ramp_options, ramp_line, ramp_plan


def register(subcommands: Any) -> None:
    lanes = subcommands.add_parser("lanes", help="close, retire or make current a lane", description=__doc__,
                                   allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(lanes, on_command=True)
    actions = lanes.add_subparsers(dest="lanes_command", required=True, metavar="{close,retire,current}")
    close = add_command(actions, "close", handler=run_close, help="refuse new starts on a lane (410)")
    retire = add_command(actions, "retire", handler=run_retire, help="retire a lane (delete its app once drained)")
    retire.add_argument("--force", action="store_true",
                        help="delete the app now, even with orchestrations still running on it (logged by the router)")
    current = add_command(actions, "current", handler=run_current,
                          help="make a lane current (an older one: rollback)")
    for parser in (close, retire, current):
        parser.add_argument("lane", metavar="L", help="the lane, MAJOR.MINOR (e.g. 1.0)")
    add_ramp_options(current)


def run_close(args: argparse.Namespace, ctx: CommandContext) -> int:
    result = ctx.api.close_lane(args.lane)
    return _show(ctx, result, f"lane {result.get('lane')} closed: it takes no new starts "
                              f"(state {result.get('state')})")


def run_retire(args: argparse.Namespace, ctx: CommandContext) -> int:
    result = ctx.api.retire_lane(args.lane, args.force)
    how = "force-retired: its app is deleted now" if result.get("forced") else "retiring: its app is deleted once drained"
    return _show(ctx, result, f"lane {result.get('lane')} {how} (state {result.get('state')})")


def run_current(args: argparse.Namespace, ctx: CommandContext) -> int:
    plan = ramp_plan(args)
    result = ctx.api.set_current(args.lane, ramp=plan)
    if plan is not None:
        return _show(ctx, result, f"lane {result.get('current')} stays current while the ramp runs; "
                                  + ramp_line(result.get("ramp") or {}))
    return _show(ctx, result, f"lane {result.get('current')} is current: version {result.get('version')} "
                              f"(state {result.get('state')})")


def _show(ctx: CommandContext, result: dict[str, Any], text: str) -> int:
    if ctx.output.as_json:
        ctx.output.document(result)
    else:
        ctx.output.line(text)
    return ExitCode.OK
