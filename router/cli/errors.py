"""What can go wrong in a `dfrouter` command, each with the exit code a pipeline step sees.

The exit codes are the CLI's contract with scripts, so they live in one table (`ExitCode`) that
`--help` prints. An HTTP answer of the router becomes one of these errors in one place
(`RouterApi`), keeping the router's error code and message.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    AUTH = 3
    UNREACHABLE = 4
    TIMEOUT = 5
    CONFLICT = 6
    BUG = 70  # EX_SOFTWARE
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for a command whose reader went away


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done: the release completed (a --lazy one: waits for its first request); the gate is open",
    ExitCode.FAILED: "the release failed or was superseded (the router's error code is printed); "
                     "gate: an orchestration still runs",
    ExitCode.BAD_INPUT: "bad command line, or the router refused the request (400, 404, 413, 422)",
    ExitCode.AUTH: "the key is missing or unknown (401) or another role's (403)",
    ExitCode.UNREACHABLE: "the router is unreachable, did not answer in time, failed (5xx) or is not a router",
    ExitCode.TIMEOUT: "--timeout passed before the release ended (run the same command again to follow it)",
    ExitCode.CONFLICT: "the router's state refuses it (409/410): version not newer, lane quota, current lane",
    ExitCode.BUG: "an unexpected error in dfrouter itself",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: "the output's reader went away (`| head`): the command stopped there",
}
EXIT_CODE_HELP = "\n".join(f"  {code.value:>3}  {text}" for code, text in EXIT_CODE_MEANINGS.items())

# The router's 4xx answers that are not about the key.
_STATUS_EXIT = {409: ExitCode.CONFLICT, 410: ExitCode.CONFLICT}


class CliError(Exception):
    """Base of every error a command reports: a message for people, an exit code for scripts."""

    exit_code: ExitCode = ExitCode.BUG

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the router's error code, when the router answered one
        self.status = status  # the HTTP status, when there was an answer
        self.details = details or {}
        self.shown = False  # already on stdout (a failed release's final status): --json adds no error document

    def document(self) -> dict[str, Any]:
        """The error as `--json` prints it."""
        doc: dict[str, Any] = {"error": self.code or type(self).__name__, "message": self.message,
                               "exitCode": int(self.exit_code)}
        if self.status is not None:
            doc["status"] = self.status
        return {**doc, **{k: v for k, v in self.details.items() if k not in doc}}


class UsageError(CliError):
    """The command line is incomplete or malformed (no router URL, a bad option value)."""

    exit_code = ExitCode.BAD_INPUT


class RouterRefused(CliError):
    """The router answered a 4xx other than 401/403: the request or the router's state refuses it."""

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, status=status, **kwargs)
        self.exit_code = _STATUS_EXIT.get(status, ExitCode.BAD_INPUT)


class AuthRefused(CliError):
    """401 or 403: the key is missing, unknown, or belongs to another role."""

    exit_code = ExitCode.AUTH


class RouterUnreachable(CliError):
    """No answer from the router (connection, time-out), a 5xx, or an answer that is not the router's."""

    exit_code = ExitCode.UNREACHABLE


class TimedOut(CliError):
    """`--timeout` passed while following a release."""

    exit_code = ExitCode.TIMEOUT


class ReleaseFailed(CliError):
    """The release ended without completing: failed (with the lane's error) or superseded."""

    exit_code = ExitCode.FAILED
