"""Read-model tables as data, and the unit of work that writes them.

A view declares its tables (:class:`Table`); the framework derives the DDL and
every statement from that declaration, always qualified with the target schema,
so the same view can be built in the live schema, in a staging schema for a
rebuild, or in a scratch schema for ``verify``.

Handlers never issue SQL. They read and change rows through :class:`Rows`, an
in-memory unit of work for one batch of events in one transaction (live
following), or for many batches written at checkpoints (rebuild, verify, a long
catch-up: see ``Projector(resident=True)``):

* rows keyed by an aggregate id (``Table.owner``) are prefetched for every id
  the batch mentions, with one ``= ANY(%s)`` query per table;
* other rows (a handful of portfolio totals) are loaded on first use;
* at the end of the batch, new rows are inserted and changed rows updated with
  one ``unnest()`` statement per table, whatever the batch size.

That is what makes a rebuild fast: a row touched by a thousand events in a
batch is read once and written once. A unit of work that started from empty
tables (``complete``) never reads them at all.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # SQL type: uuid, text, integer, bigint, boolean, date, timestamptz
    nullable: bool = True
    personal: bool = False  # personal data: never logged, redacted in verify reports


def col(name: str, type_: str, *, null: bool = True, personal: bool = False) -> Column:
    return Column(name, type_, null, personal)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Column holding the aggregate id that partitions this table: the batch prefetches
    # every row whose owner is an id the batch's events mention. None: loaded on demand.
    owner: str | None = None
    indexes: tuple[tuple[str, ...], ...] = ()
    # A small table (totals per scheme and year): read whole, with one query, on the first row a
    # unit of work asks for, instead of one query per key (a live batch asked ~100 times).
    whole: bool = False

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate columns")
        for k in (*self.key, *(c for i in self.indexes for c in i)):
            if k not in names:
                raise ValueError(f"{self.name}: unknown column {k!r}")
        if self.owner is not None and self.owner not in self.key:
            raise ValueError(f"{self.name}: the owner column must be part of the key")
        if self.owner is not None and self.owner != self.key[0]:
            # prefetches read by the owner through the primary key (secondary indexes may not
            # exist yet: a rebuild builds them after its replay)
            raise ValueError(f"{self.name}: the owner column must come first in the key")
        if self.owner is not None and self.whole:
            raise ValueError(f"{self.name}: a table read whole has no owner column")

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def value_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.key)

    @cached_property
    def key_positions(self) -> tuple[int, ...]:
        return tuple(self.column_names.index(k) for k in self.key)

    @cached_property
    def owner_position(self) -> int | None:
        return None if self.owner is None else self.key.index(self.owner)

    @cached_property
    def personal(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.personal)

    def qualified(self, schema: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(self.name))

    def ddl(self, schema: str, *, indexes: bool = True) -> list[sql.Composed]:
        """The table with its primary key, and its secondary indexes unless ``indexes=False``
        (a replay into an empty table builds them after the load: see ``index_ddl``)."""
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name), sql.SQL(c.type), sql.SQL("" if c.nullable else " NOT NULL")
            )
            for c in self.columns
        )
        pk = sql.SQL(", ").join(map(sql.Identifier, self.key))
        out = [sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(self.qualified(schema), cols, pk)]
        if indexes:
            out.extend(self.index_ddl(schema))
        return out

    def index_ddl(self, schema: str) -> list[sql.Composed]:
        """The secondary indexes (for the API's reads; the projector reads by the owner, the first
        column of the primary key). ``IF NOT EXISTS``: a resumed rebuild may have built them."""
        return [
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{self.name}__{'_'.join(index)}_idx"[:63]),
                self.qualified(schema),
                sql.SQL(", ").join(map(sql.Identifier, index)),
            )
            for index in self.indexes
        ]

    def drop(self, schema: str) -> sql.Composed:
        return sql.SQL("DROP TABLE IF EXISTS {}").format(self.qualified(schema))

    @cached_property
    def column_set(self) -> frozenset[str]:
        return frozenset(self.column_names)

    @cached_property
    def blank(self) -> dict[str, Any]:
        """A row of NULLs in column order (copied for each new row)."""
        return dict.fromkeys(self.column_names)

    @cached_property
    def key_of_values(self) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """The key of a row given as values in column order."""
        return _tuple_getter(self.key_positions)

    @cached_property
    def key_of(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """The key of a row given as a dict."""
        return _tuple_getter(self.key)


def _tuple_getter(items: tuple[Any, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that returns a tuple for one item too (a key is always a tuple)."""
    if len(items) == 1:
        (item,) = items
        return lambda obj: (obj[item],)
    return itemgetter(*items)


COPY_FROM = 16  # rows from which COPY beats arrays


class _Missing:
    """Sentinel cached for a key known to have no row."""


_ABSENT = _Missing()


class Rows:
    """The unit of work of one view for one batch, inside the caller's transaction."""

    def __init__(
        self, cur: psycopg.Cursor[Any], schema: str, tables: Iterable[Table], *, complete: bool = False
    ) -> None:
        self._cur = cur
        self._schema = schema
        self._tables = {t.name: t for t in tables}
        self._cache: dict[str, dict[tuple[Any, ...], Any]] = {t: {} for t in self._tables}
        self._loaded: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {t: {} for t in self._tables}
        self._owners: dict[str, set[Any]] = {t: set() for t in self._tables}
        self._whole: set[str] = set()  # small tables read whole by this unit of work
        # complete: the cache holds every row the tables have (they started empty and every
        # change went through here), so a miss means "no such row" without asking the database.
        self.complete = complete
        self.reads = 0  # statements issued to load rows (for tests and tuning)

    def __len__(self) -> int:
        return sum(len(c) for c in self._cache.values())

    def mark_clean(self) -> None:
        """After a committed flush: what is cached is what the tables hold."""
        for t in self._tables.values():
            self._loaded[t.name] = {
                key: tuple(row.values()) for key, row in self._cache[t.name].items() if row is not _ABSENT
            }

    def evict(self) -> None:
        """Forget every row (after a committed flush): later reads go to the database again."""
        for name in self._tables:
            self._cache[name].clear()
            self._loaded[name].clear()
            self._owners[name].clear()
        self._whole.clear()
        self.complete = False

    # ------------------------------------------------------------------ loading
    def prefetch(self, ids: Iterable[UUID]) -> None:
        if self.complete:
            return
        wanted = set(ids)
        for name, table in self._tables.items():
            if table.owner is None:
                continue
            new = wanted - self._owners[name]
            if not new:
                continue
            self._owners[name] |= new
            query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%b)").format(
                sql.SQL(", ").join(map(sql.Identifier, table.column_names)),
                table.qualified(self._schema),
                sql.Identifier(table.owner),
            )
            self._cur.execute(query, [list(new)])
            self.reads += 1
            for values in self._cur.fetchall():
                self._remember(table, values)

    def _remember(self, table: Table, values: tuple[Any, ...]) -> dict[str, Any]:
        values = tuple(values)
        row = dict(zip(table.column_names, values, strict=True))
        key = table.key_of_values(values)
        self._cache[table.name][key] = row
        self._loaded[table.name][key] = values
        return row

    def get(self, table: str, *key: Any) -> dict[str, Any] | None:
        """The row as of this point in the batch (a live dict: change it in place), or None."""
        cache = self._cache[table]
        found = cache.get(key)
        if found is not None:
            return None if found is _ABSENT else found
        t = self._tables[table]
        if t.whole and not self.complete and table not in self._whole:
            self._read_whole(t)
            found = cache.get(key)
            if found is not None:
                return None if found is _ABSENT else found
        if (
            self.complete
            or table in self._whole
            or (t.owner_position is not None and key[t.owner_position] in self._owners[table])
        ):
            cache[key] = _ABSENT  # prefetched (or complete): every row of that aggregate is already here
            return None
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(map(sql.Identifier, t.column_names)),
            t.qualified(self._schema),
            sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in t.key),
        )
        self._cur.execute(query, list(key))
        self.reads += 1
        values = self._cur.fetchone()
        if values is None:
            cache[key] = _ABSENT
            return None
        return self._remember(t, values)

    def _read_whole(self, t: Table) -> None:
        """Every row of a small table, with one query; rows this unit already holds (changed or
        known absent since) are kept as they are."""
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, t.column_names)), t.qualified(self._schema)
        )
        self._cur.execute(query)
        self.reads += 1
        cache = self._cache[t.name]
        for values in self._cur.fetchall():
            if t.key_of_values(values) not in cache:
                self._remember(t, values)
        self._whole.add(t.name)

    def require(self, table: str, *key: Any) -> dict[str, Any]:
        found = self._cache[table].get(key)  # the common case, without get()'s call
        if found is not None and found is not _ABSENT:
            return found
        row = self.get(table, *key)
        if row is None:
            raise LookupError(f"{table}: no row for key {key!r}")
        return row

    def new(self, table: str, **values: Any) -> dict[str, Any]:
        """A new row; columns not given are NULL. Replaces nothing: the key must be free."""
        t = self._tables[table]
        if not values.keys() <= t.column_set:
            raise KeyError(f"{table}: unknown columns {sorted(set(values) - t.column_set)}")
        row = t.blank.copy()
        row.update(values)
        key = t.key_of(row)
        cache = self._cache[table]
        cached = cache.get(key)
        if cached is None:
            # complete: not cached means no such row, without asking get() (a rebuild's new rows)
            exists = not self.complete and self.get(table, *key) is not None
        else:
            exists = cached is not _ABSENT
        if exists:
            raise KeyError(f"{table}: a row with key {key!r} exists")
        cache[key] = row
        return row

    def get_or_new(self, table: str, *key: Any, **defaults: Any) -> dict[str, Any]:
        row = self.get(table, *key)
        if row is not None:
            return row
        t = self._tables[table]
        return self.new(table, **dict(zip(t.key, key, strict=True)), **defaults)

    # ------------------------------------------------------------------ writing
    def _changes(self, t: Table) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        inserts, updates = [], []
        loaded = self._loaded[t.name]
        width, key_of = len(t.column_names), t.key_of_values
        for key, row in self._cache[t.name].items():
            if row is _ABSENT:
                continue
            # Rows are made in column order (new(), _remember()) and handlers only assign
            # existing columns (a new key would change the width): values() is the column order.
            values = tuple(row.values())
            if len(values) != width:
                raise KeyError(
                    f"{t.name}: a handler added columns {sorted(set(row) - t.column_set)} to row {key!r}"
                )
            if key_of(values) != key:
                raise ValueError(f"{t.name}: a handler changed the key of row {key!r}")
            before = loaded.get(key)
            if before is None:
                inserts.append(values)
            elif values != before:
                updates.append(values)
        return inserts, updates

    def flush(self) -> int:
        """Write what changed: one INSERT and one UPDATE per table at most. Returns rows written.

        Small changes go as arrays through ``unnest()``; from ``COPY_FROM`` rows on, new rows
        are COPYed (binary) straight into the table and changed rows COPYed into a temporary
        table and applied with one ``UPDATE ... FROM``: several times faster in a rebuild.
        """
        written = 0
        for t in self._tables.values():
            inserts, updates = self._changes(t)
            types = [c.type for c in t.columns]
            if inserts:
                if len(inserts) >= COPY_FROM:
                    self._copy(t.qualified(self._schema), t, inserts)
                else:
                    self._cur.execute(_insert_sql(t, self._schema, types), _columns(inserts))
                written += len(inserts)
            if updates and t.value_names:
                if len(updates) >= COPY_FROM:
                    temp = self._temp_table(t)
                    self._copy(temp, t, updates)
                    self._cur.execute(_update_from_sql(t, self._schema, temp))
                    self._cur.execute(sql.SQL("TRUNCATE {}").format(temp))
                else:
                    self._cur.execute(_update_sql(t, self._schema, types), _columns(updates))
                written += len(updates)
        return written

    def _copy(self, target: sql.Composable, t: Table, rows: list[tuple[Any, ...]]) -> None:
        columns = sql.SQL(", ").join(map(sql.Identifier, t.column_names))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, columns)
        with self._cur.copy(statement) as copy:
            copy.set_types([c.type for c in t.columns])
            for values in rows:
                copy.write_row(values)

    def _temp_table(self, t: Table) -> sql.Composable:
        """A session-private table shaped like ``t`` (named after its columns, so never stale)."""
        shape = ",".join(f"{c.name}:{c.type}" for c in t.columns)
        name = sql.Identifier(f"_rmu_{t.name}_{zlib.crc32(shape.encode()):08x}"[:63])
        # Issued every time: a creation rolled back with a failed batch must not be remembered.
        self._cur.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {})").format(name, t.qualified(self._schema))
        )
        return name

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)]


def _unnest(types: list[str]) -> sql.Composable:
    # %b: arrays travel in binary, several times faster to dump than text arrays.
    return sql.SQL("unnest({})").format(sql.SQL(", ").join(sql.SQL(f"%b::{ty}[]") for ty in types))


def _insert_sql(t: Table, schema: str, types: list[str]) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) SELECT * FROM {}").format(
        t.qualified(schema), sql.SQL(", ").join(map(sql.Identifier, t.column_names)), _unnest(types)
    )


def _update_from_sql(t: Table, schema: str, source: sql.Composable) -> sql.Composed:
    return sql.SQL("UPDATE {} AS t SET {} FROM {} AS u WHERE {}").format(
        t.qualified(schema),
        sql.SQL(", ").join(sql.SQL("{0} = u.{0}").format(sql.Identifier(c)) for c in t.value_names),
        source,
        sql.SQL(" AND ").join(sql.SQL("t.{0} = u.{0}").format(sql.Identifier(k)) for k in t.key),
    )


def _update_sql(t: Table, schema: str, types: list[str]) -> sql.Composed:
    return sql.SQL("UPDATE {} AS t SET {} FROM {} AS u({}) WHERE {}").format(
        t.qualified(schema),
        sql.SQL(", ").join(sql.SQL("{0} = u.{0}").format(sql.Identifier(c)) for c in t.value_names),
        _unnest(types),
        sql.SQL(", ").join(map(sql.Identifier, t.column_names)),
        sql.SQL(" AND ").join(sql.SQL("t.{0} = u.{0}").format(sql.Identifier(k)) for k in t.key),
    )
