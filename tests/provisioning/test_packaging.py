"""Deployable packages: what `python -m provisioning package` puts in the zip, and how it fails.

What App Service needs of a Python package run from a URL is documented at
https://learn.microsoft.com/azure/azure-functions/python-build-options ("Dependencies must be
installed in ./.python_packages/lib/site-packages"; built for Linux and the app's Python) and
https://learn.microsoft.com/azure/azure-functions/run-functions-from-deployment-package (the zip
is mounted as is: nothing is installed from requirements.txt).

The builds install real wheels from PyPI once per machine (cached by content under
.devhost/site-packages), so every test here after the first copies from the cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provisioning import packaging
from provisioning.errors import PackageError
from provisioning.local import REPO_ROOT

SAMPLE = REPO_ROOT / "samples" / "1.0.0"
SITE = packaging.SITE_PACKAGES


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def a_v2_app(root: Path, requirements: str = "azure-functions>=1.26,<2\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (root / "function_app.py").write_text("import azure.functions as func\napp = func.FunctionApp()\n")
    (root / "requirements.txt").write_text(requirements)
    return root


def test_the_cli_packages_sample_1_0_0_with_the_durable_sdk_inside(tmp_path: Path) -> None:
    out = tmp_path / "X.zip"
    run = subprocess.run(
        [sys.executable, "-m", "provisioning", "package", "samples/1.0.0", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = names_in(out)
    assert f"{SITE}/azure/durable_functions/__init__.py" in names
    assert f"{SITE}/azure/functions/__init__.py" in names
    assert {"function_app.py", "host.json", "requirements.txt"} <= set(names)
    # No console script: its #! line would tie the digest to the machine that built the zip.
    assert not [n for n in names if n.startswith(f"{SITE}/bin/")]
    # Size and sha256 printed, as a release posts them.
    assert f"size {out.stat().st_size} bytes" in run.stdout
    assert f"sha256 {packaging.sha256_of(out)}" in run.stdout


def test_compiled_dependencies_are_linux_x86_64_wheels_for_the_target_python(tmp_path: Path) -> None:
    built = packaging.build_package(SAMPLE, tmp_path / "p.zip")  # defaults: 3.11, manylinux2014_x86_64
    compiled = [n for n in names_in(built.path) if n.endswith(".so")]
    assert compiled, "aiohttp and its helpers ship compiled modules"
    assert all("cpython-311-x86_64-linux-gnu" in n or n.endswith(".abi3.so") for n in compiled), compiled
    assert any(n.startswith(f"{SITE}/aiohttp/") for n in compiled)


def test_the_zip_is_reproducible_and_names_its_size_and_digest(tmp_path: Path) -> None:
    first = packaging.build_package(SAMPLE, tmp_path / "a.zip")
    second = packaging.build_package(SAMPLE, tmp_path / "b.zip")
    assert first.sha256 == second.sha256 == packaging.sha256_of(first.path)
    assert first.size == first.path.stat().st_size
    names = names_in(first.path)
    app_entries = [n for n in names if not n.startswith(".python_packages/")]
    assert app_entries == sorted(app_entries)
    with zipfile.ZipFile(first.path) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_local_leftovers_never_ship(tmp_path: Path) -> None:
    app = a_v2_app(tmp_path / "app")
    leftovers = [
        "local.settings.json", ".venv/lib/x.py", "tests/test_app.py", "__pycache__/function_app.cpython-311.pyc",
        ".git/config", ".devhost/hub/keys.json", f"{SITE}/stale/__init__.py", "helpers/__pycache__/h.pyc",
        ".pytest_cache/v", "helpers/stale.pyc",
    ]  # fmt: skip
    for name in [*leftovers, "helpers/__init__.py", "helpers/tests.py"]:
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text("x")
    names = names_in(packaging.build_package(app, tmp_path / "app.zip").path)
    assert not [n for n in names if any(n == bad or n.startswith(bad + "/") for bad in leftovers)]
    assert not [n for n in names if "stale" in n or n.endswith(".pyc") or "__pycache__" in n]
    assert {"helpers/__init__.py", "helpers/tests.py", "function_app.py"} <= set(names)


def test_installs_are_cached_by_requirements_python_and_platform(tmp_path: Path) -> None:
    text = (SAMPLE / "requirements.txt").read_text()
    target = packaging.Target()
    assert packaging.cache_key(text, target) == packaging.cache_key("\n".join(reversed(text.splitlines())), target)
    assert packaging.cache_key(text, target) != packaging.cache_key(text, packaging.Target(python_version="3.12"))
    assert packaging.cache_key(text, target) != packaging.cache_key(text, packaging.Target(platform="manylinux2014_aarch64"))
    first: list[str] = []
    installed = packaging.installed_site_packages(text, target, cache_dir=tmp_path, progress=first.append)
    assert (installed / "site-packages" / "azure" / "durable_functions").is_dir()
    assert any(line.startswith("Successfully installed") for line in first), first  # pip's progress shown
    again: list[str] = []
    assert packaging.installed_site_packages(text, target, cache_dir=tmp_path, progress=again.append) == installed
    assert again == []  # from the cache: pip did not run


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d.mkdir(), "not a v2-model Python Functions app: it has no host.json or function_app.py"),
        (lambda d: (a_v2_app(d) / "function_app.py").unlink(), "has no function_app.py"),
        (lambda d: (a_v2_app(d) / "requirements.txt").unlink(), "requirements.txt does not exist"),
    ],
)
def test_an_app_it_cannot_package_is_refused_clearly(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path / "app")
    with pytest.raises(PackageError, match=message):
        packaging.build_package(tmp_path / "app", tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_a_pip_failure_quotes_pips_last_lines(tmp_path: Path) -> None:
    app = a_v2_app(tmp_path / "app", requirements="this is === not a requirement\n")
    cache = tmp_path / "cache"
    with pytest.raises(PackageError) as caught:
        packaging.build_package(app, tmp_path / "out.zip", cache_dir=cache)
    assert "pip install failed" in caught.value.message
    assert "Invalid requirement" in caught.value.message
    assert not [p for p in cache.iterdir() if p.is_dir()]  # no half install left to be mistaken for one


def test_the_cli_reports_an_error_with_exit_code_1(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "provisioning", "package", str(tmp_path), "--out", str(tmp_path / "x.zip")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert "not a v2-model Python Functions app" in run.stderr and "Traceback" not in run.stderr
