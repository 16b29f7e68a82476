"""Lane environments: cached by what goes into them; a failed build is a clear PackageError."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from provisioning.local_environments import LaneEnvironments, devhost_requirements, normalized_requirements
from provisioning.errors import PackageError


def test_requirements_are_compared_without_comments_order_or_blanks() -> None:
    a = "# runtime\nazure-functions>=1.26\n\nhttpx  # client\n"
    b = "httpx\nazure-functions>=1.26\nhttpx\n"
    assert normalized_requirements(a) == normalized_requirements(b) == ["azure-functions>=1.26", "httpx"]


def test_the_cache_key_follows_the_requirements_only(tmp_path: Path) -> None:
    environments = LaneEnvironments(tmp_path)
    assert environments.key_for("a\nb\n") == environments.key_for("b\n# note\na")
    assert environments.key_for("a\n") != environments.key_for("a==2\n")
    assert LaneEnvironments(tmp_path / "other").key_for("a\n") == environments.key_for("a\n")


def test_the_dev_host_needs_are_pinned_to_what_the_router_runs() -> None:
    pinned = devhost_requirements()
    names = [r.split("==")[0] for r in pinned]
    assert names == ["azure-functions", "azure-functions-durable", "aiohttp", "httpx"]
    assert all("==" in r for r in pinned)


def test_a_failed_build_names_its_step_and_is_not_taken_for_a_finished_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provisioning.local_environments")
    # An unparsable requirement fails inside pip without touching the network.
    environments = LaneEnvironments(tmp_path, extra_requirements=[])
    with pytest.raises(PackageError, match="installing the lane's requirements") as caught:
        asyncio.run(environments.python_for("this is === not a requirement\n"))
    assert "Invalid requirement" in caught.value.message or "invalid" in caught.value.message.lower()
    assert any("creating lane environment" in r.getMessage() for r in caplog.records)
    venv = tmp_path / environments.key_for("this is === not a requirement\n")
    assert not (venv / ".ready").exists()  # not mistaken for a finished environment
