"""A filtered list's total is reused while its table has not changed: it must still be
exact after every kind of write, whoever makes it, and over link filters."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

from services.devstack.stack import Stack
from services.kit.db import create_engine
from services.records.repository import upgrade_counters
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.tables import Table, new_table
from tests.support.records import column_of, physical_names
from tests.support.wait import eventually

FIELDS: list[dict[str, Any]] = [
    {"slug": "name", "type": "text"},
    {"slug": "stage", "type": "select", "options": ["new", "won", "lost"]},
    {"slug": "qty", "type": "integer"},
]
WON = {"filter[stage]": "won"}


@pytest.fixture
def deals(tenant: Tenant) -> Table:
    table = new_table(tenant, FIELDS, slug="deals")
    for n in range(5):
        table.insert(name=f"deal {n}", stage="won" if n < 3 else "new", qty=n)
    return table


def total(table: Table, params: dict[str, Any]) -> int:
    """The total of a page, checked against the records of an unpaged list."""
    page = table.page({**params, "per_page": 100})
    assert len(page["records"]) == page["total"], page
    return int(page["total"])


def execute(url: str, statement: sql.Composed, *params: Any) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement, params)


def test_a_filtered_total_follows_every_write_through_the_api(deals: Table) -> None:
    assert total(deals, WON) == 3
    # Asked again with nothing changed: the same (now remembered) total.
    assert total(deals, WON) == 3

    created = deals.insert(name="deal 5", stage="won")
    assert total(deals, WON) == 4
    assert deals.update(created["id"], {"stage": "lost"}).status_code == 200
    assert total(deals, WON) == 3
    first_won = deals.page({**WON, "sort": "name"})["records"][0]["id"]
    assert deals.tenant.delete(f"{deals.records}/{first_won}").status_code == 204
    assert total(deals, WON) == 2
    batch = deals.tenant.post(
        f"{deals.records}/batch", json={"records": [{"name": "b1", "stage": "won"}] * 3}
    )
    assert batch.status_code == 201, batch.text
    assert total(deals, WON) == 5
    # Another filter on the same table keeps its own total.
    assert total(deals, {"filter[qty][gte]": 3}) == 2
    assert total(deals, WON) == 5


def test_a_write_straight_to_the_table_is_seen_by_the_next_page(stack: Stack, deals: Table) -> None:
    """As a write through another records process would be: nothing in this one hears
    of it, the table's own triggers move the counter."""
    assert total(deals, WON) == 3
    stage = column_of(stack, deals, "stage")
    table = sql.Identifier(stage.app_id, stage.schema_id)
    url = stack.databases["records"].admin_url

    execute(url, sql.SQL("UPDATE {} SET {} = 'won'").format(table, sql.Identifier(stage.field_id)))
    assert total(deals, WON) == 5
    execute(url, sql.SQL("TRUNCATE {}").format(table))
    assert total(deals, WON) == 0


def test_a_total_over_a_link_filter_follows_the_links(stack: Stack, tenant: Tenant) -> None:
    """A link filter reads the link's own table, whose writes do not move the records'
    counter: such a total is counted every time."""
    app = create_app(tenant)["slug"]
    create_schema(
        tenant, app, name="Companies", slug="companies", fields=[{"slug": "name", "type": "text"}]
    )
    create_schema(
        tenant,
        app,
        name="People",
        slug="people",
        fields=[
            {"slug": "name", "type": "text"},
            {"slug": "employers", "type": "link", "target": "companies"},
        ],
    )
    people = Table(tenant, str(app), "people")
    acme = tenant.post(records_path(app, "companies"), json={"name": "Acme"}).json()["id"]
    ada = people.insert(name="Ada", employers=[acme])
    bob = people.insert(name="Bob")
    employed = {"filter[employers][has_any]": acme}
    assert total(people, employed) == 1

    # Only the join table changes (the API also touches the record's row; nothing
    # promises it always will).
    link = column_of(stack, people, "employers")
    join_table = sql.Identifier(link.app_id, f"lnk_{link.field_id}")
    url = stack.databases["records"].admin_url
    execute(
        url,
        sql.SQL("INSERT INTO {} (record_id, target_id, position) VALUES (%s, %s, 0)").format(
            join_table
        ),
        bob["id"],
        acme,
    )
    assert total(people, employed) == 2
    execute(url, sql.SQL("DELETE FROM {} WHERE record_id = %s").format(join_table), ada["id"])
    assert total(people, employed) == 1


def test_tables_from_before_the_change_counters_get_them(stack: Stack, deals: Table) -> None:
    app_id, schema_id = physical_names(stack, deals.tenant, deals.app_slug, deals.slug)
    url = stack.databases["records"].admin_url
    execute(
        url,
        sql.SQL("DROP TRIGGER records_updated ON {}").format(sql.Identifier(app_id, schema_id)),
    )

    async def upgrade() -> int:
        engine = create_engine(url)
        try:
            return await upgrade_counters(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(upgrade()) >= 1
    assert asyncio.run(upgrade()) == 0
    assert total(deals, WON) == 3
    won = deals.page({**WON, "sort": "name"})["records"][0]["id"]
    assert deals.update(won, {"stage": "new"}).status_code == 200
    assert total(deals, WON) == 2


def test_an_update_takes_its_counter_row_before_the_records_it_locks(
    stack: Stack, deals: Table
) -> None:
    """Two transactions updating the same records meet on the counter row first, so they
    cannot each hold what the other waits for (a batch's later statement waiting for a
    record while holding the counter row the other waits for)."""
    stage = column_of(stack, deals, "stage")
    table = sql.Identifier(stage.app_id, stage.schema_id)
    counts = sql.Identifier(stage.app_id, "_record_counts")
    record = deals.page({"sort": "name"})["records"][0]["id"]
    url = stack.databases["records"].admin_url
    with (
        psycopg.connect(url) as holder,
        psycopg.connect(url) as updater,
        psycopg.connect(url, autocommit=True) as probe,
    ):
        holder.execute(
            sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(table), (record,)
        )
        row = updater.execute("SELECT txid_current() % 16, pg_backend_pid()").fetchone()
        assert row is not None
        slot, pid = row
        blocked = threading.Thread(
            target=updater.execute,
            args=(
                sql.SQL("UPDATE {} SET {} = 'lost' WHERE id = %s").format(
                    table, sql.Identifier(stage.field_id)
                ),
                (record,),
            ),
        )
        blocked.start()
        try:
            eventually(
                lambda: (
                    probe.execute(
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (pid,),
                    ).fetchone()
                    == (True,)
                )
            )
            # Waiting for the record, the update already holds its counter row.
            with pytest.raises(psycopg.errors.LockNotAvailable):
                probe.execute(
                    sql.SQL(
                        "SELECT 1 FROM {} WHERE schema_id = %s AND slot = %s FOR UPDATE NOWAIT"
                    ).format(counts),
                    (stage.schema_id, slot),
                )
        finally:
            holder.rollback()
            blocked.join(timeout=10)
            updater.rollback()


def test_a_new_schema_version_moves_the_counter(stack: Stack, deals: Table) -> None:
    """A new version may rewrite rows without firing the triggers (a field converted in
    place); a replica still on the previous version must not keep its total."""
    app_id, schema_id = physical_names(stack, deals.tenant, deals.app_slug, deals.slug)
    url = stack.databases["records"].admin_url
    changes = sql.SQL("SELECT sum(changes) FROM {} WHERE schema_id = %s").format(
        sql.Identifier(app_id, "_record_counts")
    )

    def counter() -> int:
        with psycopg.connect(url, autocommit=True) as connection:
            row = connection.execute(changes, (schema_id,)).fetchone()
            assert row is not None
            return int(row[0])

    before = counter()
    assert deals.add_field({"slug": "note", "type": "text"}).status_code == 201
    eventually(lambda: counter() > before)


def test_a_write_rolled_back_to_break_a_deadlock_runs_once_more(stack: Stack, deals: Table) -> None:
    """An update waiting for a record while holding its counter row, and another
    transaction holding that record and then asking for the counter rows: PostgreSQL
    rolls one back. When it is the API's update, the service runs it again, and the
    client sees one update, not an error."""
    stage = column_of(stack, deals, "stage")
    table = sql.Identifier(stage.app_id, stage.schema_id)
    counts = sql.Identifier(stage.app_id, "_record_counts")
    record = deals.page({"sort": "name"})["records"][0]
    url = stack.databases["records"].admin_url
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    replies: list[Any] = []
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as probe:
        before = probe.execute(deadlocks).fetchone()
        # The API's transaction is the one to find the deadlock, and so to be rolled back.
        holder.execute("SET LOCAL deadlock_timeout = '60s'")
        holder.execute(
            sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(table), (record["id"],)
        )
        update = threading.Thread(
            target=lambda: replies.append(deals.update(record["id"], {"stage": "lost"}))
        )
        update.start()
        try:
            waiting = sql.SQL(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                # The update reads the row it changes first (WITH before AS ...).
                "AND query LIKE '%%UPDATE %%' AND pid <> %s"
            )
            eventually(
                lambda: probe.execute(waiting, (holder.info.backend_pid,)).fetchone() == (1,)
            )
            holder.execute(
                sql.SQL("SELECT 1 FROM {} WHERE schema_id = %s FOR UPDATE").format(counts),
                (stage.schema_id,),
            )
            eventually(lambda: probe.execute(deadlocks).fetchone() != before)
        finally:
            holder.rollback()
            update.join(timeout=30)
    assert len(replies) == 1
    assert replies[0].status_code == 200, replies[0].text
    assert replies[0].json()["stage"] == "lost"
    assert replies[0].json()["version"] == record["version"] + 1
