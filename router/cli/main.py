"""`dfrouter` / `python -m router.cli`: the entry point, the parser and the exit codes.

Adding a command: write `router/cli/<name>.py` with `register(subcommands)`, which calls
`router.cli.command.add_command(subcommands, "<name>", help=..., handler=run_<name>)` and adds
the command's own options to the parser it returns; `run_<name>(args, ctx) -> int` uses
`ctx.api` (router.cli.api.RouterApi) and `ctx.output`, and raises a `router.cli.errors.CliError`
to fail. Then add "<name>" to `COMMANDS` below: that line is the whole registration.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Callable, Mapping, NoReturn, Sequence, TextIO
from urllib.parse import urlsplit

import httpx

from router.cli.api import RouterApi
from router.cli.command import CommandContext, add_common_options
from router.cli.errors import EXIT_CODE_HELP, CliError, ExitCode
from router.cli.output import Output, RedactingStream

# Modules of router/cli/, each with register(subcommands); listed in --help in this order.
COMMANDS = ("release", "versionmap", "status", "lanes", "instances", "check_patch")

URL_ENV, KEY_ENV = "DFROUTER_URL", "DFROUTER_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfrouter", allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Release to, and operate, a Durable Functions application router over its HTTP API.",
        epilog=f"The router's URL and key come from --router/--key or {URL_ENV}/{KEY_ENV}. The key is sent as\n"
               "x-functions-key and never printed. Release commands need a release pipeline's key,\n"
               "the others an admin's.\n\nexit codes:\n" + EXIT_CODE_HELP,
    )
    add_common_options(parser, on_command=False)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"router.cli.{name}").register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
         env: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None,
         clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None,
         fancy: bool | None = None) -> int:
    """Run one command; its exit code. The keyword arguments are seams for tests (streams, the
    environment, an httpx transport, the clock; `fancy` forces rich on or off)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    secrets = [*secrets_in(argv), env.get(KEY_ENV, "")]
    out = RedactingStream(stdout or sys.stdout, secrets)
    err = RedactingStream(stderr or sys.stderr, secrets)
    try:
        with redirect_stdout(out), redirect_stderr(err):  # type: ignore[type-var]
            args = build_parser().parse_args(argv)  # --help and usage errors write and exit here
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else ExitCode.BAD_INPUT

    output = Output(out, err, as_json=args.json, fancy=fancy)
    key = args.key if args.key is not None else env.get(KEY_ENV)

    def make_api() -> RouterApi:
        api = RouterApi(args.router or env.get(URL_ENV, ""), key, transport=transport, timeout=args.http_timeout,
                        on_exchange=output.note if args.verbose else None)
        if args.verbose:
            output.note(f"dfrouter: router {api!r}, key {'given' if key else 'none'}")
        return api

    ctx = CommandContext(output, make_api)
    if clock is not None:
        ctx.clock = clock
    if sleep is not None:
        ctx.sleep = sleep
    try:
        return int(args.handler(args, ctx))
    except CliError as error:
        report(output, error)
        return int(error.exit_code)
    except KeyboardInterrupt:
        output.note("dfrouter: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `dfrouter ... | head`: not a bug in dfrouter. Stop quietly; writing a note could fail the same way.
        return ExitCode.BROKEN_PIPE
    except Exception as error:  # a bug: say so, keep the traceback for --verbose (redacted all the same)
        output.note(f"dfrouter: unexpected error: {type(error).__name__}: {error}")
        if args.verbose:
            output.note("".join(traceback.format_exception(error)).rstrip())
        else:
            output.note("dfrouter: run with --verbose for the traceback")
        return ExitCode.BUG
    finally:
        ctx.close()


def report(output: Output, error: CliError) -> None:
    output.note(f"dfrouter: error: {error.message}")
    if output.as_json and not error.shown:
        output.document({"type": "error", **error.document()})


def secrets_in(argv: Sequence[str]) -> list[str]:
    """The values of --key, and the query of --package (a SAS token), in `argv`: read before
    parsing, so not even a usage error can echo one."""
    found = []
    for option, take in (("--key", lambda value: value), ("--package", lambda value: urlsplit(value).query)):
        for i, arg in enumerate(argv):
            if arg == option and i + 1 < len(argv):
                found.append(take(argv[i + 1]))
            elif arg.startswith(option + "="):
                found.append(take(arg.removeprefix(option + "=")))
    return [secret for secret in found if secret]


def run() -> NoReturn:
    """The `dfrouter` console script."""
    code = main()
    if code == ExitCode.BROKEN_PIPE:
        # Python flushes stdout again at exit, which would print a BrokenPipeError of its own
        # (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)
