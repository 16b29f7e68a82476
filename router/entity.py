"""The version-map durable entity: the single writer of routing state.

Functions glue only: every operation is `map_operations.apply_operation`, pure code.
"""

from __future__ import annotations

import azure.durable_functions as df

from router import runtime
from router.map_operations import apply_operation

VERSION_MAP_ENTITY = "version_map"
VERSION_MAP_KEY = "main"
VERSION_MAP_ID = df.EntityId(VERSION_MAP_ENTITY, VERSION_MAP_KEY)

bp = df.Blueprint()


@bp.entity_trigger(context_name="context", entity_name=VERSION_MAP_ENTITY)
def version_map(context: df.DurableEntityContext) -> None:
    state = context.get_state(lambda: None)
    new_state, result = apply_operation(
        state,
        context.operation_name,
        context.get_input(),
        max_lanes=runtime.current().settings.max_lanes,
    )
    if new_state is not state:
        context.set_state(new_state)
    context.set_result(result)
