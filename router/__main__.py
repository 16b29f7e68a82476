"""`python -m router run` (`make run`): the router on this machine, for the local loop.

It starts the router in the dev host with the fast local settings of `local.settings.dev.json`
(a drain in seconds, not the production minutes of `local.settings.sample.json`) and keys checked
as on Azure, then prints its URL, its client/release/admin keys and example curl lines. The keys are
generated once into `.devhost/dev-router/keys.json` (mode 0600) and printed by this command only:
it runs on the developer's own machine, for them. A deployed router's keys are app settings and
are never printed or logged. The real environment wins over the file, as in Core Tools.

Ctrl-C stops the router and then its lane hosts. Stopping a lane host loses nothing: its
orchestrations are in its task hub on disk, and the next `make run` finds the lane unanswered and
restarts it from there (docs/operations.md). `--keep-lanes` leaves them running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devhost import launcher
from provisioning.local import LocalLaneBackend
from router.auth import ROLE_SETTINGS

REPO = Path(__file__).resolve().parent.parent
DEV_SETTINGS = REPO / "local.settings.dev.json"
DEV_STATE = Path(".devhost") / "dev-router"  # under the app directory: `make clean` removes it
DEFAULT_PORT = 7071
# role name -> its keys' app setting: the router's own table, so a dev key lands where auth reads it.
KEY_SETTINGS = {role.value: setting for role, setting in ROLE_SETTINGS.items()}


@dataclass(frozen=True)
class DevKeys:
    """The local router's key of each role (secrets: shown only by `run`'s banner)."""

    client: str
    release: str
    admin: str

    def settings(self) -> dict[str, str]:
        return {KEY_SETTINGS[role]: getattr(self, role) for role in KEY_SETTINGS}


def load_or_create_keys(path: Path) -> DevKeys:
    """The keys kept in `path`, generated (and written readable by the owner only) the first time,
    so the keys printed once stay valid across runs."""
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        return DevKeys(**{role: str(stored[role]) for role in KEY_SETTINGS})
    keys = DevKeys(**{role: secrets.token_urlsafe(32) for role in KEY_SETTINGS})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({role: getattr(keys, role) for role in KEY_SETTINGS}, out)
    return keys


def dev_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings-style file, as strings."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {str(name): value if isinstance(value, str) else json.dumps(value)
            for name, value in (doc.get("Values") or {}).items() if value is not None}


def host_settings(file_values: Mapping[str, str], keys: DevKeys, environ: Mapping[str, str]) -> dict[str, str]:
    """What the router host runs with: the dev file, the dev keys, and the real environment over
    both (Core Tools' rule). A key setting from the environment replaces all three dev keys, since
    once one role has keys of its own every role needs its own."""
    return {**file_values, **({} if has_own_keys(environ) else keys.settings()), **environ}


def has_own_keys(environ: Mapping[str, str]) -> bool:
    """The environment sets a role's keys: then it sets them all, and no dev key is used or shown."""
    return any(environ.get(setting) for setting in KEY_SETTINGS.values())


def banner(base_url: str, keys: DevKeys | None, settings: Mapping[str, str], keep_lanes: bool) -> str:
    """What `run` prints once the router answers: where it is, its keys, what to try."""
    timing = (f"drain poll {settings.get('ROUTER_DRAIN_POLL_SECONDS', '60')} s, "
              f"grace {settings.get('ROUTER_DRAIN_GRACE_SECONDS', '300')} s, "
              f"map cache {settings.get('ROUTER_MAP_CACHE_SECONDS', '5')} s")
    lines = [
        "",
        f"Router running at {base_url} (dev host, local provisioner; {timing})",
        f"Lanes under {settings.get('ROUTER_LOCAL_ROOT', '.devhost/lanes')}: "
        "python -m provisioning local list | stop --all | stop LANE",
        "",
    ]
    if keys is None:
        lines += ["Keys: ROUTER_*_KEYS from your environment (not shown).", ""]
    else:
        lines += [
            f"Keys (local development only: generated into {DEV_STATE / 'keys.json'} on this machine",
            "and shown here because it is yours; send one in the x-functions-key header):",
        ]
    # DFROUTER_URL: the release CLI (python -m router.cli, dfrouter) reads it.
    shell = [f"export ROUTER={shlex.quote(base_url)} DFROUTER_URL={shlex.quote(base_url)}"]
    if keys is not None:
        shell.append("export " + " ".join(f"{role.upper()}_KEY={shlex.quote(getattr(keys, role))}"
                                          for role in KEY_SETTINGS))
    header = settings.get("ROUTER_VERSION_HEADER", "X-App-Version")
    lines += ["  " + line for line in shell] + [
        "",
        "Paste the export lines in a second shell, then try (each command is one line):",
        "  .venv/bin/python -m provisioning package samples/1.0.0 --out /tmp/app-1.0.0.zip",
        '  curl -s "$ROUTER/api/releases" -H "x-functions-key: $RELEASE_KEY" -d \'{"version": "1.0.0", '
        '"packageUrl": "/tmp/app-1.0.0.zip"}\'',
        '  curl -s "$ROUTER/api/releases/<id from the answer>" -H "x-functions-key: $RELEASE_KEY"',
        f'  curl -s "$ROUTER/api/orchestrators/process_order" -H "x-functions-key: $CLIENT_KEY" '
        f'-H "{header}: 1.0.0" -d \'{{"order_id": "o-1"}}\'',
        '  curl -s "<statusQueryGetUri from the answer>" -H "x-functions-key: $CLIENT_KEY"',
        '  curl -s "$ROUTER/api/versionmap" -H "x-functions-key: $ADMIN_KEY"',
        '  .venv/bin/python -m router.cli status --key "$ADMIN_KEY"',
        "",
        "Ctrl-C stops the router" + (" (lanes keep running: --keep-lanes)." if keep_lanes
                                     else " and then its lanes (their state stays on disk)."),
        "",
    ]
    return "\n".join(lines)


def stop_lanes(local_root: str) -> None:
    """Stop every lane host under the router's local root (relative to the app directory)."""
    root = Path(local_root)
    asyncio.run(LocalLaneBackend(root if root.is_absolute() else REPO / root).stop_all())


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    state = args.state if args.state.is_absolute() else REPO / args.state
    keys = load_or_create_keys(state / "keys.json")
    settings = host_settings(dev_settings(args.settings), keys, environ)
    shown_keys = None if has_own_keys(environ) else keys
    command = launcher.HostCommand(
        app_dir=REPO, port=args.port, data_dir=state / "data", log_path=state / "host-output.log",
        env=launcher.host_env(settings), enable_auth=True,
    )
    # The host's output goes to this terminal; Ctrl-C reaches it too (same process group).
    host = subprocess.Popen(command.argv(), cwd=str(REPO), env=dict(command.env), stdin=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, lambda *_: host.send_signal(signal.SIGINT))
    try:
        if not launcher.wait_until_ready(host, command.base_url):
            print(f"router: the dev host did not start on port {args.port} (see its output above)",
                  file=sys.stderr)
            launcher.stop(host)
            return 1
        print(banner(command.base_url, shown_keys, settings, args.keep_lanes), flush=True)
        host.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if host.poll() is None:
            host.send_signal(signal.SIGINT)  # a clean stop, as the terminal's Ctrl-C asks
        try:
            code = host.wait(launcher.STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            code = launcher.stop(host, signum=signal.SIGKILL)
        if not args.keep_lanes:
            stop_lanes(settings.get("ROUTER_LOCAL_ROOT", ".devhost/lanes"))
            print("router: stopped, and its lane hosts", flush=True)
    return 0 if code in (0, -signal.SIGINT) else code


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="start the router locally with fast settings and print its keys")
    start.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    start.add_argument("--settings", type=Path, default=DEV_SETTINGS,
                       help="a local.settings-style file (default local.settings.dev.json)")
    start.add_argument("--state", type=Path, default=DEV_STATE,
                       help=f"where the keys and the router's task hub live (default {DEV_STATE})")
    start.add_argument("--keep-lanes", action="store_true", help="leave the lane hosts running on exit")
    args = parser.parse_args(argv)
    return run(args, dict(os.environ if environ is None else environ))


if __name__ == "__main__":
    sys.exit(main())
