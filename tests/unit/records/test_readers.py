"""The import readers: rows numbered by the line they start on, whatever the chunking;
bad rows refused with a reason, long ones without being kept."""

from __future__ import annotations

from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.records.readers import CsvReader, NdjsonReader, Rejected


def read_csv(data: bytes, *, size: int = 1 << 20, limit: int = 1 << 20) -> tuple[Any, list[Any]]:
    reader = CsvReader(limit=limit)
    rows: list[Any] = []
    for start in range(0, len(data), size):
        rows += reader.feed(data[start : start + size])
    rows += reader.close()
    return reader.header, rows


SAMPLE = (
    b"\xef\xbb\xbfname, score\r\n"
    b"Ada,1\r\n"
    b"\r\n"
    b'"Lovelace, Ada","2"\r\n'
    b'"multi\r\nline ""quoted""",3\r\n'
    b"last,4"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 1 << 20])
def test_csv_rows_are_the_same_however_the_bytes_are_cut(size: int) -> None:
    header, rows = read_csv(SAMPLE, size=size)
    assert header == ["name", "score"]
    assert rows == [
        (2, ["Ada", "1"]),
        (4, ["Lovelace, Ada", "2"]),
        (5, ['multi\r\nline "quoted"', "3"]),
        (7, ["last", "4"]),
    ]


def test_csv_bad_rows_are_refused_with_their_line() -> None:
    data = b'h\nok\n"bad"quote\nnul\x00\n\xff\xfe\nfine\n"never closed\nmore\n'
    _, rows = read_csv(data, size=3)
    assert rows[0] == (2, ["ok"])
    assert isinstance(rows[1], Rejected)
    assert rows[1].line == 3
    assert "Malformed CSV" in rows[1].message
    assert rows[2] == Rejected(4, "The row contains a NUL byte")
    assert rows[3] == Rejected(5, "The row is not valid UTF-8")
    assert rows[4] == (6, ["fine"])
    assert rows[5] == Rejected(7, "A quoted value is never closed")
    assert len(rows) == 6


def test_csv_rows_past_the_limit_are_dropped_and_reading_goes_on() -> None:
    long = b"x" * 50
    data = b"h\n" + long + b'\nshort\n"' + long + b"\n" + long + b'"\nafter\n' + long
    _, rows = read_csv(data, size=7, limit=40)
    assert rows == [
        Rejected(2, "The row is longer than 40 bytes"),
        (3, ["short"]),
        Rejected(4, "The row is longer than 40 bytes"),
        (6, ["after"]),
        Rejected(7, "The row is longer than 40 bytes"),
    ]


def test_a_quoted_record_is_limited_as_a_whole() -> None:
    data = b'h\n"' + b"\n".join([b"y" * 15] * 4) + b'"\nnext\n'
    _, rows = read_csv(data, size=4, limit=40)
    assert rows == [Rejected(2, "The row is longer than 40 bytes"), (6, ["next"])]


def test_csv_without_a_header_is_refused() -> None:
    for data in (b"", b"\n\n"):
        with pytest.raises(ValidationFailed):
            read_csv(data)
    with pytest.raises(ValidationFailed) as caught:
        read_csv(b"nul\x00,h\nrow\n")
    assert "line 1" in caught.value.message


def test_ndjson_lines_are_numbered_and_blank_ones_skipped() -> None:
    reader = NdjsonReader(limit=20)
    data = b'{"a": 1}\n\n  \n' + b"x" * 30 + b'\n{"b": 2}\r\n[1]'
    lines: list[Any] = []
    for start in range(0, len(data), 4):
        lines += reader.feed(data[start : start + 4])
    lines += reader.close()
    assert lines == [
        (1, b'{"a": 1}'),
        Rejected(4, "The line is longer than 20 bytes"),
        (5, b'{"b": 2}\r'),
        (6, b"[1]"),
    ]
