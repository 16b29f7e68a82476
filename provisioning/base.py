"""The one interface the lane lifecycle uses to own a lane's function app.

Every operation is idempotent: repeating it after success returns the same result, repeating it
after a partial failure completes it. Only plain data crosses this interface; no Azure type
leaks out of a backend. Errors are `provisioning.errors.ProvisioningError` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Where a Functions host serves the Durable extension's HTTP API (the lanes' and the router's).
DURABLE_API_PATH = "/runtime/webhooks/durabletask"


@dataclass(frozen=True)
class LaneSpec:
    """What a backend needs to know about a lane."""

    lane: str  # "MAJOR.MINOR", e.g. "1.2"
    version: str  # the full version being deployed, e.g. "1.2.3"
    task_hub: str  # the lane's own task hub name


@dataclass(frozen=True)
class AppRef:
    """Where a lane's app lives. Holds no secret."""

    name: str
    base_url: str  # e.g. "https://rt-1-2-ab12cd.azurewebsites.net" or "http://127.0.0.1:7131"
    resource_id: str = ""  # ARM id for azure, state directory for local


@dataclass(frozen=True)
class Package:
    """A build to deploy: a zip of a Functions app."""

    url: str  # https URL, or (local backend only) a local path / file:// URL
    sha256: str | None = None


@dataclass(frozen=True)
class Health:
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    """One look at an app after a deploy: whether it serves the package yet, and if not, why."""

    ready: bool
    detail: str = ""
    key_read: bool = False  # the durabletask_extension system key exists (the host started once)
    triggers_synced: bool = False  # the platform rescanned the app's triggers


@dataclass(frozen=True)
class DeployResult:
    version: str
    package_sha256: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    # extra[UNCHANGED] == "true": the app already had this package, so nothing restarts.
    UNCHANGED = "unchanged"

    @property
    def unchanged(self) -> bool:
        return self.extra.get(self.UNCHANGED) == "true"


class LaneBackend(Protocol):
    """Create, configure, deploy, key, check and delete one function app per lane."""

    async def create_app(self, lane: LaneSpec) -> AppRef:
        """Create the lane's app, or return it if it already exists."""

    async def configure_app(self, lane: LaneSpec, app: AppRef) -> None:
        """Set the lane's app settings (own task hub, storage, runtime)."""

    async def deploy_package(self, lane: LaneSpec, app: AppRef, package: Package) -> DeployResult:
        """Deploy `package` to the app (in place: running orchestrations resume on it)."""

    async def read_system_key(self, app: AppRef) -> str:
        """The app's `durabletask_extension` system key. A secret: never log it."""

    async def check_health(self, app: AppRef) -> Health:
        """Whether the app's host is up and its Durable HTTP API answers."""

    async def check_readiness(self, app: AppRef, *, deployed_at: str = "", triggers_synced: bool = False) -> Readiness:
        """One look at whether the app serves its package: its host up (and, when `deployed_at` is
        an ISO time, started after it), its orchestrators indexed, its Durable HTTP API answering
        with the system key. Syncs triggers once the host is up unless `triggers_synced`. Not
        ready yet is an answer; a package whose functions cannot load raises `PackageError`."""

    async def restart_app(self, app: AppRef) -> None:
        """Bring back an app that stopped answering: restart its host (local) or its site (azure)."""

    async def delete_app(self, app: AppRef) -> None:
        """Delete the app and nothing else; deleting a missing app is not an error."""

    async def aclose(self) -> None:
        """Release connections and credentials."""
