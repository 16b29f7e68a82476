"""Errors of the durable engine, under the dev host's one base (`devhost.errors.DevHostError`).

The engine knows nothing of HTTP: `devhost.durable_api.ENGINE_ERROR_STATUS` maps each to a status.
"""

from __future__ import annotations

from devhost.errors import DevHostError


class EngineError(DevHostError):
    """Base of every error the durable engine raises on purpose."""


class InstanceNotFound(EngineError):
    """No instance (or entity) with that id exists in the task hub."""


class InstanceExists(EngineError):
    """An instance with that id is in a state a new start may not replace."""


class InstanceNotRunning(EngineError):
    """The instance is in a final state and cannot take that operation."""


class UnknownFunction(EngineError):
    """The app has no orchestrator, activity or entity with that name."""

    def __init__(self, message: str, *, kind: str = "orchestrator") -> None:
        super().__init__(message)
        self.kind = kind  # "orchestrator" or "entity": the extension answers them differently
