"""Customers, checkouts, orders and products as plain records while a transaction merges
into them.

The inbox merges every event of a batch into these rows, and the ORM's bookkeeping cost
more than the merges: an instrumented object per row, a unit of work tracking each change
and flushing a table's rows one shape of change at a time. Here a row is a plain object
holding its columns, read with the columns of its table and remembered by its batch under
its natural key (``facts_store``'s memo, so one key is one record); a change is noted in the
batch when an attribute is set. The changes are written in a few executemany: new rows
inserted, one per table; changed rows updated by their natural key (unique per shop), with
only the columns that changed, one per table and set of changed columns. A new row's id is
not read back (nothing in a batch asks for it): asked for, it is looked up by its key.

They are written as the ORM writes its objects: when the session flushes (its own flushes,
autoflushes and ``session.flush()`` alike: ``FactSession``), before a
statement of the session that reads their tables (unless under ``no_autoflush``) or
changes them (always), and before the transaction commits. A statement run on
``session.connection()`` sees them once the session has flushed, as it sees ORM objects. A
rollback leaves them behind with their batch.

Records are not ORM objects: an ``OrderRow`` loaded by the same transaction would not be
the record, nor see its changes until they are written. Everything that merges into or
reads these rows in a transaction goes through ``plugin.storage.facts_store``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import visitors

from plugin.storage.batch import Batch
from plugin.storage.models import CheckoutRow, CustomerRow, OrderRow, ProductRow

# the mapped classes whose rows are records
FactModel = type[CustomerRow] | type[CheckoutRow] | type[OrderRow] | type[ProductRow]
# mapped class -> its natural key's column (unique with shop_id)
KEYS: dict[FactModel, str] = {
    CustomerRow: "external_id",
    CheckoutRow: "token",
    OrderRow: "external_id",
    ProductRow: "product_id",
}
TABLES = frozenset(model.__table__ for model in KEYS)
# read with each of these statements, the rows are records already: nothing to write first
LOADING = "fact_rows_loading"


class FactRecord:
    """One row: its columns as attributes. Setting one notes the record as changed in its
    batch; the stored values it was read with (None for a new row) tell what to write."""

    __slots__ = ("__dict__", "_batch", "_changed", "_stored", "_model")
    _batch: Batch
    _changed: dict[int, FactRecord]
    _stored: dict[str, Any] | None
    _model: FactModel

    def __init__(
        self, model: FactModel, values: dict[str, Any], stored: dict[str, Any] | None, batch: Batch
    ):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_stored", stored)
        object.__setattr__(self, "_batch", batch)
        object.__setattr__(self, "_changed", batch.changed)
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value
        self._changed[id(self)] = self

    if TYPE_CHECKING:
        # The columns, as type checkers see them; not at run time, where a class with a
        # __getattr__ reads every attribute more slowly (and merges read many).
        def __getattr__(self, name: str) -> Any: ...

    @property
    def id(self) -> Any:
        """The row's id; a new row's, once asked for, looked up by its key (written first,
        if it waits to be, as a flush would)."""
        known = self.__dict__.get("id")
        if known is None:
            write(self._batch)
            key = {"shop": self.__dict__["shop_id"], "key": self.__dict__[KEYS[self._model]]}
            statement = _id_statement(self._model)
            known = self.__dict__["id"] = self._batch.session.execute(statement, key).scalar_one()
            if self._stored is not None:
                self._stored["id"] = known
        return known

    def __repr__(self) -> str:
        key = KEYS[self._model]
        return f"<{self._model.__name__} record {self.__dict__.get(key)!r}>"


def loaded(batch: Batch, model: FactModel, row: Any) -> FactRecord:
    """A record of a row read with ``columns(model)``."""
    values = dict(zip(_names(model), row, strict=True))
    return FactRecord(model, values, dict(values), batch)


def new(batch: Batch, model: FactModel, **values: Any) -> FactRecord:
    """A record of a row to insert: its columns' defaults, then ``values``."""
    record = FactRecord(model, _fill({**_defaults(model), **values}), None, batch)
    batch.changed[id(record)] = record
    return record


@functools.cache
def columns(model: FactModel) -> tuple[Any, ...]:
    """The columns a record is read with: the mapped attributes, so that reading them
    through the session first flushes ORM objects of the table, as a query for the
    objects would."""
    return tuple(getattr(model, c.key) for c in model.__table__.c)


@functools.cache
def _names(model: FactModel) -> tuple[str, ...]:
    return tuple(c.key for c in model.__table__.c)


@functools.cache
def _defaults(model: FactModel) -> dict[str, Any]:
    """Every column None but for the defaults the model declares (a callable one called
    per record: a list default must not be shared); no id (the database gives it)."""
    values: dict[str, Any] = {}
    for column in model.__table__.c:
        default = column.default
        if column.primary_key:
            continue
        if default is None:
            values[column.key] = None
        elif default.is_scalar:  # type: ignore[attr-defined]
            values[column.key] = default.arg  # type: ignore[attr-defined]
        else:
            values[column.key] = _Call(default.arg)  # type: ignore[attr-defined]
    return values


class _Call:
    """A callable default, called by ``new`` for each record."""

    def __init__(self, make: Any):
        self.make = make


def _fill(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.make(None) if isinstance(v, _Call) else v for k, v in values.items()}


def write(batch: Batch) -> None:
    """Write every record changed since the last write: new rows in one executemany per
    table (in the order they were made, as the unit of work inserts them), changed rows in
    one per table and set of changed columns."""
    changed = batch.changed
    if not changed:
        return
    inserts: dict[FactModel, list[dict[str, Any]]] = {}
    updates: dict[tuple[FactModel, tuple[str, ...]], list[dict[str, Any]]] = {}
    for record in changed.values():
        values = record.__dict__
        stored = record._stored
        model = record._model
        if stored is None:
            inserts.setdefault(model, []).append(dict(values))
        else:
            names = tuple(k for k, v in values.items() if stored.get(k) != v)
            if names:
                key = KEYS[model]
                params = {name: values[name] for name in names}
                params["_shop"], params["_key"] = values["shop_id"], values[key]
                updates.setdefault((model, names), []).append(params)
        object.__setattr__(record, "_stored", dict(values))
    changed.clear()
    connection = batch.session.connection()
    for model, rows in inserts.items():
        connection.execute(_insert_statement(model), rows)
    for (model, _names_changed), rows in updates.items():
        connection.execute(_update_statement(model), rows)


@functools.cache
def _insert_statement(model: FactModel) -> Any:
    return insert(cast(Table, model.__table__))


@functools.cache
def _id_statement(model: FactModel) -> Any:
    table = model.__table__
    return select(table.c.id).where(
        table.c.shop_id == bindparam("shop"), table.c[KEYS[model]] == bindparam("key")
    )


@functools.cache
def _update_statement(model: FactModel) -> Any:
    """By natural key; the SET clause is the changed columns each executemany names."""
    table = cast(Table, model.__table__)
    return update(table).where(
        table.c.shop_id == bindparam("_shop"), table.c[KEYS[model]] == bindparam("_key")
    )


def select_records(model: FactModel) -> Any:
    """``select`` of a model's record columns, marked as a read of records."""
    return select(*columns(model)).execution_options(**{LOADING: True})


@functools.lru_cache(maxsize=1024)
def _touches(statement: Any) -> bool:
    for element in visitors.iterate(statement):
        table = getattr(element, "element", element)
        if isinstance(table, Table) and table in TABLES:
            return True
    return False


def touches(statement: Any) -> bool:
    """Whether a statement names a customers, checkouts, orders or products table (or an
    alias of one)."""
    try:
        return _touches(statement)
    except TypeError:  # unhashable: look every time
        return _touches.__wrapped__(statement)


def refresh(record: FactRecord, **values: Any) -> None:
    """Set what a statement wrote to the record's row behind it (nothing left to write)."""
    record.__dict__.update(values)
    if record._stored is not None:
        record._stored.update(values)


class FactSession(Session):
    """A session whose flush writes its batch's changed records first, as it writes its
    objects: an explicit ``flush()``, an autoflush and the flush before a commit alike."""

    def flush(self, objects: Any = None) -> None:
        held = Batch.current(self)
        if held is not None:
            write(held)
        super().flush(objects)


@event.listens_for(Session, "do_orm_execute")
def _write_before(state: ORMExecuteState) -> None:
    """Write the changed records before a statement that reads their tables (as an
    autoflush would: not under ``no_autoflush``) or changes them (always)."""
    held = Batch.current(state.session)
    if held is None or not held.changed or state.execution_options.get(LOADING):
        return
    reads = state.is_select and state.session.autoflush
    if (reads or not state.is_select) and touches(state.statement):
        write(held)


@event.listens_for(Session, "before_commit")
def _write_at_commit(session: Session) -> None:
    held = Batch.current(session)
    if held is not None:
        write(held)
