"""The router as `azd up` (and `func azure functionapp publish`) deploys it: without what
`.funcignore` leaves out.

Both honour `.funcignore`, which keeps the local tooling (`devhost/`, `demo/`, `tests/`, ...) out
of the router's package. A module the function app imports at load time that needs one of those
would fail the router's indexing on Azure while every local test passes (locally the whole tree is
on sys.path). Found walking the README to `azd up`: `router/replay_check.py` imported `devhost`
at module level.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def left_out_packages() -> list[str]:
    """Top-level Python packages of this repository that `.funcignore` keeps out of the deployment."""
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    return sorted(name for name in ignored if (ROOT / name / "__init__.py").is_file())


def test_funcignore_leaves_out_the_local_tooling():
    assert "devhost" in left_out_packages()


def test_the_function_app_loads_without_what_funcignore_leaves_out():
    blocked = left_out_packages()
    # None in sys.modules makes `import name` fail as a missing package would, whatever path or
    # editable install could otherwise find it.
    script = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"
        "import function_app\n"
        "print('loaded', len(function_app.app.get_functions()))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ROUTER_", "DEVHOST_"))}
    env["ROUTER_TASK_HUB"] = "DeployCheck"
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("loaded ")
