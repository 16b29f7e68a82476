"""Errors of the durable engine; the host layer maps each to an HTTP status."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the durable engine raises on purpose."""

    status: int = 500


class InstanceNotFound(EngineError):
    """No instance (or entity) with that id exists in the task hub."""

    status = 404


class InstanceExists(EngineError):
    """An instance with that id is still running, so it cannot be started again."""

    status = 409


class InstanceNotRunning(EngineError):
    """The instance is in a final state and cannot take that operation."""

    status = 410


class UnknownFunction(EngineError):
    """The app has no orchestrator, activity or entity with that name."""

    status = 404
