"""Instance queries (`GET instances`, purge by filter): filters to SQL, entity rows merged in,
pages cut with continuation tokens. Reads the store; changes nothing."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any, Callable

from devhost.engine.model import Instance
from devhost.engine.options import InstanceQuery
from devhost.engine.runtime_status import RuntimeStatus
from devhost.engine.status import decode_token, encode_token, entity_status, instance_status
from devhost.engine.store import Store

# (created, id, status builder): sorted by the first two, the status built only for the page.
QueryRow = tuple[float, str, Callable[[], dict[str, Any]]]


def query_rows(store: Store, query: InstanceQuery, *, entities: bool = True) -> list[QueryRow]:
    """Matching instances (and entities) in page order."""
    clauses: list[str] = []
    params: list[Any] = []
    statuses = [s for s in (query.runtime_status or []) if s]
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(statuses)
    if query.created_from is not None:
        clauses.append("created >= ?")
        params.append(_epoch(query.created_from))
    if query.created_to is not None:
        clauses.append("created <= ?")
        params.append(_epoch(query.created_to))
    if query.updated_from is not None:
        clauses.append("updated >= ?")
        params.append(_epoch(query.updated_from))
    if query.updated_to is not None:
        clauses.append("updated <= ?")
        params.append(_epoch(query.updated_to))
    prefix = query.instance_id_prefix or ""
    if prefix:
        clauses.append("substr(instance_id, 1, ?) = ?")
        params.extend([len(prefix), prefix])
    rows = store.instance_rows(clauses, params)
    show_input = query.show_input
    result: list[QueryRow] = [
        (row[7], row[0], functools.partial(_status_of_row, row, show_input)) for row in rows
    ]
    # Entities are listed as instances that are always Running, as on Azure.
    if entities and (not statuses or RuntimeStatus.RUNNING in statuses):
        for target, _, created, updated in store.entity_rows():
            if prefix and not target.startswith(prefix):
                continue
            if query.created_from is not None and created < _epoch(query.created_from):
                continue
            if query.created_to is not None and created > _epoch(query.created_to):
                continue
            if query.updated_from is not None and updated < _epoch(query.updated_from):
                continue
            if query.updated_to is not None and updated > _epoch(query.updated_to):
                continue
            result.append((created, target,
                           functools.partial(entity_status, target, created, updated)))
        result.sort(key=lambda item: (item[0], item[1]))
    return result


def page_of(rows: list[QueryRow], query: InstanceQuery) -> tuple[list[dict[str, Any]], str | None]:
    """The page of `rows` that `query` asks for, and the token of the next one (None: last)."""
    after = decode_token(query.continuation_token) if query.continuation_token else None
    if after is not None:
        rows = [r for r in rows if (r[0], r[1]) > after]
    page = rows if query.top is None or query.top <= 0 else rows[:query.top]
    token = None
    if query.top and len(rows) > len(page) and page:
        token = encode_token(page[-1][0], page[-1][1])
    return [make() for _, _, make in page], token


def _status_of_row(row: tuple[Any, ...], show_input: bool) -> dict[str, Any]:
    return instance_status(Instance.from_row(row), show_input=show_input)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
