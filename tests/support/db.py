"""Direct looks into a service's database, to check what a request did or did not write."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def scalar(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(query, params).fetchone()
        return None if row is None else row[0]


def count_rows(url: str, schema: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        statement = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = connection.execute(statement).fetchone()
        assert row is not None
        return int(row[0])
