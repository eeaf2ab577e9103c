"""Many rows in one go, the INSERT compiled by the ORM once per shape and reused.

`bulk_create` runs every value of every row through its model field and compiles a new
statement for every batch: about 60 µs a row on SQLite, in the web worker's own process,
holding the GIL the webhooks need. The background writer (logs/calls.py) writes a row
per call and the events of every webhook: through `bulk_create` that would cost the
voice webhook a fifth of its throughput (bench/README.md). Here Django's own compiler
(`InsertQuery`, what `bulk_create` runs, ON CONFLICT clause included) writes the
statement once per model and database, and each batch then only passes values. No SQL
is written by hand: the rows go through the statement, placeholders and quoting
`bulk_create` would send.

How the rows go depends on the statement the compiler gives:
- on PostgreSQL, Django inserts many rows as UNNEST of one array per column: one
  statement per chunk of rows (`MAX_ROWS`);
- elsewhere (SQLite) a statement takes one value per placeholder, and the one-row
  statement runs for every row through the cursor's `executemany()`: the database
  prepares it once, and the driver binds each row in C. (A statement of a hundred rows
  instead costs Django's SQLite wrapper a regular-expression pass over its 5,000
  characters, every time: a fifth of the writer's time.)

Rows are dicts of column (attname) -> value as the database takes it: strings, numbers,
None, and times prepared by their field (`prepared()`). A column a row leaves out gets
its field's default; `auto_now`/`auto_now_add` columns get the time of the batch.
"""

from functools import cache

from django.db import connections
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone

MAX_ROWS = 100  # per UNNEST statement, or fewer where the database limits the values (_chunk)


def columns(model) -> list:
    """The fields an INSERT of `model` gives values for: all but its auto primary key."""
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def prepared(model, name: str, value, alias: str):
    """`value` of column `name` as the database `alias` takes it (e.g. a time on SQLite)."""
    return model._meta.get_field(name).get_db_prep_save(value, connections[alias])


@cache
def _defaults(model, alias: str) -> tuple:
    """(attname, default or None, is a time set on insert) for each column."""
    connection = connections[alias]
    out = []
    for field in columns(model):
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        default = None if stamped else field.get_db_prep_save(field.get_default(), connection)
        out.append((field.attname, default, stamped))
    return tuple(out)


@cache
def _statement(model, alias: str, rows: int, upsert: tuple | None) -> tuple[str, bool]:
    """The INSERT for `rows` rows, and whether it takes its values column by column (on
    PostgreSQL Django inserts many rows as UNNEST of one array per column)."""
    options = {}
    if upsert is not None:
        unique, update = upsert
        options = {
            "on_conflict": OnConflict.UPDATE,
            "unique_fields": [model._meta.get_field(name) for name in unique],
            "update_fields": [model._meta.get_field(name) for name in update],
        }
    query = InsertQuery(model, **options)
    query.insert_values(columns(model), [model() for _ in range(rows)])
    compiled = query.get_compiler(using=alias).as_sql()
    if len(compiled) != 1:  # a backend without multi-row INSERTs
        raise NotImplementedError(f"{connections[alias].vendor} cannot insert {rows} rows at once")
    statement, params = compiled[0]
    width = len(columns(model))
    if len(params) == rows * width:
        return statement, False
    if len(params) == width and all(len(column) == rows for column in params):
        return statement, True
    raise NotImplementedError(f"Unexpected parameters of {statement!r}")


def _chunk(model, alias: str) -> int:
    """Rows per UNNEST statement: MAX_ROWS, or fewer where the database limits the values."""
    limit = connections[alias].features.max_query_params or MAX_ROWS * len(columns(model))
    return max(1, min(MAX_ROWS, limit // len(columns(model))))


def insert(model, alias: str, rows: list[dict], *, upsert: tuple | None = None) -> None:
    """INSERT `rows` into `model`'s table on `alias`.

    `upsert`: (unique fields, fields to update): a row whose unique fields are taken
    updates those fields of the row there instead (ON CONFLICT ... DO UPDATE)."""
    if not rows:
        return
    defaults = _defaults(model, alias)
    stamped_names = [name for name, _, stamped in defaults if stamped]
    now = prepared(model, stamped_names[0], timezone.now(), alias) if stamped_names else None
    fill = [(name, now if stamped else default) for name, default, stamped in defaults]
    with connections[alias].cursor() as cursor:
        if not _statement(model, alias, 2, upsert)[1]:  # values row by row: executemany
            statement, _ = _statement(model, alias, 1, upsert)
            cursor.executemany(
                statement, [[row.get(name, value) for name, value in fill] for row in rows]
            )
            return
        size = _chunk(model, alias)
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            statement, by_column = _statement(model, alias, len(chunk), upsert)
            if by_column:
                values = [[row.get(name, value) for row in chunk] for name, value in fill]
            else:  # a single row: Django's plain VALUES (...)
                values = [row.get(name, value) for row in chunk for name, value in fill]
            cursor.execute(statement, values)
