"""`dfrouter check-patch --lane L --package FILE.zip`: does a patch replay the lane's in-flight instances?

A patch (same MAJOR.MINOR) is deployed in place: every orchestration waiting on the lane resumes
on the new code, which must schedule the same steps in the same order. This command downloads
the lane's in-flight histories (GET /api/lanes/{lane}/histories, an admin's key: they carry
inputs and outputs), unpacks the package and replays every history against it in
`python -S -m devhost replay --json`, a subprocess that sees only the package's own
`.python_packages` and the dev host's worker runtime (as a local lane runs it). It prints a table
(instances checked, clean, diverged, failed, with the first difference of each) and the
`replayCheck` to post in the release's body, and exits 1 if any history diverged or failed:
release a new MINOR instead. Run it where the patch's code may run (a pipeline's agent), not in
the router.

The `replayCheck` carries the lane and the router's ticket of the first page of histories
(X-Replay-Check-Ticket): intake under ROUTER_PATCH_GATE=require takes it only for that lane and
for ROUTER_PATCH_GATE_MAX_AGE_SECONDS (an hour by default), so run it just before the release.

A lane the router has no release for (or whose lane was deleted) has nothing in flight: the
version is not a patch but a new lane. The command says so and exits 0 without a `replayCheck`,
and `release --replay-check` on that output sends none: the first release of a MINOR, x.y.1,
goes through the gate as every new lane does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.cli.command import CommandContext, add_command, positive_int
from router.cli.errors import CliError, ExitCode, RouterRefused, UsageError
from router.errors import LaneGone, UnknownLane

if TYPE_CHECKING:
    from router.replay_check import ReplayReport

# The replay's modules load only when check-patch runs, and need nothing beyond the CLI's own
# dependencies (httpx, rich): no Functions package, no semver (router.versions), so `pip install .`
# on a pipeline agent runs it, and every other command stays as light as before.

HEADERS = ("instance", "orchestrator", "verdict", "first difference")
PAGE = 100  # histories per request


# The router's answers for a lane with nothing deployed in place: no release yet, or deleted
# (router.errors imports no Functions package, so the CLI takes the codes from it).
NOT_A_PATCH = (UnknownLane.code, LaneGone.code)
NO_RELEASE_YET = "lane {lane} has no release yet: this is not a patch, nothing to check"


class ReplayNotRun(CliError):
    """The replay could not run: the package does not load, or devhost replay failed."""

    exit_code = ExitCode.FAILED


def register(subcommands: Any) -> None:
    parser = add_command(subcommands, "check-patch", handler=run_check_patch, description=__doc__,
                         help="replay a lane's in-flight histories against a patch before releasing it")
    parser.add_argument("--lane", required=True, metavar="L", help="the lane the patch is for, MAJOR.MINOR (e.g. 1.0)")
    parser.add_argument("--package", required=True, type=Path, metavar="FILE.zip",
                        help="the patch's deployable package (python -m provisioning package)")
    parser.add_argument("--page-size", type=positive_int, default=PAGE, metavar="N",
                        help=f"histories per request (default {PAGE})")
    parser.add_argument("--worker-cache", type=Path, default=None, metavar="DIR",
                        help="where the dev host's worker runtime is cached (default: the local lanes' own, "
                             ".devhost/site-packages beside the code)")


def run_check_patch(args: argparse.Namespace, ctx: CommandContext) -> int:
    from provisioning import packaging
    from provisioning.errors import ProvisioningError
    from router.replay_check import ReplayRunError, run_replay, unpack_zip

    lane = _lane(args.lane)
    package = Path(args.package)
    if not package.is_file():
        raise UsageError(f"No package file at {str(package)!r}: pass the patch's zip (python -m provisioning package).")
    with tempfile.TemporaryDirectory(prefix="check-patch-") as scratch:
        root = Path(scratch)
        histories = root / "histories.ndjson"
        try:
            count, ticket = _download(ctx, lane, histories, args.page_size)
        except RouterRefused as refused:
            if refused.code not in NOT_A_PATCH:
                raise
            return _not_a_patch(ctx, lane, refused.code)
        try:
            app_dir, sha256 = asyncio.run(unpack_zip(package, root / "packages"))
            report = asyncio.run(run_replay(app_dir, histories, expected=count,
                                            worker_cache=args.worker_cache or packaging.DEFAULT_CACHE_DIR))
        except ProvisioningError as error:
            raise UsageError(f"The package cannot be used: {error.message}") from None
        except ReplayRunError as error:
            raise ReplayNotRun(f"The histories could not be replayed on the package: {error.message}",
                               code=error.code) from None
    # The `replayCheck` release intake takes (router.validation.parse_replay_check).
    check = {"sha256": sha256, "instancesChecked": report.checked,
             "checkedAt": datetime.now(UTC).isoformat(timespec="seconds"), "passed": report.passed,
             "lane": lane, "ticket": ticket}
    _show(ctx, lane, report, check)
    return ExitCode.OK if report.passed else ExitCode.FAILED


def _lane(text: str) -> str:
    from provisioning.naming import (
        is_lane_key,  # the one lane-key rule, the router's too
    )

    if not is_lane_key(text):
        raise UsageError(f"--lane: {text[:40]!r} is not a lane: expected MAJOR.MINOR, e.g. 1.0.")
    return text


def _not_a_patch(ctx: CommandContext, lane: str, code: str | None) -> int:
    said = NO_RELEASE_YET.format(lane=lane) + (" (its lane was deleted)" if code == LaneGone.code else "")
    if ctx.output.as_json:
        ctx.output.document({"lane": lane, "patch": False, "message": said})
    else:
        ctx.output.line(said)
    return ExitCode.OK


def _download(ctx: CommandContext, lane: str, into: Path, page_size: int) -> tuple[int, str]:
    """Every in-flight history of the lane into `into` (NDJSON); how many, and the router's ticket
    of the first page (the histories' start: the oldest moment the check vouches for)."""
    count, token, seen, ticket = 0, None, set(), None
    with open(into, "w", encoding="utf-8") as stream:
        while True:
            text, token, page_ticket = ctx.api.histories_page(lane, page_size, token)
            if ticket is None:
                if page_ticket is None:
                    raise ReplayNotRun("The router answered the histories without an X-Replay-Check-Ticket: it is "
                                       "older than this CLI, and its intake would not take the check.")
                ticket = page_ticket
            for line in text.splitlines():
                if line.strip():
                    json.loads(line)  # the router answers one status document per line
                    stream.write(line + "\n")
                    count += 1
            if token is None:
                return count, ticket
            if token in seen:
                raise ReplayNotRun("The router repeated a continuation token of the histories.")
            seen.add(token)


def _show(ctx: CommandContext, lane: str, report: ReplayReport, check: dict[str, Any]) -> None:
    counts = {"instancesChecked": report.checked, "clean": report.count("clean"),
              "diverged": report.count("diverged"), "failed": report.count("failed")}
    advice = "" if report.passed else (
        f"Do not release this package as a patch of lane {lane}: instances waiting there would break when "
        f"it is deployed in place. Release it as a new MINOR version (a lane of its own) instead.")
    if ctx.output.as_json:
        ctx.output.document({
            "lane": lane, **counts, "passed": report.passed,
            "instances": [{"instanceId": v.instance_id, "name": v.name, "verdict": v.verdict,
                           **({"firstDifference": v.first_difference} if v.verdict != "clean" else {})}
                          for v in report.verdicts],
            "replayCheck": check, **({"advice": advice} if advice else {}),
        })
        return
    rows = [[v.instance_id, v.name, v.verdict, v.first_difference or None] for v in report.verdicts]
    title = (f"lane {lane}: {counts['instancesChecked']} in-flight instance(s) checked, {counts['clean']} clean, "
             f"{counts['diverged']} diverged, {counts['failed']} failed")
    ctx.output.table(title, HEADERS, rows)
    if advice:
        ctx.output.line(advice)
    ctx.output.line("replayCheck: " + json.dumps(check))
