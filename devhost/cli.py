"""Command line: `python -m devhost start [APP_DIR] [--port N] [--host H] [--data DIR] [--verbose]
[--enableAuth] [--on-load-error exit|serve]`, `python -m devhost keys [APP_DIR] [--data DIR]`
(docs/architecture.md, "The dev host contract") and
`python -m devhost replay [APP_DIR] --histories PATH [--json]` (devhost/replay.py: the format)."""

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
from devhost.replay import (
    HistoriesError,
    Verdict,
    is_status_document,
    read_histories,
    replay_all,
    replay_history,
)
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
                        help="NDJSON of status documents as GET instances/{id}?showHistory=true"
                             "&showHistoryOutput=true&showInput=true answers them (or older "
                             "recordings: a JSON file, NDJSON, or a directory of *.json)")
    replay.add_argument("--json", action="store_true",
                        help="print one JSON verdict per line (devhost/replay.py: the format)")
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
    """Exit 0 when every history replays clean, 1 when any diverged or failed (the patch gate),
    2 when the histories cannot be read."""
    try:
        documents = list(read_histories(args.histories))
    except HistoriesError as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 2
    config = build_config(args.app_dir)
    os.chdir(config.app_dir)
    # load_app puts the package's .python_packages/lib/site-packages first on sys.path, as
    # `start` does. An app that cannot load fails every history, so the gate names the reason.
    load_error: str | None = None
    orchestrators: dict = {}
    try:
        orchestrators = load_app(config.app_dir, config.script_file).orchestrators
    except AppLoadError as exc:
        load_error = str(exc)
    verdicts: list[Verdict] = []
    for document in documents:
        if is_status_document(document):
            verdict = replay_all(orchestrators, [document], load_error)[0]
            print(json.dumps(verdict.to_json()) if args.json else verdict.describe(), flush=True)
        else:
            verdict = _replay_old(orchestrators, document, load_error, args.json)
        verdicts.append(verdict)
    if not args.json:
        counts = {kind: sum(v.verdict == kind for v in verdicts) for kind in ("clean", "diverged", "failed")}
        print(f"{len(verdicts)} histories: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0 if all(v.clean for v in verdicts) else 1


def _replay_old(orchestrators: dict, recorded: dict, load_error: str | None, as_json: bool) -> Verdict:
    """An older recording ({"orchestrator", "instanceId", "input", "history"}), printed as before."""
    name, instance_id = str(recorded.get("orchestrator")), str(recorded.get("instanceId"))
    handle = orchestrators.get(name)
    if load_error is not None or handle is None:
        verdict = Verdict(instance_id, name, "failed", error=load_error or f"the app has no orchestrator {name!r}")
        print(json.dumps(verdict.to_json()) if as_json else f"FAIL {instance_id}: {verdict.error}")
        return verdict
    result = replay_history(handle, recorded)
    if as_json:
        print(json.dumps(result.verdict().to_json()))
    else:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.orchestrator} {result.instance_id}"
              + "".join(f"\n     {problem}" for problem in result.problems))
    return result.verdict()


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
