"""An app's packaged dependencies: the host imports them from APP_DIR/.python_packages/lib/
site-packages, first on sys.path, as the Python worker does (azure-functions-python-worker,
python/prodV4/worker.py: PKGS_PATH and PKGS; azure_functions_worker/utils/dependency.py puts the
customer's dependencies before the worker's). Each check runs in a fresh interpreter: loading an
app changes sys.path and sys.modules for good."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from devhost.launcher import REPO_ROOT

PACKAGES = Path(".python_packages") / "lib" / "site-packages"
LOAD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from devhost.app_loader import load_app
    from devhost.errors import AppLoadError
    app_dir = Path(sys.argv[1])
    try:
        functions = load_app(app_dir)
    except AppLoadError as exc:
        print(json.dumps({"error": str(exc)}))
    else:
        import packaged_helper
        print(json.dumps({"names": functions.names, "helper": packaged_helper.__file__, "path": sys.path[:2]}))
    """
)


def an_app(root: Path) -> Path:
    (root / "function_app.py").write_text(
        "import azure.functions as func\nimport packaged_helper\napp = func.FunctionApp()\n"
        "@app.route(route='x')\ndef x(req):\n    return packaged_helper.WHERE\n"
    )
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    return root


def load(app_dir: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", LOAD, str(app_dir)], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


def test_the_apps_packaged_dependencies_come_first_on_sys_path(tmp_path: Path) -> None:
    app = an_app(tmp_path)
    (app / PACKAGES).mkdir(parents=True)
    (app / PACKAGES / "packaged_helper.py").write_text("WHERE = 'package'\n")
    (app / "packaged_helper.py").write_text("WHERE = 'app root'\n")  # a package's copy wins
    loaded = load(app)
    assert loaded["names"] == ["x"]
    assert loaded["helper"] == str(app / PACKAGES / "packaged_helper.py")
    assert loaded["path"] == [str(app / PACKAGES), str(app)]


def test_a_missing_dependency_names_the_missing_python_packages(tmp_path: Path) -> None:
    loaded = load(an_app(tmp_path))
    assert "ModuleNotFoundError: No module named 'packaged_helper'" in loaded["error"]
    assert "the app has no .python_packages/lib/site-packages" in loaded["error"]


def test_a_missing_dependency_of_a_packaged_app_adds_no_such_hint(tmp_path: Path) -> None:
    app = an_app(tmp_path)
    (app / PACKAGES).mkdir(parents=True)  # present, but without the module: requirements.txt lacks it
    loaded = load(app)
    assert "No module named 'packaged_helper'" in loaded["error"] and ".python_packages" not in loaded["error"]
