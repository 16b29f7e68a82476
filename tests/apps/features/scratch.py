"""Where activities leave traces the tests can read (attempt counts, "I started" marks).

Set FEATURES_SCRATCH_DIR to share it with a test; in Azure it falls back to the temp dir.
"""

import os
import tempfile
from pathlib import Path


def scratch_dir() -> Path:
    path = Path(os.environ.get("FEATURES_SCRATCH_DIR") or tempfile.gettempdir()) / "features-app"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_attempt(key: str, suffix: str) -> int:
    """Append one line for this attempt and return how many attempts there were so far."""
    # One line per attempt, appended with O_APPEND, so concurrent or repeated runs all count.
    path = scratch_dir() / f"{key}.{suffix}"
    with open(path, "a", encoding="utf-8") as marks:
        marks.write("attempt\n")
    return len(path.read_text(encoding="utf-8").splitlines())
