"""Records rendered as CSV: JSON scalars as their text, lists and objects as JSON."""

from __future__ import annotations

import csv
import io

from services.gateway.presenters import RecordsCsv


def test_records_csv_writes_json_scalars_as_text_and_the_rest_as_json() -> None:
    table = RecordsCsv(["id", "name", "n", "big", "ok", "tags", "meta", "missing"])
    head = table.header()
    body = table.rows(
        b'{"id":"rec_1","name":"Ada, \\"the\\"\\ncountess","n":2.5,'
        b'"big":123456789012345678901234567890.000000000000000000001,"ok":true,'
        b'"tags":["a","b"],"meta":{"x":null,"y":0.1000000000000000000001},"missing":null}\n'
        b'{"id":"rec_2","name":"","n":null,"big":-1,"ok":false,"tags":[],"meta":{}}\n'
    )
    rows = list(csv.reader(io.StringIO((head + body).decode(), newline="")))
    assert rows == [
        ["id", "name", "n", "big", "ok", "tags", "meta", "missing"],
        [
            "rec_1",
            'Ada, "the"\ncountess',
            "2.5",
            "123456789012345678901234567890.000000000000000000001",
            "true",
            '["a","b"]',
            '{"x":null,"y":0.1000000000000000000001}',
            "",
        ],
        ["rec_2", "", "", "-1", "false", "[]", "{}", ""],
    ]
