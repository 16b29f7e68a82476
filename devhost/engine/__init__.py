"""The durable engine of the local dev host: a SQLite task hub whose orchestrations replay
through the Python Durable SDK's own code, exactly as the Functions host drives it."""

from devhost.engine.engine import DurableEngine
from devhost.engine.errors import (
    EngineError,
    InstanceExists,
    InstanceNotFound,
    InstanceNotRunning,
    UnknownFunction,
)
from devhost.engine.options import EngineOptions, FaultOptions, InstanceQuery, OverridableStates
from devhost.engine.registry import ActivityFunction, EntityFunction, OrchestratorFunction, Registry
from devhost.engine.runtime_status import IN_FLIGHT, TERMINAL, RuntimeStatus

__all__ = [
    "IN_FLIGHT",
    "TERMINAL",
    "ActivityFunction",
    "DurableEngine",
    "EngineError",
    "EngineOptions",
    "EntityFunction",
    "FaultOptions",
    "InstanceExists",
    "InstanceNotFound",
    "InstanceNotRunning",
    "InstanceQuery",
    "OrchestratorFunction",
    "OverridableStates",
    "Registry",
    "RuntimeStatus",
    "UnknownFunction",
]
