"""Command line: `python -m devhost start [APP_DIR] [--port N] [--host H] [--data DIR] [--verbose]
[--enableAuth] [--on-load-error exit|serve]`
and `python -m devhost keys [APP_DIR] [--data DIR]` (docs/architecture.md, "The dev host contract")."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from devhost.app_loader import AppFunctions, load_app
from devhost.config import build_config
from devhost.errors import AppLoadError, HostError
from devhost.keys import load_or_create_keys
from devhost.replay import read_histories, replay_history
from devhost.server import DevHost, configure_logging, create_engine, debug_logging_requested, tune_collector

log = logging.getLogger("devhost")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost", description="Run an Azure Functions Python app locally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="serve the app (like `func start`)")
    start.add_argument("app_dir", nargs="?", default=".", type=Path, help="app directory (default .)")
    start.add_argument("--port", type=int, default=None, help="public port (default 7071)")
    start.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    start.add_argument("--data", type=Path, default=None, help="data dir (default APP_DIR/.devhost/<hub>)")
    start.add_argument("--verbose", action="store_true",
                       help="log every request (the access log) and replay; also when "
                            "AzureFunctionsJobHost__logging__logLevel__default is Debug")
    # Core Tools' spelling first; without it every request is let in as admin, as `func start` does.
    start.add_argument("--enableAuth", "--enable-auth", dest="enable_auth", action="store_true",
                       help="check function, system and master keys as on Azure (default: bypassed)")
    start.add_argument("--on-load-error", choices=("exit", "serve"), default="exit",
                       help="when the app cannot be loaded: exit 1 (default), or serve with no "
                            "functions and the error in /admin/host/status, as App Service does")
    replay = commands.add_parser("replay", help="replay recorded histories against the app's orchestrators")
    replay.add_argument("app_dir", nargs="?", default=".", type=Path, help="app directory (default .)")
    replay.add_argument("--histories", type=Path, required=True,
                        help="a recorded history (JSON), NDJSON of them, or a directory of *.json")
    keys = commands.add_parser("keys", help="print the host keys (keys.json)")
    keys.add_argument("app_dir", nargs="?", default=".", type=Path)
    keys.add_argument("--data", type=Path, default=None)
    return parser


async def _serve(host: DevHost) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await host.start()
        print(host.describe(), flush=True)
        print(f"Host started: {host.base_url}", flush=True)
        await stopping.wait()
        log.info("Stopping host...")
    finally:
        await host.stop()
    log.info("Host stopped")


def _start(args: argparse.Namespace) -> int:
    configure_logging(args.verbose or debug_logging_requested(os.environ))
    config = build_config(
        args.app_dir, host=args.host, port=args.port, data_dir=args.data, verbose=args.verbose,
        enable_auth=args.enable_auth,
    )
    # As Core Tools does: the app runs with its directory as working directory.
    os.chdir(config.app_dir)
    load_errors: list[str] = []
    try:
        functions = load_app(config.app_dir, config.script_file)
    except AppLoadError as exc:
        if args.on_load_error != "serve":
            raise
        # On App Service the host keeps running when the worker cannot index the app: no
        # function is loaded and /admin/host/status says why (state Error, `errors`).
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        log.error("Worker failed to index functions: %s", exc)
        functions, load_errors = AppFunctions(), [str(exc)]
    keys = load_or_create_keys(config.data_dir, function_names=functions.names)
    engine = create_engine(config, functions)
    tune_collector()
    try:
        asyncio.run(_serve(DevHost(config, functions, keys, engine, load_errors=load_errors)))
    except OSError as exc:  # typically the port is taken
        print(
            f"devhost: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def _keys(args: argparse.Namespace) -> int:
    config = build_config(args.app_dir, data_dir=args.data)
    keys = load_or_create_keys(config.data_dir)
    print(json.dumps(keys.to_json(), indent=2))
    return 0


def _replay(args: argparse.Namespace) -> int:
    """Exit 0 when every history replays without a difference, 1 otherwise (the patch gate)."""
    config = build_config(args.app_dir)
    os.chdir(config.app_dir)
    orchestrators = load_app(config.app_dir, config.script_file).orchestrators
    failed = 0
    for recorded in read_histories(args.histories):
        handle = orchestrators.get(str(recorded.get("orchestrator")))
        if handle is None:
            print(f"FAIL {recorded.get('instanceId')}: the app has no orchestrator {recorded.get('orchestrator')!r}")
            failed += 1
            continue
        result = replay_history(handle, recorded)
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.orchestrator} {result.instance_id}"
              + "".join(f"\n     {problem}" for problem in result.problems))
        failed += not result.ok
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"start": _start, "keys": _keys, "replay": _replay}
    try:
        return commands[args.command](args)
    except AppLoadError as exc:
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 1
    except HostError as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
