"""``Warehouse``: the only writer of the Parquet warehouse.

Loads are MERGEs of one ``call_date`` into its month: each table's month file is
rewritten with the reloaded calls' rows of that day dropped and their new rows put in
their place (the file stays sorted by ``call_date`` then key). That makes every load
idempotent (re-running, clearing and re-running, or backfilling a day converges to the
same rows) and keeps one file per table per month, which is what analysts' queries
want (docs/warehouse.md, "Layout").

Concurrency model: writers of one month take its lock (``locks.month_lock``);
different months touch disjoint files.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from callmine.warehouse import staging
from callmine.warehouse.conform import SchemaError, conform
from callmine.warehouse.evolution import ensure_schema
from callmine.warehouse.layout import LEGACY_DAY_PREFIX, month_dir, month_of, partition_file, subtitle_file
from callmine.warehouse.locks import month_lock
from callmine.warehouse.merge import call_ids_missing_from, call_ids_not_in, check_unique, merge_day_into_month
from callmine.warehouse.schema import PARTITION_COLUMN, REQUIRED_CHILDREN, STATUS_COMPLETED, TABLES, file_schema
from callmine.warehouse.storage import Storage, check_name


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one replace_calls did to one partition, per table."""

    call_date: dt.date
    calls: int  # calls (re)loaded by this load
    rows_written: dict[str, int] = field(default_factory=dict)  # new rows of those calls
    rows_removed: dict[str, int] = field(default_factory=dict)  # their previous rows, dropped
    partition_rows: dict[str, int] = field(default_factory=dict)  # rows in the partition afterwards


class LegacyLayoutError(RuntimeError):
    """The warehouse still holds daily files of the pre-monthly layout."""


class Warehouse:
    """A Parquet warehouse rooted at a local path or fsspec URL (created lazily)."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.storage = Storage(str(uri), storage_options)
        self._layout_checked = False
        self._ready_for_writes = False

    @property
    def uri(self) -> str:
        """Absolute root: a plain path for local disk, else ``proto://...``."""
        return self.storage.root_url

    def __repr__(self) -> str:
        return f"Warehouse({self.uri!r})"

    # -- reading -------------------------------------------------------------

    def partition_file_uri(self, table: str, call_date: dt.date) -> str:
        """The file holding the day's rows (``.../<table>/call_month=YYYY-MM/part-0.parquet``)."""
        return self.storage.url(self._file(table, call_date))

    def read_partition(self, table: str, call_date: dt.date, columns: list[str] | None = None) -> pa.Table:
        """The day's rows in the logical schema (``calls`` and ``call_insights`` keep their call_date)."""
        self.check_layout()
        schema = TABLES[table]
        wanted = pa.schema([schema.field(name) for name in (columns or schema.names)])
        stored = self.storage.read_parquet(
            self._file(table, call_date),
            columns=[*wanted.names, PARTITION_COLUMN],
            filters=[(PARTITION_COLUMN, "=", call_date)],  # row groups of other days are skipped
            only_present_columns=True,  # a file older than a column lacks it: conform fills nulls
        )
        if stored is None:
            return wanted.empty_table()
        return conform(table, stored.select([n for n in stored.column_names if n in wanted.names]), wanted)

    def call_states(self, call_date: dt.date) -> dict[str, tuple[str, bool]]:
        """call_id -> (status, retryable) of the partition's calls."""
        calls = self.read_partition("calls", call_date, columns=["call_id", "status", "retryable"])
        return {cid: (status, bool(retryable)) for cid, status, retryable in zip(
            *(calls.column(c).to_pylist() for c in ("call_id", "status", "retryable")))}

    def completed_call_ids(self, call_date: dt.date) -> set[str]:
        calls = self.read_partition("calls", call_date, columns=["call_id", "status"])
        done = calls.filter(pc.equal(calls.column("status"), STATUS_COMPLETED))
        return set(done.column("call_id").to_pylist())

    # -- staging -------------------------------------------------------------

    def stage(self, run_key: str, batch: str, tables: dict[str, pa.Table]) -> None:
        staging.stage(self.storage, run_key, batch, tables)

    def staged_tables(self, run_key: str) -> dict[str, pa.Table]:
        return staging.staged_tables(self.storage, run_key)

    def staged_batch(self, run_key: str, batch: str) -> dict[str, pa.Table]:
        return staging.staged_batch(self.storage, run_key, batch)

    def stage_json(self, run_key: str, name: str, content: bytes) -> str:
        return staging.stage_json(self.storage, run_key, name, content)

    def clear_stage(self, run_key: str) -> None:
        staging.clear_stage(self.storage, run_key)

    # -- loading -------------------------------------------------------------

    def replace_calls(self, call_date: dt.date, tables: dict[str, pa.Table]) -> LoadResult:
        """MERGE ``tables`` into the ``call_date`` partition, replacing whole calls.

        The calls in ``tables["calls"]`` are replaced in every table; a table absent
        from ``tables`` counts as empty for them (a call reloaded as failed loses its
        old segments). Everything is validated and written to temp files before the
        first rename; renames go children first and ``calls`` last.
        """
        incoming = self._prepare(call_date, tables)
        replaced_ids = incoming["calls"].column("call_id").combine_chunks()
        if len(replaced_ids) == 0:
            return LoadResult(call_date, calls=0)
        self.prepare_for_writes()
        with month_lock(self.storage, month_of(call_date)):
            merged = {
                name: merge_day_into_month(name, self._read_month(name, call_date), incoming[name],
                                           call_date, replaced_ids)
                for name in TABLES
            }
            self._publish(call_date, {name: m.table for name, m in merged.items() if m.removed or m.added})
        return LoadResult(
            call_date,
            calls=len(replaced_ids),
            rows_written={name: m.added for name, m in merged.items()},
            rows_removed={name: m.removed for name, m in merged.items()},
            partition_rows={name: m.day_rows for name, m in merged.items()},
        )

    def _publish(self, call_date: dt.date, tables: dict[str, pa.Table]) -> None:
        """Write every changed month file under a temp name, then rename them into place.

        Children first and ``calls`` last (``TABLES`` order), so a completed call never
        shows up in ``calls`` before its segments/words/metrics are visible. A failure
        before the first rename leaves the previous state untouched.
        """
        month = month_of(call_date)
        temps: dict[str, str] = {}
        try:
            for name, table in tables.items():
                self.storage.remove_stale_temps(self.storage.path(month_dir(name, month)))
                if table.num_rows:
                    temps[name] = self.storage.write_parquet_temp(self._file(name, call_date), table)
            _pause_before_publish_for_tests()
            for name in TABLES:
                if name not in tables:
                    continue
                final = self._file(name, call_date)
                if name in temps:
                    self.storage.commit(temps[name], final)
                    del temps[name]
                else:
                    self.storage.remove(final)  # no rows left in this month
        finally:
            for temp in temps.values():  # never published: leave no litter behind
                self.storage.remove(temp)

    def replace_insights(self, call_date: dt.date, insights: pa.Table) -> int:
        """Replace the ``call_insights`` rows of already-loaded calls (no other table changes).

        Insights catch up without transcribing again: only calls that are loaded in
        this partition may get a row; returns the rows written.
        """
        incoming = _with_partition_date("call_insights", conform("call_insights", insights), call_date)
        if incoming.num_rows == 0:
            return 0
        check_unique("call_insights (incoming)", incoming, ("call_id",))
        ids = incoming.column("call_id").combine_chunks()
        incoming = conform("call_insights", incoming, file_schema("call_insights"))
        self.prepare_for_writes()
        with month_lock(self.storage, month_of(call_date)):
            loaded = self.read_partition("calls", call_date, columns=["call_id"]).column("call_id").combine_chunks()
            strays = call_ids_not_in(incoming, loaded)
            if strays:
                raise SchemaError(f"call_insights: call_id(s) {strays[:5]} are not loaded on {call_date}")
            merged = merge_day_into_month(
                "call_insights", self._read_month("call_insights", call_date), incoming, call_date, ids)
            self._publish(call_date, {"call_insights": merged.table})
        return merged.added

    def read_calls(self, table: str, call_date: dt.date, call_ids: list[str]) -> pa.Table:
        """The partition's rows of ``table`` for the given calls."""
        rows = self.read_partition(table, call_date)
        return rows.filter(pc.is_in(rows.column("call_id"), value_set=pa.array(call_ids, pa.string())))

    # -- subtitles -----------------------------------------------------------

    def write_subtitle(self, call_date: dt.date, call_id: str, fmt: str, content: bytes) -> str:
        """Store an SRT/VTT file atomically (overwrites); return its URI."""
        check_name("call_id", call_id)
        if fmt not in ("srt", "vtt"):
            raise ValueError(f"subtitle format must be 'srt' or 'vtt', got {fmt!r}")
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = self.storage.path(subtitle_file(call_date, call_id, fmt))
        self.storage.write_bytes_atomic(path, content)
        return self.storage.url(path)

    # -- internals -----------------------------------------------------------

    def prepare_for_writes(self) -> None:
        """Once per instance: refuse the daily layout; upgrade tables whose schema grew (evolution.py)."""
        if self._ready_for_writes:
            return
        self.check_layout()
        ensure_schema(self.storage)
        self._ready_for_writes = True

    def check_layout(self) -> None:
        """Refuse a warehouse that still holds daily files: they are invisible to the views."""
        if self._layout_checked:
            return
        legacy = []
        for name in TABLES:
            for folder in self.storage.list_dirs(self.storage.path(name)):
                if folder.rpartition("/")[2].startswith(LEGACY_DAY_PREFIX):
                    legacy.append(folder)
                    break
        if legacy:
            raise LegacyLayoutError(
                f"warehouse {self.uri} still uses the daily layout (e.g. {legacy[0]}); its rows are invisible "
                f"until it is rewritten: run `bin/callmine migrate --warehouse {self.uri}` (safe to re-run)"
            )
        self._layout_checked = True

    def _file(self, table: str, call_date: dt.date) -> str:
        return self.storage.path(partition_file(table, call_date))

    def _read_month(self, table: str, call_date: dt.date) -> pa.Table | None:
        """The whole month file in today's stored schema (columns added since are null)."""
        existing = self.storage.read_parquet(self._file(table, call_date))
        return None if existing is None else conform(table, existing, file_schema(table))

    def _prepare(self, call_date: dt.date, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """Conform and validate the incoming rows; returns on-disk-shaped tables."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise KeyError(f"unknown table(s) {sorted(unknown)}; known: {', '.join(TABLES)}")
        if "calls" not in tables:
            raise SchemaError("replace_calls needs a 'calls' table: it names the calls being replaced")
        calls = _with_partition_date("calls", conform("calls", tables["calls"]), call_date)
        check_unique("calls (incoming)", calls, ("call_id",))
        ids = calls.column("call_id").combine_chunks()

        prepared = {"calls": conform("calls", calls, file_schema("calls"))}
        distinct: dict[str, pa.Array] = {}  # call_ids per table, hashed once for both checks below
        for name in TABLES:
            if name == "calls":
                continue
            table = conform(name, tables[name]) if name in tables else TABLES[name].empty_table()
            distinct[name] = pc.unique(table.column("call_id"))
            strays = call_ids_not_in(table, ids, distinct[name])
            if strays:
                # Their old rows would not be removed, so they would duplicate.
                raise SchemaError(f"{name}: rows for call_id(s) {strays[:5]} that are not in calls")
            prepared[name] = _stored(name, table, call_date)

        completed = pc.filter(ids, pc.equal(calls.column("status").combine_chunks(), STATUS_COMPLETED))
        for name in REQUIRED_CHILDREN:
            missing = call_ids_missing_from(prepared[name], completed, distinct[name])
            if missing:
                raise SchemaError(
                    f"{name}: completed call(s) {missing[:5]} have no rows; "
                    f"a completed call needs {', '.join(REQUIRED_CHILDREN)} (load it as failed otherwise)"
                )
        return prepared


def _with_partition_date(name: str, table: pa.Table, call_date: dt.date) -> pa.Table:
    """Fill a null call_date with the partition's; reject rows dated elsewhere."""
    month_of(call_date)  # rejects a datetime before it can mis-partition
    partition_date = pa.scalar(call_date, pa.date32())
    column = table.column(PARTITION_COLUMN)
    wrong = pc.filter(column, pc.not_equal(column, partition_date))
    if len(wrong):
        raise SchemaError(
            f"{name}: call_date {sorted(set(wrong.to_pylist()))[:3]} does not match the partition {call_date}"
        )
    filled = pc.fill_null(column, partition_date)
    return table.set_column(table.schema.get_field_index(PARTITION_COLUMN), PARTITION_COLUMN, filled)


def _stored(name: str, table: pa.Table, call_date: dt.date) -> pa.Table:
    """The stored shape of a conformed table: ``call_date`` set on every row (checked where the table has it).

    ``table`` is already conformed (types, required columns, domains) and ``call_date``
    is now filled, so only the schema changes: no second ``conform`` pass.
    """
    if PARTITION_COLUMN in table.schema.names:
        table = _with_partition_date(name, table, call_date)
    else:
        table = table.append_column(PARTITION_COLUMN, pa.repeat(pa.scalar(call_date, pa.date32()), table.num_rows))
    stored = file_schema(name)
    if table.schema.names != stored.names or table.schema.types != stored.types:
        return conform(name, table, stored)  # not the case after conform; from_arrays would not check
    return pa.Table.from_arrays(table.columns, schema=stored)


def _pause_before_publish_for_tests() -> None:
    """TEST HOOK (tests/integration/test_crash_recovery.py), inert unless the env var is set.

    CALLMINE_TEST_PAUSE_BEFORE_PUBLISH names a file in an existing folder (the test arms it
    by creating the folder); every temp file is written and nothing is renamed yet, so this
    process writes its pid there and waits until the file is removed (at most 120 s) for
    the test to SIGKILL it at the load's most delicate point.
    """
    pause = os.environ.get("CALLMINE_TEST_PAUSE_BEFORE_PUBLISH")
    if not pause or not os.path.isdir(os.path.dirname(pause)):
        return
    with open(pause, "w") as marker:
        marker.write(str(os.getpid()))
    for _ in range(600):
        if not os.path.exists(pause):
            break
        time.sleep(0.2)
