"""``Warehouse``: the only writer of the Parquet warehouse.

Loads are whole-partition MERGEs: for one ``call_date``, each table's single file is
rewritten with the reloaded calls' old rows dropped and their new rows appended. That
makes every load idempotent (re-running, clearing and re-running, or backfilling a
day converges to the same rows) and keeps one file per table per partition.

Concurrency model: one Airflow run owns one ``call_date`` at a time; different dates
touch disjoint folders, so no locking is needed.
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
from callmine.warehouse.layout import partition_dir, partition_file, subtitle_file
from callmine.warehouse.merge import call_ids_missing_from, call_ids_not_in, check_unique, merge_partition_table
from callmine.warehouse.schema import (
    PARTITION_COLUMN, REQUIRED_CHILDREN, STATUS_COMPLETED, TABLES, file_schema,
)
from callmine.warehouse.storage import Storage, check_name


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one replace_calls did to one partition, per table."""

    call_date: dt.date
    calls: int  # calls (re)loaded by this load
    rows_written: dict[str, int] = field(default_factory=dict)  # new rows of those calls
    rows_removed: dict[str, int] = field(default_factory=dict)  # their previous rows, dropped
    partition_rows: dict[str, int] = field(default_factory=dict)  # rows in the partition afterwards


class Warehouse:
    """A Parquet warehouse rooted at a local path or fsspec URL (created lazily)."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.storage = Storage(str(uri), dict(storage_options or {}))

    @property
    def uri(self) -> str:
        """Absolute root: a plain path for local disk, else ``proto://...``."""
        return self.storage.root_url

    def __repr__(self) -> str:
        return f"Warehouse({self.uri!r})"

    # -- reading -------------------------------------------------------------

    def partition_uri(self, table: str, call_date: dt.date) -> str:
        """The partition folder (``.../<table>/call_date=YYYY-MM-DD``)."""
        return self.storage.url(self.storage.path(partition_dir(table, call_date)))

    def partition_file_uri(self, table: str, call_date: dt.date) -> str:
        return self.storage.url(self._file(table, call_date))

    def read_partition(self, table: str, call_date: dt.date, columns: list[str] | None = None) -> pa.Table:
        """The partition's rows in the logical schema (``calls`` gets its call_date back)."""
        schema = TABLES[table]
        wanted = pa.schema([schema.field(name) for name in (columns or schema.names)])
        stored_columns = [name for name in wanted.names if name != PARTITION_COLUMN]
        stored = self.storage.read_parquet(self._file(table, call_date), columns=stored_columns)
        if stored is None:
            return wanted.empty_table()
        if PARTITION_COLUMN in wanted.names:
            stored = stored.append_column(PARTITION_COLUMN, pa.array([call_date] * stored.num_rows, pa.date32()))
        return conform(table, stored, wanted)

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
        merged = {}
        for name in TABLES:
            existing = self.storage.read_parquet(self._file(name, call_date))
            if existing is not None:
                existing = conform(name, existing, file_schema(name))
            merged[name] = merge_partition_table(name, existing, incoming[name], replaced_ids)

        changed = [name for name in TABLES if merged[name].removed or merged[name].added]
        temps: dict[str, str] = {}
        try:
            # Stage every file first: a failure here leaves the previous state untouched.
            for name in changed:
                self.storage.remove_stale_temps(self.storage.path(partition_dir(name, call_date)))
                if merged[name].table.num_rows:
                    temps[name] = self.storage.write_parquet_temp(self._file(name, call_date), merged[name].table)
            # TEST HOOK (tests/integration/test_crash_recovery.py), inert unless the env var is set:
            # CALLMINE_TEST_PAUSE_BEFORE_PUBLISH names a file in an existing folder (the test arms it by
            # creating the folder); every temp file is written and nothing is renamed yet, so this
            # process writes its pid there and waits until the file is removed (at most 120 s) for
            # the test to SIGKILL it at the load's most delicate point.
            if (pause := os.environ.get("CALLMINE_TEST_PAUSE_BEFORE_PUBLISH")) and os.path.isdir(os.path.dirname(pause)):
                with open(pause, "w") as marker:
                    marker.write(str(os.getpid()))
                for _ in range(600):
                    if not os.path.exists(pause):
                        break
                    time.sleep(0.2)
            # Publish children first and calls last, so a completed call never shows
            # up in `calls` before its segments/words/metrics are visible.
            for name in changed:
                final = self._file(name, call_date)
                if name in temps:
                    self.storage.commit(temps[name], final)
                    del temps[name]
                else:
                    self.storage.remove(final)  # no rows left in this partition
        finally:
            for temp in temps.values():  # never published: leave no litter behind
                self.storage.remove(temp)
        return LoadResult(
            call_date,
            calls=len(replaced_ids),
            rows_written={name: m.added for name, m in merged.items()},
            rows_removed={name: m.removed for name, m in merged.items()},
            partition_rows={name: m.table.num_rows for name, m in merged.items()},
        )

    def replace_insights(self, call_date: dt.date, insights: pa.Table) -> int:
        """Replace the ``call_insights`` rows of already-loaded calls (no other table changes).

        Insights catch up without transcribing again: only calls that are loaded in
        this partition may get a row; returns the rows written.
        """
        incoming = _without_partition_column("call_insights", conform("call_insights", insights), call_date)
        if incoming.num_rows == 0:
            return 0
        check_unique("call_insights (incoming)", incoming, ("call_id",))
        ids = incoming.column("call_id").combine_chunks()
        loaded = self.read_partition("calls", call_date, columns=["call_id"]).column("call_id").combine_chunks()
        strays = call_ids_not_in(incoming, loaded)
        if strays:
            raise SchemaError(f"call_insights: call_id(s) {strays[:5]} are not loaded on {call_date}")
        final = self._file("call_insights", call_date)
        existing = self.storage.read_parquet(final)
        if existing is not None:
            existing = conform("call_insights", existing, file_schema("call_insights"))
        merged = merge_partition_table("call_insights", existing, incoming, ids)
        self.storage.remove_stale_temps(self.storage.path(partition_dir("call_insights", call_date)))
        temp = self.storage.write_parquet_temp(final, merged.table)
        try:
            self.storage.commit(temp, final)
        except BaseException:
            self.storage.remove(temp)
            raise
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

    def _file(self, table: str, call_date: dt.date) -> str:
        return self.storage.path(partition_file(table, call_date))

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

        prepared = {"calls": calls.drop_columns([PARTITION_COLUMN])}
        for name in TABLES:
            if name == "calls":
                continue
            table = conform(name, tables[name]) if name in tables else TABLES[name].empty_table()
            table = _without_partition_column(name, table, call_date)
            strays = call_ids_not_in(table, ids)
            if strays:
                # Their old rows would not be removed, so they would duplicate.
                raise SchemaError(f"{name}: rows for call_id(s) {strays[:5]} that are not in calls")
            prepared[name] = table

        completed = pc.filter(ids, pc.equal(calls.column("status").combine_chunks(), STATUS_COMPLETED))
        for name in REQUIRED_CHILDREN:
            missing = call_ids_missing_from(prepared[name], completed)
            if missing:
                raise SchemaError(
                    f"{name}: completed call(s) {missing[:5]} have no rows; "
                    f"a completed call needs {', '.join(REQUIRED_CHILDREN)} (load it as failed otherwise)"
                )
        return prepared


def _with_partition_date(name: str, table: pa.Table, call_date: dt.date) -> pa.Table:
    """Fill a null call_date with the partition's; reject rows dated elsewhere."""
    partition_dir(name, call_date)  # rejects a datetime before it can mis-partition
    partition_date = pa.scalar(call_date, pa.date32())
    column = table.column(PARTITION_COLUMN)
    wrong = pc.filter(column, pc.not_equal(column, partition_date))
    if len(wrong):
        raise SchemaError(
            f"{name}: call_date {sorted(set(wrong.to_pylist()))[:3]} does not match the partition {call_date}"
        )
    filled = pc.fill_null(column, partition_date)
    return table.set_column(table.schema.get_field_index(PARTITION_COLUMN), PARTITION_COLUMN, filled)


def _without_partition_column(name: str, table: pa.Table, call_date: dt.date) -> pa.Table:
    """The on-disk shape: a call_date column (checked against the partition) is dropped."""
    if PARTITION_COLUMN not in table.schema.names:
        return table
    return _with_partition_date(name, table, call_date).drop_columns([PARTITION_COLUMN])
