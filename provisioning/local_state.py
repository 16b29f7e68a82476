"""The local backend's files for each lane, under `ROOT/lanes/<app name>/`:

    state.json      what the lane is: port, pid, deployed version and package (no secret)
    secrets.json    its master and durable system keys, mode 0600, handed to the host by env
    settings.json   its app settings (configure_app), handed to the host as its environment
    packages/<sha>  unpacked packages; `current` is a symlink to the deployed one
    data/           the dev host's data dir: the lane's own task hub
    host.log        the host's output

Every write is atomic (a rename), so a crash never leaves half a file behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import uuid
from pathlib import Path

from provisioning.errors import ProvisioningError

SYSTEM_KEY = "durableTaskKey"
MASTER_KEY = "masterKey"


@dataclasses.dataclass
class LocalLaneRecord:
    """A local lane's state.json: where its host runs and what it serves. Holds no secret."""

    lane: str
    name: str
    port: int
    created: str
    task_hub: str = ""
    version: str = ""
    package_sha256: str = ""
    package_dir: str = ""  # directory name under packages/
    python: str = ""  # interpreter the host runs with
    pid: int | None = None
    pid_started: str | None = None

    @classmethod
    def from_json(cls, text: str) -> "LocalLaneRecord":
        raw = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


class LaneFiles:
    """Reads and writes the lane directories under `lanes_dir` (callers hold the lane's lock)."""

    def __init__(self, lanes_dir: Path) -> None:
        self.lanes_dir = lanes_dir

    def dir_of(self, name: str) -> Path:
        return self.lanes_dir / name

    def create(self, record: LocalLaneRecord) -> None:
        """Make the lane's directories, its keys (once) and its state.json."""
        lane_dir = self.dir_of(record.name)
        (lane_dir / "packages").mkdir(parents=True, exist_ok=True)
        (lane_dir / "data").mkdir(exist_ok=True)
        self.ensure_keys(record.name)
        self.save(record)

    def load(self, name: str) -> LocalLaneRecord | None:
        path = self.dir_of(name) / "state.json"
        try:
            return LocalLaneRecord.from_json(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise ProvisioningError(f"lane state {path} is unreadable: {exc}") from None

    def require(self, name: str) -> LocalLaneRecord:
        record = self.load(name)
        if record is None:
            raise ProvisioningError(f"lane app {name} does not exist; create it first")
        return record

    def save(self, record: LocalLaneRecord) -> None:
        write_atomic(self.dir_of(record.name) / "state.json", record.to_json())

    def all(self) -> list[LocalLaneRecord]:
        if not self.lanes_dir.is_dir():
            return []
        return [r for d in sorted(self.lanes_dir.iterdir()) if (r := self.load(d.name)) is not None]

    def ensure_keys(self, name: str) -> None:
        path = self.dir_of(name) / "secrets.json"
        if path.is_file():
            return
        keys = {MASTER_KEY: secrets.token_urlsafe(32), SYSTEM_KEY: secrets.token_urlsafe(32)}
        write_atomic(path, json.dumps(keys), mode=0o600)

    def keys(self, name: str) -> dict[str, str]:
        """The lane's keys; ProvisioningError if it has none."""
        try:
            keys = json.loads((self.dir_of(name) / "secrets.json").read_text())
            return {MASTER_KEY: str(keys[MASTER_KEY]), SYSTEM_KEY: str(keys[SYSTEM_KEY])}
        except (OSError, ValueError, KeyError):
            raise ProvisioningError(f"lane app {name} has no keys (was it created?)") from None

    def secrets_of(self, name: str) -> tuple[str, ...]:
        """Every secret of the lane, to mask in what is shown (empty if it has none)."""
        try:
            return tuple(self.keys(name).values())
        except ProvisioningError:
            return ()

    def settings(self, name: str) -> dict[str, str] | None:
        path = self.dir_of(name) / "settings.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_settings(self, name: str, settings: dict[str, str]) -> None:
        write_atomic(self.dir_of(name) / "settings.json", json.dumps(settings, indent=2))


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(staging, path)


def point_symlink(link: Path, target: Path) -> None:
    """Make `link` point at `target` in one atomic rename, never leaving it missing."""
    staging = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(target, staging)
    os.replace(staging, link)
