"""The task hub in SQLite: every durable fact of the engine lives in one WAL database.

Writes are grouped into a `Batch` that is applied in one transaction, so an orchestration
episode (inbox messages consumed, history appended, new work enqueued, status updated) is
all-or-nothing, and many episodes can share one commit. Row ids are allocated here, in memory,
so the engine knows them before the commit and can use `executemany`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    parent TEXT,
    runtime TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created, instance_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    visible_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    state TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entity_inbox (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

INSTANCE_COLUMNS = (
    "instance_id, name, execution_id, status, input, output, custom_status, created, updated, "
    "parent, runtime"
)


@dataclass
class Batch:
    """Writes to apply in one transaction; deletes run before inserts."""

    history_resets: list[str] = field(default_factory=list)  # instance ids
    inbox_deletes: list[int] = field(default_factory=list)
    inbox_purges: list[str] = field(default_factory=list)  # instance ids
    work_deletes: list[int] = field(default_factory=list)
    entity_inbox_deletes: list[int] = field(default_factory=list)
    entity_deletes: list[str] = field(default_factory=list)
    instances: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # latest row wins
    history: list[tuple[str, int, str]] = field(default_factory=list)
    inbox: list[tuple[int, str, str | None, float, str]] = field(default_factory=list)
    work: list[tuple[int, str, str, str]] = field(default_factory=list)
    entities: list[tuple[str, str | None, float, float]] = field(default_factory=list)
    entity_inbox: list[tuple[int, str, str]] = field(default_factory=list)

    def merge(self, other: "Batch") -> None:
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict):
                mine.update(theirs)
            else:
                mine.extend(theirs)

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__)


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used only from the event loop's thread.
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a process kill loses nothing committed; only an OS crash could.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self._next_id = {
            table: (self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0] + 1)
            for table in ("inbox", "work", "entity_inbox")
        }

    def close(self) -> None:
        self.db.close()

    def new_id(self, table: str) -> int:
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def commit(self, batch: Batch) -> None:
        if batch.is_empty():
            return
        db = self.db
        db.execute("BEGIN")
        try:
            if batch.history_resets:
                db.executemany("DELETE FROM history WHERE instance_id = ?",
                               [(i,) for i in batch.history_resets])
            if batch.inbox_purges:
                db.executemany("DELETE FROM inbox WHERE instance_id = ?",
                               [(i,) for i in batch.inbox_purges])
            if batch.inbox_deletes:
                db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in batch.inbox_deletes])
            if batch.work_deletes:
                db.executemany("DELETE FROM work WHERE id = ?", [(i,) for i in batch.work_deletes])
            if batch.entity_inbox_deletes:
                db.executemany("DELETE FROM entity_inbox WHERE id = ?",
                               [(i,) for i in batch.entity_inbox_deletes])
            if batch.entity_deletes:
                db.executemany("DELETE FROM entities WHERE entity_id = ?",
                               [(i,) for i in batch.entity_deletes])
            if batch.instances:
                db.executemany(
                    f"INSERT OR REPLACE INTO instances ({INSTANCE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    list(batch.instances.values()),
                )
            if batch.history:
                db.executemany("INSERT OR REPLACE INTO history VALUES (?, ?, ?)", batch.history)
            if batch.inbox:
                db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?)", batch.inbox)
            if batch.work:
                db.executemany("INSERT INTO work VALUES (?, ?, ?, ?)", batch.work)
            if batch.entities:
                db.executemany(
                    "INSERT INTO entities VALUES (?, ?, ?, ?) ON CONFLICT (entity_id) "
                    "DO UPDATE SET state = excluded.state, updated = excluded.updated",
                    batch.entities,
                )
            if batch.entity_inbox:
                db.executemany("INSERT INTO entity_inbox VALUES (?, ?, ?)", batch.entity_inbox)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- reads ---------------------------------------------------------------------------

    def instance_row(self, instance_id: str) -> tuple[Any, ...] | None:
        return self.db.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()

    def instance_rows(self, clauses: list[str], params: list[Any]) -> list[tuple[Any, ...]]:
        """Instances matching all SQL `clauses`, oldest first (the paging order)."""
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self.db.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances{where} ORDER BY created, instance_id",
            params,
        ).fetchall()

    def entity_rows(self) -> list[tuple[str, str | None, float, float]]:
        return self.db.execute(
            "SELECT entity_id, state, created, updated FROM entities ORDER BY created, entity_id"
        ).fetchall()

    def history_texts(self, instance_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [row[0] for row in rows]

    def inbox_rows(self) -> Iterable[tuple[int, str, str | None, float, str]]:
        return self.db.execute(
            "SELECT id, instance_id, execution_id, visible_at, body FROM inbox ORDER BY id"
        ).fetchall()

    def work_rows(self) -> list[tuple[int, str, str, str]]:
        return self.db.execute(
            "SELECT id, instance_id, execution_id, body FROM work ORDER BY id"
        ).fetchall()

    def entity_inbox_rows(self) -> list[tuple[int, str, str]]:
        return self.db.execute(
            "SELECT id, entity_id, body FROM entity_inbox ORDER BY id"
        ).fetchall()

    def entity_row(self, entity_id: str) -> tuple[str, str | None, float, float] | None:
        return self.db.execute(
            "SELECT entity_id, state, created, updated FROM entities WHERE entity_id = ?",
            (entity_id,),
        ).fetchone()

    def purge_instances(self, instance_ids: list[str]) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for table in ("instances", "history", "inbox"):
                db.executemany(f"DELETE FROM {table} WHERE instance_id = ?",
                               [(i,) for i in instance_ids])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
