"""Imports: CSV or NDJSON streamed into a schema.

An ImportRun turns the bytes into rows checked against the schema (no I/O); the Importer
lands the valid rows in batches, each record with its `record.created` event in the same
transaction, and keeps the job's row up to date. An import spans many transactions (one
per batch, or one for the whole file when nothing may land unless everything does), so
the Importer, like the Provisioner, opens them itself."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.db import SessionMaker, transaction
from services.kit.errors import DomainError, ValidationFailed
from services.kit.ids import new_id, new_ids
from services.kit.json import loads_exact
from services.kit.nats.events import Event
from services.kit.nats.outbox import OutboxWriter
from services.records import events, repository, tables
from services.records.readers import CsvReader, NdjsonReader, Rejected
from services.records.repository import SYSTEM_COLUMNS, RecordTable
from services.records.schemas import FieldDef
from services.records.service import RecordsService, validate_values, writable

log = logging.getLogger(__name__)

CSV = "csv"
NDJSON = "ndjson"
FORMATS = (CSV, NDJSON)
BEST_EFFORT = "best_effort"
ALL_OR_NOTHING = "all_or_nothing"
MODES = (BEST_EFFORT, ALL_OR_NOTHING)

# Rows per COPY and, in best-effort mode, per transaction. Larger than the usual thousand:
# COPYing into a table with an index per field, PostgreSQL took about a third less time
# per row in batches of several thousand than of one thousand (2-core dev machine).
BATCH_SIZE = 5000
MAX_ERRORS = 100
# Links live in join tables and need their targets checked; imports do not write them yet.
LINKS_NOT_IMPORTED = "A link field cannot be imported; set links after the import"

RUNNING = "running"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ImportJob:
    id: str
    state: str
    format: str
    mode: str
    rows_done: int
    rows_rejected: int
    errors: list[dict[str, Any]]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> ImportJob:
        return cls(
            id=row.id,
            state=row.state,
            format=row.format,
            mode=row.mode,
            rows_done=row.rows_done,
            rows_rejected=row.rows_rejected,
            errors=list(row.errors),
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


class _RowRejected(Exception):
    def __init__(self, message: str, field: str = "") -> None:
        self.message = message
        self.field = field


Values = Sequence[Any]
# A row ready to land: its line and its values in the order of ImportRun.columns.
Pending = tuple[int, Values]


class ImportRun:
    """One import's rows on their way in: read, checked against the schema (CSV cells
    through the catalogue's parse_cell, NDJSON objects through validate_values like a
    create), the valid ones waiting to land, the rejected ones counted and the first
    MAX_ERRORS kept by line."""

    def __init__(self, rt: RecordTable, format: str) -> None:
        if format not in FORMATS:
            raise ValidationFailed("An import is CSV or NDJSON", field="format")
        self.rt = rt
        self.format = format
        self.pending: list[Pending] = []
        self.rejected = 0
        self.errors: list[dict[str, Any]] = []
        self.closed = False
        # The line of the last row read.
        self.line = 0
        self._csv = CsvReader() if format == CSV else None
        self._ndjson = NdjsonReader() if format == NDJSON else None
        writable_fields = [f for f in rt.schema.fields if not f.type.read_only and f.has_column]
        self._links = frozenset(f.slug for f in rt.schema.fields if f.is_link)
        # The field ids a row's values are for; CSV sets them from its header.
        self.columns: tuple[str, ...] = tuple(f.id for f in writable_fields)
        self._convert: Callable[[int, Any], Values] = self._ndjson_row
        self._cells: list[tuple[FieldDef, Callable[[FieldDef, str], Any]]] = []
        self._required: list[tuple[int, FieldDef]] = []
        self._defaults: list[Any] = []

    @property
    def ready(self) -> bool:
        """Rows can be read: the CSV's header arrived and passed."""
        return self._csv is None or self._csv.header is not None

    def feed(self, data: bytes) -> None:
        if self._csv is not None:
            had_header = self._csv.header is not None
            rows: list[Any] = self._csv.feed(data)
            if not had_header and self._csv.header is not None:
                self._start_csv(self._csv.header)
        else:
            assert self._ndjson is not None
            rows = self._ndjson.feed(data)
        self._take(rows)

    def close(self) -> None:
        """The input ended. A CSV without a header is refused here."""
        self.closed = True
        if self._csv is not None:
            had_header = self._csv.header is not None
            rows: list[Any] = self._csv.close()
            if not had_header and self._csv.header is not None:
                self._start_csv(self._csv.header)
        else:
            assert self._ndjson is not None
            rows = self._ndjson.close()
        self._take(rows)

    def take(self, count: int) -> list[Pending]:
        batch, self.pending = self.pending[:count], self.pending[count:]
        return batch

    def reject(self, line: int, message: str, field: str = "") -> None:
        self.rejected += 1
        if len(self.errors) >= MAX_ERRORS and line >= self.errors[-1]["line"]:
            return
        error: dict[str, Any] = {"line": line, "message": message}
        if field:
            error["field"] = field
        # Refusals found while landing come after later lines were read: keep line order.
        bisect.insort(self.errors, error, key=lambda e: e["line"])
        del self.errors[MAX_ERRORS:]

    def note(self, line: int, message: str) -> None:
        """Why the import as a whole stopped; not a row, so not counted."""
        error = {"line": line, "message": message}
        if len(self.errors) >= MAX_ERRORS:
            self.errors[-1] = error
        else:
            self.errors.append(error)

    def _take(self, rows: list[Any]) -> None:
        convert = self._convert
        pending = self.pending
        for row in rows:
            if isinstance(row, Rejected):
                self.line = row.line
                self.reject(row.line, row.message)
                continue
            line, content = row
            self.line = line
            try:
                pending.append((line, convert(line, content)))
            except ValidationFailed as error:
                self.reject(line, error.message, error.field or "")
            except _RowRejected as error:
                self.reject(line, error.message, error.field)

    # --- CSV ---------------------------------------------------------------------------

    def _start_csv(self, header: list[str]) -> None:
        """Checks the header against the schema (nothing has landed yet) and prepares
        the conversion of each row."""
        schema = self.rt.schema
        problems: list[dict[str, str]] = []
        seen: set[str] = set()
        for column in header:
            f = schema.by_slug.get(column)
            if column in seen:
                problems.append({"field": column, "message": "The column appears twice"})
            elif column in SYSTEM_COLUMNS or (f is not None and f.type.read_only):
                problems.append({"field": column, "message": "The field is read-only"})
            elif f is not None and f.is_link:
                problems.append({"field": column, "message": LINKS_NOT_IMPORTED})
            elif f is None:
                problems.append({"field": column, "message": "The schema has no such field"})
            seen.add(column)
        for f in schema.fields:
            if f.required and not f.default_json and not f.type.read_only and f.slug not in seen:
                problems.append({"field": f.slug, "message": "The field is required"})
        if problems:
            raise ValidationFailed(
                _header_message(problems), field=problems[0]["field"], details=problems
            )
        fields = [schema.by_slug[column] for column in header]
        defaulted = [
            f
            for f in schema.fields
            if f.default_json and not f.type.read_only and f.has_column and f.slug not in seen
        ]
        self._cells = [(f, f.type.parse_cell) for f in fields]
        self._required = [(index, f) for index, f in enumerate(fields) if f.required]
        self._defaults = [f.type.validate(f, f.default) for f in defaulted]
        self.columns = tuple(f.id for f in (*fields, *defaulted))
        self._convert = self._csv_row

    def _csv_row(self, line: int, cells: list[str]) -> Values:
        if len(cells) != len(self._cells):
            raise _RowRejected(
                f"The row has {len(cells)} values; the header names {len(self._cells)}"
            )
        # An empty cell is null; the rest go through the catalogue (the hot loop). The
        # lengths were compared above.
        values = [
            parse(f, raw) if raw else None
            for (f, parse), raw in zip(self._cells, cells, strict=False)
        ]
        for index, f in self._required:
            if values[index] is None:
                raise _RowRejected(f"Field '{f.slug}' is required", f.slug)
        if self._defaults:
            values += self._defaults
        return values

    # --- NDJSON ------------------------------------------------------------------------

    def _ndjson_row(self, line: int, raw: bytes) -> Values:
        try:
            body = loads_exact(raw)
        except ValueError:
            if b"\x00" in raw:
                raise _RowRejected("The line contains a NUL byte") from None
            raise _RowRejected("The line is not valid JSON") from None
        if not isinstance(body, dict):
            raise _RowRejected("The line must be a JSON object keyed by field slug")
        for slug in self._links.intersection(body):
            if body[slug] is not None and body[slug] != []:
                raise _RowRejected(LINKS_NOT_IMPORTED, slug)
        values = validate_values(self.rt.schema, writable(body), creating=True)
        return tuple(values.get(column) for column in self.columns)


def _header_message(problems: list[dict[str, str]]) -> str:
    groups: dict[str, list[str]] = {}
    for problem in problems:
        groups.setdefault(problem["message"], []).append(repr(problem["field"]))
    wording = {
        "The column appears twice": "columns named twice",
        "The field is read-only": "read-only fields cannot be imported",
        "The schema has no such field": "unknown columns",
        "The field is required": "required fields missing",
        LINKS_NOT_IMPORTED: "link fields cannot be imported",
    }
    parts = [f"{wording[message]}: {', '.join(names)}" for message, names in groups.items()]
    return "The CSV header does not fit the schema; " + "; ".join(parts)


@dataclass
class _Job:
    tenant: str
    id: str
    mode: str
    run: ImportRun
    # Who imports: the records' creator.
    actor: str | None
    done: int = 0


@dataclass(frozen=True, slots=True)
class _Batch:
    """Rows made into records and events, ready to write."""

    lines: list[int]
    records: repository.NewRecords
    events: list[Event]


class _Undo(Exception):
    """Rolls back an all-or-nothing import's transaction."""


class _Writer:
    """Writes batches one at a time beside the reading: while PostgreSQL takes one batch,
    the next rows are read, checked and made into records and events. A failed write
    surfaces at the next submit or flush."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def submit(self, write: Coroutine[Any, Any, None]) -> None:
        try:
            await self.flush()
        except BaseException:
            write.close()
            raise
        self._task = asyncio.create_task(write)

    async def flush(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task

    async def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class Importer:
    def __init__(
        self, sessionmaker: SessionMaker, service: RecordsService, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self._sessionmaker = sessionmaker
        self._service = service
        self._batch = batch_size
        self._outbox = OutboxWriter(tables.outbox)

    async def run(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        format: str,
        mode: str,
        data: AsyncIterator[bytes],
    ) -> ImportJob:
        """Reads `data` to its end and answers the finished job. A header that does not
        fit the schema is a ValidationFailed before any job exists."""
        if mode not in MODES:
            raise ValidationFailed("mode is best_effort or all_or_nothing", field="mode")
        tenant, rt = await self._service.table_for_import(ctx, app_slug, schema_slug)
        run = ImportRun(rt, format)
        while not run.ready:
            chunk = await anext(data, None)
            if chunk is None:
                run.close()
                break
            run.feed(chunk)
        async with transaction(self._sessionmaker, tenant=tenant) as session:
            row = await repository.create_import(
                session,
                tenant,
                import_id=new_id("imp"),
                schema_id=rt.schema.id,
                format=format,
                mode=mode,
                created_by=ctx.principal_id or None,
            )
        job = _Job(
            tenant=tenant,
            id=row.id,
            mode=mode,
            run=run,
            actor=ctx.principal_id or None,
        )
        try:
            if mode == ALL_OR_NOTHING:
                return await self._all_or_nothing(job, data)
            return await self._best_effort(job, data)
        except asyncio.CancelledError:
            await asyncio.shield(self._fail(job, "The upload stopped before the file ended"))
            raise
        except DomainError as error:
            await asyncio.shield(self._fail(job, f"The import stopped: {error.message}"))
            raise
        except Exception:
            await asyncio.shield(self._fail(job, "The import stopped on an internal error"))
            raise

    async def _best_effort(self, job: _Job, data: AsyncIterator[bytes]) -> ImportJob:
        run = job.run
        writer = _Writer()
        try:
            while not run.closed:
                # Rows read with the header are written before waiting for more.
                while len(run.pending) >= self._batch:
                    batch = await self._prepare(job, run.take(self._batch))
                    await writer.submit(self._commit(job, batch))
                chunk = await anext(data, None)
                if chunk is None:
                    run.close()
                else:
                    run.feed(chunk)
            while run.pending:
                batch = await self._prepare(job, run.take(self._batch))
                await writer.submit(self._commit(job, batch))
            await writer.flush()
        except BaseException:
            await writer.cancel()
            raise
        async with transaction(self._sessionmaker, tenant=job.tenant) as session:
            return await self._save(session, job, DONE)

    async def _commit(self, job: _Job, batch: _Batch) -> None:
        async with transaction(self._sessionmaker, tenant=job.tenant) as session:
            job.done += await self._write(session, job, batch)
            await self._save(session, job, RUNNING)

    async def _all_or_nothing(self, job: _Job, data: AsyncIterator[bytes]) -> ImportJob:
        run = job.run
        try:
            async with transaction(self._sessionmaker, tenant=job.tenant) as session:
                if await self._write_all(session, job, data):
                    # The job is done in the same transaction the records land in.
                    return await self._save(session, job, DONE)
                raise _Undo
        except _Undo:
            pass
        # Something was refused and nothing landed. The rest is still read, to report
        # every bad row at once.
        run.pending.clear()
        async for chunk in data:
            run.feed(chunk)
            run.pending.clear()
        if not run.closed:
            run.close()
        run.pending.clear()
        async with transaction(self._sessionmaker, tenant=job.tenant) as session:
            return await self._save(session, job, FAILED)

    async def _write_all(
        self, session: AsyncSession, job: _Job, data: AsyncIterator[bytes]
    ) -> bool:
        """Writes every row in the caller's transaction; False at the first refusal."""
        run = job.run
        writer = _Writer()

        async def write(batch: _Batch) -> None:
            job.done += await self._write(session, job, batch)

        try:
            while not run.rejected:
                while not run.rejected and (
                    len(run.pending) >= self._batch or (run.closed and run.pending)
                ):
                    batch = await self._prepare(job, run.take(self._batch))
                    await writer.submit(write(batch))
                if run.closed:
                    break
                chunk = await anext(data, None)
                if chunk is None:
                    run.close()
                else:
                    run.feed(chunk)
            await writer.flush()
        except BaseException:
            await writer.cancel()
            raise
        return not run.rejected

    async def _prepare(self, job: _Job, rows: list[Pending]) -> _Batch:
        """Makes rows into complete records and their events (all but the writing)."""
        rt = job.run.rt
        numbers: list[list[int]] = []
        # The database's clock, as for any other record, read per batch: records that share
        # a creation time spread over the whole (created_at, id) index, later ones go to
        # its end. Sequence values are taken for good, whatever becomes of the rows.
        async with transaction(self._sessionmaker, tenant=job.tenant) as session:
            now = await repository.database_now(session)
            if repository.numbered_columns(rt):
                numbers = await repository.next_numbers(session, rt, len(rows))
        records = repository.new_records(
            rt,
            job.run.columns,
            new_ids("rec", len(rows)),
            [values for _, values in rows],
            now=now,
            actor=job.actor,
            numbers=numbers,
        )
        created = events.records_created(job.tenant, rt.schema, map(rt.to_record, records.stored))
        return _Batch(lines=[line for line, _ in rows], records=records, events=created)

    async def _write(self, session: AsyncSession, job: _Job, batch: _Batch) -> int:
        rt = job.run.rt
        refused = await repository.copy_records(session, rt, batch.records)
        created = batch.events
        if refused:
            unique = [f.slug for f in rt.schema.fields if f.unique]
            message = (
                f"A record with the same '{unique[0]}' already exists"
                if len(unique) == 1
                else "A record with the same value of a unique field already exists"
                f" ({', '.join(unique)})"
            )
            for index in refused:
                job.run.reject(batch.lines[index], message, unique[0] if len(unique) == 1 else "")
            gone = set(refused)
            created = [event for index, event in enumerate(created) if index not in gone]
        await self._outbox.add_many(session, created)
        return len(created)

    async def _save(self, session: AsyncSession, job: _Job, state: str) -> ImportJob:
        row = await repository.update_import(
            session,
            job.tenant,
            job.id,
            rows_done=job.done if state != FAILED or job.mode == BEST_EFFORT else 0,
            rows_rejected=job.run.rejected,
            errors=job.run.errors,
            state=state,
        )
        return ImportJob.from_row(row)

    async def _fail(self, job: _Job, reason: str) -> None:
        job.run.note(job.run.line, reason)
        try:
            async with transaction(self._sessionmaker, tenant=job.tenant) as session:
                await self._save(session, job, FAILED)
        except Exception:
            log.exception("could not record the failure of import %s", job.id)


__all__ = [
    "ALL_OR_NOTHING",
    "BEST_EFFORT",
    "CSV",
    "FORMATS",
    "MODES",
    "NDJSON",
    "ImportJob",
    "ImportRun",
    "Importer",
]
