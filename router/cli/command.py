"""What every command gets: its output, the router's API (built on first use) and a clock.

A command module has `register(subcommands)`, which calls `add_command` once per command it
adds; `add_command` gives the parser the options every command takes (--router, --key, --json,
--verbose, --http-timeout), so they work before or after the command's name.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from router.cli.api import DEFAULT_HTTP_TIMEOUT, RouterApi
from router.cli.errors import EXIT_CODE_HELP
from router.cli.output import Output


class Handler(Protocol):
    def __call__(self, args: argparse.Namespace, ctx: "CommandContext") -> int: ...


@dataclass
class CommandContext:
    output: Output
    make_api: Callable[[], RouterApi]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _api: RouterApi | None = field(default=None, init=False, repr=False)

    @property
    def api(self) -> RouterApi:
        if self._api is None:
            self._api = self.make_api()
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def add_common_options(parser: argparse.ArgumentParser, *, on_command: bool) -> None:
    """The options of every command. On a command's parser they default to SUPPRESS, so a value
    given before the command's name is not overwritten by the command's default."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if on_command else value

    group = parser.add_argument_group("router")
    group.add_argument("--router", metavar="URL", default=default(None),
                       help="the router's base URL, e.g. https://myrouter.azurewebsites.net (env DFROUTER_URL)")
    group.add_argument("--key", metavar="KEY", default=default(None),
                       help="the key of the command's role, sent as x-functions-key and never printed "
                            "(env DFROUTER_KEY; prefer the environment: a command line shows in process lists)")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="machine-readable output: JSON documents, one per line")
    group.add_argument("--verbose", "-v", action="store_true", default=default(False),
                       help="one line per HTTP exchange on stderr (never a header), a traceback on a bug")
    group.add_argument("--http-timeout", metavar="S", type=positive_seconds, default=default(DEFAULT_HTTP_TIMEOUT),
                       help=f"seconds one HTTP request may take (default {DEFAULT_HTTP_TIMEOUT:g})")


def add_command(subcommands: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, *,
                help: str, description: str | None = None, handler: Handler) -> argparse.ArgumentParser:
    """Add command `name`, run by `handler(args, ctx) -> exit code`; returns its parser for its own options."""
    parser = subcommands.add_parser(name, help=help, description=description or help, allow_abbrev=False,
                                    formatter_class=argparse.RawDescriptionHelpFormatter,
                                    epilog="exit codes:\n" + EXIT_CODE_HELP)
    add_common_options(parser, on_command=True)
    parser.set_defaults(handler=handler)
    return parser


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, not {text!r}")
    return int(text)
