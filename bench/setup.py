"""`python -m bench.setup`: make sure the bench's outside tools are here (nginx and wrk, from Debian).

Run by `make bench` before the bench. Installs what is missing with apt-get (as root), or says
exactly what to install and exits 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Debian packages and the command each brings.
TOOLS = {"nginx": "nginx-light", "wrk": "wrk"}


def missing() -> dict[str, str]:
    return {command: package for command, package in TOOLS.items() if _which(command) is None}


def _which(command: str) -> str | None:
    # nginx lives in /usr/sbin, which a non-root PATH may lack.
    return shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/bin")


def tool(command: str) -> str:
    """The path of a bench tool; RuntimeError naming its package when it is not installed."""
    path = _which(command)
    if path is None:
        raise RuntimeError(f"{command} is not installed: run `make bench` (it installs {TOOLS[command]}) "
                           f"or `apt-get install -y {TOOLS[command]}`")
    return path


def main() -> int:
    needed = missing()
    if not needed:
        return 0
    packages = sorted(set(needed.values()))
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(f"bench: {', '.join(sorted(needed))} missing; install them with "
              f"`sudo apt-get install -y {' '.join(packages)}` (Debian/Ubuntu), then run `make bench` again",
              file=sys.stderr)
        return 1
    print(f"bench: installing {' '.join(packages)} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run([apt, "update"], env=env)
        if subprocess.run(install, env=env).returncode != 0:
            print(f"bench: could not install {' '.join(packages)} with apt-get", file=sys.stderr)
            return 1
    still = missing()
    if still:
        print(f"bench: {', '.join(sorted(still))} still missing after apt-get", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
