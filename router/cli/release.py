"""`dfrouter release`: post a release and, with --wait, follow it to its end.

Following reads `GET /api/releases/{id}` every --poll seconds and shows each step once, in time
order, from the moment the router hands the release to its lane: a rich live display on a terminal, one plain line per step
otherwise (a pipeline's log), or with --json one JSON document per line: `{"type": "accepted"}`
with the 202's body, `{"type": "step"}` per step, `{"type": "status"}` with the final status last
(so `tail -n1` is the outcome). Without --wait, --json prints the 202's body alone.

--replay-check FILE carries the patch gate's proof (ROUTER_PATCH_GATE): FILE is what
`dfrouter check-patch` wrote, either its --json document (whose `replayCheck` is taken, and whose
lane must be the release's) or its plain output (the `replayCheck: {...}` line), or the
`replayCheck` object alone. The release then carries the checked package's sha256 (taken from the
check when --sha256 is not given), so the router deploys exactly the package that was replayed.
When check-patch found no release on the lane ("lane x.y has no release yet", --json `"patch":
false`), the version is a new lane's first, not a patch: the release is sent without a replayCheck.
--ramp STEPS sends a progressive ramp: the new lane takes that share of version-less starts step by
step, and the previous lane drains only once it reaches 100%. With --wait, following goes on past
the lane's activation until the ramp ends, from the ramp's steps in the release's status
(ramp_started, ramp_advanced, ramp_completed, ramp_aborted): exit 0 when it completed, 1 when it
aborted (its reason and the last check's figures are printed). A release that started no ramp (a
first lane, with nothing current to ramp from, or a patch, deployed in place) ends at activation.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from router.cli.api import RouterApi
from router.cli.command import CommandContext, add_command, positive_seconds
from router.cli.errors import (
    CliError,
    ExitCode,
    ReleaseFailed,
    RouterUnreachable,
    TimedOut,
    UsageError,
)
from router.cli.output import Output
from router.cli.ramps import add_ramp_options, ramp_plan

# The states of GET /api/releases/{id} in which a release will not move on (router/release_progress.py).
DONE = frozenset({"completed", "waiting_for_first_request"})
ENDED_UNDONE = frozenset({"failed", "superseded"})
# The release orchestration's last steps (router/orchestrators.py `release`): once one shows, the
# intake is over. Until then the answer holds only the intake's steps; the lane's first ones join at
# the hand-over, stamped earlier (router/release_progress.py merges them in time order), so lines
# wait for it to come out in time order.
INTAKE_ENDS = frozenset({"handed_to_lane", "waiting_for_first_request"})
# The lane's steps of a ramp its activation started (router/version_map.py, tagged with the release).
RAMP_STARTED, RAMP_ENDS = "ramp_started", frozenset({"ramp_completed", "ramp_aborted"})
DEFAULT_TIMEOUT = 1800.0  # a cold lane on Azure takes minutes; a pipeline job has its own limit too
DEFAULT_POLL = 2.0
MAX_MISSED_POLLS = 5  # a router restart or a network blip while following is not a failed release

DESCRIPTION = __doc__.split("\n\n", 1)[1]


def register(subcommands: Any) -> None:
    parser = add_command(subcommands, "release", handler=run_release, help="post a release (and follow it with --wait)",
                         description="Post a release: POST /api/releases (a release pipeline's key).\n\n" + DESCRIPTION)
    parser.add_argument("--version", required=True, metavar="V", help="the release's version, MAJOR.MINOR.PATCH")
    parser.add_argument("--package", required=True, metavar="URL",
                        help="the package's location: an https URL on an allowed host (or a local path "
                             "with the local provisioner); a SAS token in it is never shown by the router")
    parser.add_argument("--sha256", metavar="HEX", help="the package's sha256, checked before it is deployed")
    parser.add_argument("--lazy", action="store_true",
                        help="provision the lane at its first request, not now (done: waiting_for_first_request)")
    parser.add_argument("--wait", action="store_true", help="follow the release until it ends; exit 1 if it fails")
    parser.add_argument("--timeout", metavar="S", type=positive_seconds, default=None,
                        help=f"with --wait: give up after S seconds with exit 5 (default {DEFAULT_TIMEOUT:g}, "
                             f"plus the ramp's steps with --ramp)")
    parser.add_argument("--poll", metavar="S", type=positive_seconds, default=DEFAULT_POLL,
                        help=f"with --wait: seconds between two reads of the release (default {DEFAULT_POLL:g})")
    parser.add_argument("--replay-check", type=Path, metavar="FILE",
                        help="a patch's replay check: what `dfrouter check-patch` wrote (--json or plain), or "
                             "its replayCheck object; needed for a patch when the router runs ROUTER_PATCH_GATE=require")
    add_ramp_options(parser)


def release_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"version": args.version, "packageUrl": args.package}
    sha256 = args.sha256
    check = read_replay_check(args.replay_check, args.version) if args.replay_check is not None else None
    if check is not None:
        checked = str(check.get("sha256", ""))
        if sha256 and checked.lower() != sha256.lower():
            raise UsageError(f"--replay-check {args.replay_check} is for another package: its sha256 is not "
                             f"--sha256. Run check-patch on the package you release.")
        sha256 = sha256 or checked  # the router deploys only the package that was replayed
        body["replayCheck"] = check
    if sha256:
        body["sha256"] = sha256
    if args.lazy:
        body["provision"] = "lazy"
    ramp = ramp_plan(args)
    if ramp is not None:
        body["ramp"] = ramp
    return body


def read_replay_check(path: Path, version: str) -> dict[str, Any] | None:
    """The `replayCheck` object in what check-patch wrote to `path` (see the module's doc), or None
    when check-patch found the lane without a release (nothing to check); the router checks its
    fields (router/validation.py parse_replay_check)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--replay-check: cannot read {str(path)!r}: {type(error).__name__}.") from None
    document = _replay_check_document(text)
    if not isinstance(document, dict):
        raise UsageError(f"--replay-check: {str(path)!r} holds no replay check: expected the output of "
                         f"`dfrouter check-patch` (--json or plain) or its replayCheck object.")
    if "replayCheck" in document or document.get("patch") is False:
        lane = document.get("lane")
        release_lane = ".".join(version.split(".")[:2])
        if lane is not None and lane != release_lane:
            raise UsageError(f"--replay-check: the check replayed lane {lane}'s histories, but version {version} "
                             f"goes to lane {release_lane}.")
        if document.get("patch") is False:
            return None  # check-patch: the lane has no release yet, so this is no patch
        document = document["replayCheck"]
    if not isinstance(document, dict) or "sha256" not in document:
        raise UsageError(f"--replay-check: {str(path)!r} holds no replayCheck object with the package's sha256.")
    return document


_PLAIN_TITLE = re.compile(r"^lane (\S+): \d+ in-flight instance\(s\) checked")
_PLAIN_NO_RELEASE = re.compile(r"^lane (\S+) has no release yet: this is not a patch")


def _replay_check_document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    # check-patch's plain output (what the pipeline examples tee) starts with `lane L: N in-flight
    # instance(s) checked, ...` and ends with `replayCheck: {...}`: keep the lane, so a check of
    # another lane's histories is refused as it is from --json output.
    lane = None
    for line in text.splitlines():
        no_release = _PLAIN_NO_RELEASE.match(line)
        if no_release:
            return {"lane": no_release.group(1), "patch": False}
        title = _PLAIN_TITLE.match(line)
        if title and lane is None:
            lane = title.group(1)
        if line.startswith("replayCheck: "):
            try:
                check = json.loads(line.removeprefix("replayCheck: "))
            except ValueError:
                return None
            return check if lane is None else {"lane": lane, "replayCheck": check}
    return None


def wait_timeout(args: argparse.Namespace, body: dict[str, Any]) -> float:
    """--timeout, or the default: a cold lane's time, plus every step of the ramp when one is
    followed (5,25,50,100 at 600 s is 40 minutes, past the lane's 30)."""
    if args.timeout is not None:
        return float(args.timeout)
    ramp = body.get("ramp") or {}
    return DEFAULT_TIMEOUT + len(ramp.get("steps") or ()) * float(ramp.get("stepSeconds") or 0)


def run_release(args: argparse.Namespace, ctx: CommandContext) -> int:
    body = release_body(args)
    accepted = ctx.api.post_release(body)
    if not args.wait:
        show_accepted(ctx.output, accepted)
        return ExitCode.OK
    with progress_display(ctx.output) as display:
        display.accepted(accepted)
        status = follow_release(ctx.api, str(accepted["id"]), display, timeout=wait_timeout(args, body), poll=args.poll,
                                clock=ctx.clock, sleep=ctx.sleep, ramp=args.ramp is not None)
        display.finished(status)
    return outcome(status)


def show_accepted(output: Output, accepted: dict[str, Any]) -> None:
    if output.as_json:
        output.document(accepted)
        return
    for line in accepted_lines(accepted):
        output.line(line)


def accepted_lines(accepted: dict[str, Any]) -> list[str]:
    posted = "posted again (the same release)" if accepted.get("duplicate") else "accepted"
    if accepted.get("retry"):
        posted = "accepted again: retrying its failed lane"
    return [f"release {accepted.get('id')} {posted}: version {accepted.get('version')} on lane {accepted.get('lane')}",
            f"status: {accepted.get('statusQueryGetUri')}"]


def ramp_outcome(status: dict[str, Any]) -> str | None:
    """How the ramp this release started ended: "completed", "aborted", "none" (it started none),
    or None while it runs. The ramp the status shows (the map's latest) is authoritative; else the
    steps, which stay when a later ramp replaces it in the map."""
    shown = status.get("ramp")
    if isinstance(shown, dict) and shown.get("state"):
        return None if shown["state"] == "running" else str(shown["state"])
    names = [str(step.get("step")) for step in status.get("steps") or ()]
    if RAMP_STARTED not in names:
        return "none"
    ended = [name for name in names if name in RAMP_ENDS]
    return ended[-1].removeprefix("ramp_") if ended else None


def ramp_reason(status: dict[str, Any]) -> str:
    """Why the release's ramp ended: the map's reason, or its last ramp step's detail once a later
    ramp replaced it in the map."""
    ramp = status.get("ramp") or {}
    return str(ramp.get("reason") or next((step.get("detail", "") for step in reversed(status.get("steps") or ())
                                           if step.get("step") in RAMP_ENDS), ""))


def ramp_failure(status: dict[str, Any]) -> ReleaseFailed:
    """The release's ramp aborted: why, with the last check's figures when the map still shows it."""
    ramp = status.get("ramp") or {}
    checks = ramp.get("checks") or []
    details: dict[str, Any] = {"lane": status.get("lane")}
    figures = ""
    if ramp.get("fromLane"):
        details["currentLane"] = ramp["fromLane"]  # the lane that stays current
    if checks:
        last = checks[-1]
        details.update(share=last.get("share"), started=last.get("started"), failed=last.get("failed"),
                       ratio=last.get("ratio"), maxFailedRatio=ramp.get("maxFailedRatio"))
        figures = (f" (last check at {last.get('share')}%: {last.get('failed')} of {last.get('started')} failed, "
                   f"ratio {last.get('ratio')}, max {ramp.get('maxFailedRatio')})")
    stays = f"; lane {ramp['fromLane']} stays current" if ramp.get("fromLane") else ""
    return ReleaseFailed(f"Release {status.get('id')}: the ramp onto lane {status.get('lane')} aborted: "
                         f"{ramp_reason(status) or 'no reason given'}{figures}{stays}", code="ramp_aborted",
                         details=details)


def outcome(status: dict[str, Any]) -> int:
    """0 for a release that is done (and its ramp, if it started one, completed); a ReleaseFailed
    naming the router's error otherwise."""
    state = status.get("state")
    if state in DONE:
        if ramp_outcome(status) == "aborted":
            failure = ramp_failure(status)
            failure.shown = True
            raise failure
        return ExitCode.OK
    error = status.get("error") or {}
    if state == "superseded":
        failure = ReleaseFailed(f"Release {status.get('id')} was superseded: a newer release of lane "
                                f"{status.get('lane')} took over before it ended.", code="superseded")
    else:
        failure = ReleaseFailed(f"Release {status.get('id')} failed ({error.get('error', 'unknown_error')}): "
                                f"{error.get('message', 'no message')}", code=error.get("error"),
                                details={k: v for k, v in error.items() if k not in ("error", "message")})
    failure.shown = True  # the final status already said it on stdout
    raise failure


def step_identity(step: dict[str, Any]) -> tuple[str, str, str]:
    return str(step.get("step")), str(step.get("at")), str(step.get("detail", ""))


def new_steps(seen: set[tuple[str, str, str]], steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps not seen yet, in the order given; `seen` is updated."""
    fresh = []
    for step in steps:
        identity = step_identity(step)
        if identity not in seen:
            seen.add(identity)
            fresh.append(step)
    return fresh


class ProgressDisplay(Protocol):
    def __enter__(self) -> "ProgressDisplay": ...
    def __exit__(self, *exc: object) -> None: ...
    def accepted(self, accepted: dict[str, Any]) -> None: ...
    def step(self, step: dict[str, Any]) -> None: ...
    def waiting(self, status: dict[str, Any]) -> None: ...
    def missed(self, error: CliError) -> None: ...
    def finished(self, status: dict[str, Any]) -> None: ...


def follow_release(api: RouterApi, release_id: str, display: ProgressDisplay, *, timeout: float, poll: float,
                   clock: Callable[[], float], sleep: Callable[[float], None], ramp: bool = False) -> dict[str, Any]:
    """Read the release until it ends (its last status) or `timeout` passes (TimedOut); with
    `ramp`, a completed release is followed on until the ramp it started ends."""
    deadline = clock() + timeout
    seen: set[tuple[str, str, str]] = set()
    missed = 0
    ramping = False
    while True:
        try:
            status = api.release(release_id)
            missed = 0
        except RouterUnreachable as error:
            missed += 1
            if missed >= MAX_MISSED_POLLS:
                raise
            display.missed(error)
        else:
            steps = status.get("steps") or ()
            ended = status.get("state") in DONE | ENDED_UNDONE
            ramping = ramp and status_ramp_running(status)
            if ramping:
                ended = False  # activated, and its ramp runs: its end is the pipeline's answer
            if ended or any(step.get("step") in INTAKE_ENDS for step in steps):
                for step in new_steps(seen, steps):
                    display.step(step)
            if ended:
                return status
            display.waiting(status)
        if clock() >= deadline:
            what = f"The ramp of release {release_id} has" if ramping else f"Release {release_id} has"
            raise TimedOut(f"{what} not ended after {timeout:g} s (it goes on: run the same "
                           f"command again to follow it, posting it again is a no-op).", code="timeout")
        sleep(max(0.0, min(poll, deadline - clock())))


def status_ramp_running(status: dict[str, Any]) -> bool:
    """The release activated its lane and the ramp it started has not ended."""
    return status.get("state") == "completed" and ramp_outcome(status) is None


def step_line(step: dict[str, Any]) -> str:
    detail = step.get("detail")
    return f"{step.get('at')}  {step.get('step')}" + (f"  {detail}" if detail else "")


def final_line(status: dict[str, Any]) -> str:
    line = f"release {status.get('id')} {status.get('state')}: version {status.get('version')} on lane {status.get('lane')}"
    ramp = ramp_outcome(status)
    if ramp in ("completed", "aborted"):
        reason = ramp_reason(status)
        line += f"; ramp {ramp}" + (f": {reason}" if reason else "")
    return line


class PlainProgress:
    """One line per new step, for logs: each step once, in order, with its timestamp."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def accepted(self, accepted: dict[str, Any]) -> None:
        for line in accepted_lines(accepted):
            self.output.line(line)

    def step(self, step: dict[str, Any]) -> None:
        self.output.line(step_line(step))

    def waiting(self, status: dict[str, Any]) -> None:
        return None

    def missed(self, error: CliError) -> None:
        self.output.note(f"dfrouter: the router did not answer, trying again: {error.message}")

    def finished(self, status: dict[str, Any]) -> None:
        self.output.line(final_line(status))


class JsonProgress(PlainProgress):
    """One JSON document per line: accepted, each step, the final status."""

    def accepted(self, accepted: dict[str, Any]) -> None:
        self.output.document({"type": "accepted", **accepted})

    def step(self, step: dict[str, Any]) -> None:
        self.output.document({"type": "step", **step})

    def finished(self, status: dict[str, Any]) -> None:
        self.output.document({"type": "status", **status})


class RichProgress(PlainProgress):
    """A spinner with the release's state under the steps printed so far (a terminal)."""

    def __init__(self, output: Output) -> None:
        super().__init__(output)
        self.console = output.console()
        self.spinner: Any = None

    def __enter__(self) -> "RichProgress":
        self.spinner = self.console.status("posting the release")
        self.spinner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.spinner.__exit__(*exc)

    def accepted(self, accepted: dict[str, Any]) -> None:
        for line in accepted_lines(accepted):
            self.console.print(line, markup=False)
        self.spinner.update(f"release {accepted.get('id')}: waiting")

    def step(self, step: dict[str, Any]) -> None:
        self.console.print(f"[dim]{_escape(step.get('at'))}[/dim]  [bold]{_escape(step.get('step'))}[/bold]"
                           + (f"  {_escape(step.get('detail'))}" if step.get("detail") else ""))

    def waiting(self, status: dict[str, Any]) -> None:
        ramp = status.get("ramp") or {}
        if status_ramp_running(status) and ramp.get("state") == "running":
            self.spinner.update(f"release {status.get('id')}: ramp at {ramp.get('share')}% "
                                f"(step {ramp.get('step')} of {len(ramp.get('steps') or ())})")
            return
        self.spinner.update(f"release {status.get('id')}: {status.get('state')}")

    def finished(self, status: dict[str, Any]) -> None:
        colour = "green" if status.get("state") in DONE and ramp_outcome(status) != "aborted" else "red"
        self.console.print(f"[{colour}]{_escape(final_line(status))}[/{colour}]")


def _escape(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def progress_display(output: Output) -> ProgressDisplay:
    if output.as_json:
        return JsonProgress(output)
    if output.fancy:
        return RichProgress(output)
    return PlainProgress(output)
