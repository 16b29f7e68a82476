from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.arm import FakeArm, serve_fake_arm


@pytest.fixture
def fake_arm(tmp_path: Path) -> Iterator[FakeArm]:
    """A fresh fake ARM server per test."""
    with serve_fake_arm(tmp_path) as arm:
        yield arm
