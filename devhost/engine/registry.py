"""The functions of one app, as the durable engine needs them.

The host layer builds a Registry from the app's discovered functions; the engine only calls
these handles and never looks at decorators or bindings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class OrchestratorFunction:
    name: str
    handle: Callable[[str], str]  # SDK Orchestrator.handle: context JSON -> OrchestratorState JSON


@dataclass(frozen=True)
class ActivityFunction:
    name: str
    func: Callable[..., Any]  # the raw user function, sync or async
    input_param: str  # keyword argument that receives the input


@dataclass(frozen=True)
class EntityFunction:
    name: str
    handle: Callable[[str], str]  # SDK Entity.handle: batch JSON -> results JSON


@dataclass
class Registry:
    orchestrators: dict[str, OrchestratorFunction] = field(default_factory=dict)
    activities: dict[str, ActivityFunction] = field(default_factory=dict)
    entities: dict[str, EntityFunction] = field(default_factory=dict)  # keyed by lower-cased name

    def entity(self, name: str) -> EntityFunction | None:
        # The SDK lower-cases entity names in instance ids, so lookups ignore case.
        return self.entities.get(name.lower())


# The trigger attribute that renames a durable function, per trigger type.
NAME_OVERRIDES = {
    "orchestrationTrigger": "orchestration",
    "activityTrigger": "activity",
    "entityTrigger": "entity_name",
}


def durable_name(kind: str, trigger: Any, function_name: str) -> str:
    """The name a durable function is called by: its trigger's override, else the function name."""
    return getattr(trigger, NAME_OVERRIDES[kind], None) or function_name


def registry_from_functions(functions: Iterable[Any]) -> Registry:
    """Build a Registry from azure.functions `Function` objects (`app.get_functions()`)."""
    registry = Registry()
    for function in functions:
        trigger = function.get_trigger()
        kind = trigger.get_binding_name() if trigger is not None else None
        if kind not in NAME_OVERRIDES:
            continue
        name = durable_name(kind, trigger, function.get_function_name())
        user = function.get_user_function()
        if kind == "orchestrationTrigger":
            registry.orchestrators[name] = OrchestratorFunction(name, user)
        elif kind == "activityTrigger":
            registry.activities[name] = ActivityFunction(name, user, trigger.name)
        else:
            registry.entities[name.lower()] = EntityFunction(name, user)
    return registry
