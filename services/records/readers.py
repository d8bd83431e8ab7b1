"""Readers of the files an import streams in. Bytes arrive in pieces cut anywhere; a
reader hands back what the pieces completed, in order: numbered rows, or the reason a row
was refused. Memory stays bounded whatever the file's size: a line (a CSV record, quoted
newlines and all) longer than MAX_LINE_BYTES is refused without being kept.

No I/O and no schema here: what a row's values mean is the importer's business."""

from __future__ import annotations

import csv
from dataclasses import dataclass

from services.kit.errors import ValidationFailed

MAX_LINE_BYTES = 1024 * 1024
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that never became one: its first line and why."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class _Overlong:
    """A line past the limit, dropped; only its quotes are kept count of (CSV needs them
    to know where the record ends)."""

    quotes: int


class _Lines:
    """Splits a byte stream into complete lines (without their newline)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tail = b""
        # Inside a line already past the limit: its bytes are dropped as they come.
        self._dropping = False
        self._dropped_quotes = 0

    def feed(self, data: bytes) -> list[bytes | _Overlong]:
        lines: list[bytes | _Overlong] = []
        if self._dropping:
            end = data.find(b"\n")
            if end < 0:
                self._dropped_quotes += data.count(b'"')
                return lines
            lines.append(_Overlong(self._dropped_quotes + data.count(b'"', 0, end)))
            self._dropping = False
            data = data[end + 1 :]
        buffer = self._tail + data if self._tail else data
        end = buffer.rfind(b"\n")
        if end < 0:
            self._keep(buffer)
            return lines
        self._keep(buffer[end + 1 :])
        for line in buffer[:end].split(b"\n"):
            lines.append(_Overlong(line.count(b'"')) if len(line) > self._limit else line)
        return lines

    def close(self) -> list[bytes | _Overlong]:
        if self._dropping:
            self._dropping = False
            return [_Overlong(self._dropped_quotes)]
        tail, self._tail = self._tail, b""
        return [tail] if tail else []

    def _keep(self, tail: bytes) -> None:
        if len(tail) > self._limit:
            self._tail = b""
            self._dropping = True
            self._dropped_quotes = tail.count(b'"')
        else:
            self._tail = tail


def _longer_than(limit: int) -> str:
    return (
        f"longer than {limit >> 20} MiB" if limit % (1 << 20) == 0 else f"longer than {limit} bytes"
    )


def _text(line: int, raw: bytes) -> str | Rejected:
    if b"\x00" in raw:
        return Rejected(line, "The row contains a NUL byte")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected(line, "The row is not valid UTF-8")


CsvRow = tuple[int, list[str]]


class CsvReader:
    """RFC 4180 CSV: comma-separated, values quoted with double quotes (a quote inside
    doubled), records ending in LF or CRLF; a quoted value may span lines. The first
    non-blank record is the header; blank lines are skipped. A row's number is the line
    its record starts on, counting the header as line 1 (or wherever it was)."""

    def __init__(self, *, limit: int = MAX_LINE_BYTES) -> None:
        self._lines = _Lines(limit)
        self._limit = limit
        self.header: list[str] | None = None
        self.header_line = 0
        # Physical lines consumed.
        self._line = 0
        # The record being gathered across lines: where it started, its lines, the quotes
        # seen so far (an odd count means a quoted value is still open) and its size.
        self._start = 0
        self._parts: list[bytes] = []
        self._quotes = 0
        self._size = 0
        self._overlong = False

    def feed(self, data: bytes) -> list[CsvRow | Rejected]:
        return self._parse(self._records(self._lines.feed(data)))

    def close(self) -> list[CsvRow | Rejected]:
        """The rows the end of the input completes; a quoted value still open is refused."""
        records = self._records(self._lines.close())
        if self._parts or self._overlong:
            if self._overlong:
                records.append(Rejected(self._start, f"The row is {_longer_than(self._limit)}"))
            else:
                records.append(Rejected(self._start, "A quoted value is never closed"))
            self._parts, self._overlong, self._quotes, self._size = [], False, 0, 0
        rows = self._parse(records)
        if self.header is None:
            raise ValidationFailed("The CSV is empty; its first row must name the fields")
        return rows

    def _records(self, lines: list[bytes | _Overlong]) -> list[tuple[int, bytes] | Rejected]:
        records: list[tuple[int, bytes] | Rejected] = []
        for line in lines:
            self._line += 1
            if isinstance(line, bytes):
                quotes = line.count(b'"')
                if not self._parts and not self._overlong and not quotes & 1:
                    # The common case: a record on one line.
                    records.append((self._line, line))
                    continue
            else:
                quotes = line.quotes
            if not self._parts and not self._overlong:
                self._start = self._line
            self._quotes += quotes
            if isinstance(line, _Overlong):
                self._overlong = True
            elif not self._overlong:
                self._size += len(line) + 1
                if self._size > self._limit:
                    self._overlong = True
                else:
                    self._parts.append(line)
            if self._quotes & 1:
                continue
            if self._overlong:
                records.append(Rejected(self._start, f"The row is {_longer_than(self._limit)}"))
            else:
                records.append((self._start, b"\n".join(self._parts)))
            self._parts, self._overlong, self._quotes, self._size = [], False, 0, 0
        return records

    def _parse(self, records: list[tuple[int, bytes] | Rejected]) -> list[CsvRow | Rejected]:
        parsed: list[CsvRow | Rejected] = []
        texts: list[str] = []
        starts: list[int] = []
        for record in records:
            if isinstance(record, Rejected):
                parsed.extend(self._flush(starts, texts))
                starts, texts = [], []
                parsed.append(record)
                continue
            text = _text(*record)
            if isinstance(text, Rejected):
                parsed.extend(self._flush(starts, texts))
                starts, texts = [], []
                parsed.append(text)
                continue
            starts.append(record[0])
            texts.append(text)
        parsed.extend(self._flush(starts, texts))
        if self.header is None:
            return self._take_header(parsed)
        return parsed

    def _flush(self, starts: list[int], texts: list[str]) -> list[CsvRow | Rejected]:
        rows: list[CsvRow | Rejected] = []
        if not texts:
            return rows
        if not any('"' in text for text in texts):
            # No quotes: each text is exactly one row, so one reader serves them all.
            reader = csv.reader(texts, strict=True)
            for start in starts:
                try:
                    cells = next(reader)
                except csv.Error as error:
                    rows.append(Rejected(start, f"Malformed CSV: {error}"))
                    continue
                if cells:
                    rows.append((start, cells))
            return rows
        for start, text in zip(starts, texts, strict=True):
            # A reader each: a malformed quote must not pull the next record in.
            single = csv.reader((text,), strict=True)
            try:
                cells = next(single, [])
                if next(single, None) is not None:
                    raise csv.Error("a quote opens a value the record never closes")
            except csv.Error as error:
                rows.append(Rejected(start, f"Malformed CSV: {error}"))
                continue
            if cells:
                rows.append((start, cells))
        return rows

    def _take_header(self, rows: list[CsvRow | Rejected]) -> list[CsvRow | Rejected]:
        if not rows:
            return rows
        first = rows[0]
        if isinstance(first, Rejected):
            raise ValidationFailed(
                f"The header row (line {first.line}) is unreadable: {first.message}"
            )
        line, cells = first
        if cells and cells[0].startswith(_BOM):
            cells[0] = cells[0][len(_BOM) :]
        self.header = [cell.strip() for cell in cells]
        self.header_line = line
        return rows[1:]


NdjsonLine = tuple[int, bytes]


class NdjsonReader:
    """Newline-delimited JSON: one value per line, blank lines skipped. Lines come back as
    bytes, still to be parsed; a line past the limit is refused here."""

    def __init__(self, *, limit: int = MAX_LINE_BYTES) -> None:
        self._lines = _Lines(limit)
        self._limit = limit
        self._line = 0

    def feed(self, data: bytes) -> list[NdjsonLine | Rejected]:
        return self._number(self._lines.feed(data))

    def close(self) -> list[NdjsonLine | Rejected]:
        return self._number(self._lines.close())

    def _number(self, lines: list[bytes | _Overlong]) -> list[NdjsonLine | Rejected]:
        numbered: list[NdjsonLine | Rejected] = []
        for line in lines:
            self._line += 1
            if isinstance(line, _Overlong):
                numbered.append(Rejected(self._line, f"The line is {_longer_than(self._limit)}"))
            elif line.strip():
                numbered.append((self._line, line))
        return numbered


__all__ = ["MAX_LINE_BYTES", "CsvReader", "CsvRow", "NdjsonLine", "NdjsonReader", "Rejected"]
