"""Imports for a fake App Service site's app as the Python worker gives them (loaded at start-up).

On App Service a run-from-package app imports from its own directory, from
`.python_packages/lib/site-packages` inside the package, and from what the worker itself ships
(`azure.functions`); nothing else is installed (no remote build for a package run from a URL:
MicrosoftDocs/azure-docs `articles/azure-functions/run-functions-from-deployment-package.md`,
`functions-reference-python.md` "Package management"). The dev host runs in the test venv, so
this module, put first on PYTHONPATH by the fake, refuses an import *made by the app's own code*
that the package does not provide, with the ModuleNotFoundError the worker would meet. The dev
host's own imports are left alone.
"""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path

_APP_DIR = os.environ.get("FAKE_APP_SERVICE_APP_DIR")
# Shipped by the Python worker itself, so importable without being in the package.
_WORKER_PROVIDED = ("azure.functions", "azure_functions_worker")


def _install(app_dir: Path) -> None:
    # The dev host itself puts this first on sys.path for the app, as the worker does.
    packages = app_dir / ".python_packages" / "lib" / "site-packages"
    app_root = str(app_dir)
    packages_root = str(packages)
    original_import = builtins.__import__

    def provided(name: str) -> bool:
        parts = name.split(".")
        if parts[0] in sys.stdlib_module_names:
            return True
        if any(name == allowed or name.startswith(allowed + ".") for allowed in _WORKER_PROVIDED):
            return True
        for root in (app_dir, packages):
            full = root.joinpath(*parts)
            if full.is_dir() or full.with_suffix(".py").is_file():
                return True
            # A regular top-level package or module provides its submodules; a namespace
            # package (azure) only the parts that are really there.
            if (root / parts[0] / "__init__.py").is_file() or (root / f"{parts[0]}.py").is_file():
                return True
            if any(root.glob(f"{parts[0]}.*.so")):
                return True
        return False

    def worker_import(name, globals=None, locals=None, fromlist=(), level=0):
        caller = (globals or {}).get("__file__") or ""
        if (
            level == 0
            and caller.startswith(app_root)
            and not caller.startswith(packages_root)
            and not provided(name)
        ):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return original_import(name, globals, locals, fromlist, level)

    builtins.__import__ = worker_import


if _APP_DIR:
    _install(Path(_APP_DIR).resolve())
