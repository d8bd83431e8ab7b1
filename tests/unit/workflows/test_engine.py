"""The engine on its own: steps in order, conditions, retries, failures, and a run taken up
again from its journal doing no step twice. The records service here is a dictionary; the
integration tests run the same engine against the real one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.kit.errors import ServiceUnavailable, ValidationFailed
from services.workflows.definitions import compiled, parse_definition
from services.workflows.engine import (
    FAILED,
    RETRYING,
    SKIPPED,
    SUCCEEDED,
    Executor,
    RetryPolicy,
    StepEntry,
    StepFailed,
)


class MemoryJournal:
    def __init__(self, entries: list[StepEntry] | None = None) -> None:
        self.entries = list(entries or [])

    def completed(self, place: str) -> StepEntry | None:
        for entry in self.entries:
            if entry.place == place and entry.state in (SUCCEEDED, SKIPPED):
                return entry
        return None

    def attempts(self, place: str) -> int:
        return sum(1 for entry in self.entries if entry.place == place)

    async def record(self, entry: StepEntry) -> None:
        self.entries.append(entry)


class MemoryRecords:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.failures = list(failures or [])
        self.calls: list[str] = []

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def create(self, schema: str, values: dict[str, Any], key: str) -> dict[str, Any]:
        self.calls.append(f"create {schema}")
        self._maybe_fail()
        if key in self.keys:
            return self.rows[self.keys[key]]
        record = {"id": f"rec_{len(self.rows) + 1}", **values}
        self.rows[record["id"]] = record
        self.keys[key] = record["id"]
        return record

    async def update(
        self, schema: str, record_id: str, values: dict[str, Any], key: str
    ) -> dict[str, Any]:
        self.calls.append(f"update {schema} {record_id}")
        self._maybe_fail()
        self.rows[record_id].update(values)
        return self.rows[record_id]

    async def delete(self, schema: str, record_id: str, key: str) -> None:
        self.calls.append(f"delete {schema} {record_id}")
        del self.rows[record_id]

    async def find(
        self, schema: str, filter: dict[str, Any] | None, sort: list[str], limit: int
    ) -> list[dict[str, Any]]:
        self.calls.append(f"find {schema} {filter}")
        return list(self.rows.values())[:limit]


LEAD: dict[str, Any] = {
    "name": "new-lead",
    "parameters": [
        {"name": "email", "type": "text", "required": True},
        {"name": "score", "type": "number"},
    ],
    "condition": "params.score >= 0",
    "steps": [
        {
            "id": "lead",
            "type": "create_record",
            "schema": "leads",
            "values": {"email": "params.email", "score": "params.score"},
        },
        {
            "id": "hot",
            "type": "update_record",
            "schema": "leads",
            "record": "steps.lead",
            "values": {"status": "'hot'"},
            "only_when": "params.score > 50",
        },
        {"type": "set", "name": "greeting", "value": "'Hello ' + params.email"},
        {
            "type": "return",
            "value": {"lead": "steps.lead.id", "hot": "steps.hot", "says": "vars.greeting"},
        },
    ],
}


def executor(
    body: dict[str, Any],
    records: MemoryRecords,
    journal: MemoryJournal,
    sleeps: list[float] | None = None,
) -> Executor:
    definition = parse_definition(body)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    async def schedule(name: str, parameters: dict[str, Any], at: str | None, key: str) -> str:
        return f"run_for_{name}"

    return Executor(
        definition=definition,
        expressions=compiled(definition),
        records=records,
        schedule=schedule,
        journal=journal,
        run_id="run_1",
        retry=RetryPolicy(base_seconds=0.5, max_delay_seconds=1.5),
        sleep=sleep,
    )


def run(engine: Executor, params: dict[str, Any], user: str | None = None) -> dict[str, Any]:
    return asyncio.run(engine.run(params, user))


def test_steps_run_in_order_on_earlier_results() -> None:
    records, journal = MemoryRecords(), MemoryJournal()
    result = run(executor(LEAD, records, journal), {"email": "a@x.io", "score": 90})

    hot = {"id": "rec_1", "email": "a@x.io", "score": 90, "status": "hot"}
    assert result == {"lead": "rec_1", "hot": hot, "says": "Hello a@x.io"}
    assert records.rows["rec_1"] == hot
    assert [(e.place, e.type, e.state) for e in journal.entries] == [
        ("steps[0]", "create_record", SUCCEEDED),
        ("steps[1]", "update_record", SUCCEEDED),
        ("steps[2]", "set", SUCCEEDED),
        ("steps[3]", "return", SUCCEEDED),
    ]
    assert journal.entries[0].input == {"values": {"email": "a@x.io", "score": 90}}
    assert journal.entries[1].input == {"record": "rec_1", "values": {"status": "hot"}}


def test_a_step_whose_only_when_does_not_hold_is_skipped_and_names_nothing() -> None:
    records, journal = MemoryRecords(), MemoryJournal()
    result = run(executor(LEAD, records, journal), {"email": "a@x.io", "score": 10})

    assert result["hot"] is None
    assert journal.entries[1].state == SKIPPED
    assert records.calls == ["create leads"]


@pytest.mark.parametrize(
    "condition",
    ["params.score >= 0", {"field": "params.score", "op": "gte", "value": 0}],
    ids=["expression", "filter"],
)
def test_a_condition_that_does_not_hold_runs_nothing(condition: Any) -> None:
    records, journal = MemoryRecords(), MemoryJournal()
    gated = {**LEAD, "condition": condition}
    assert run(executor(gated, records, journal), {"email": "a@x.io", "score": -1}) == {}
    assert records.calls == []
    assert [(e.place, e.state) for e in journal.entries] == [("condition", SKIPPED)]
    assert run(executor(gated, records, journal), {"email": "a@x.io", "score": 1})["lead"]


def test_a_step_failing_for_a_passing_reason_is_tried_again_with_doubling_delays() -> None:
    records = MemoryRecords(failures=[ServiceUnavailable("down"), ServiceUnavailable("down")])
    journal, sleeps = MemoryJournal(), list[float]()
    result = run(executor(LEAD, records, journal, sleeps), {"email": "a@x.io", "score": 1})

    assert result["lead"] == "rec_1"
    assert [(e.attempt, e.state) for e in journal.entries if e.place == "steps[0]"] == [
        (1, RETRYING),
        (2, RETRYING),
        (3, SUCCEEDED),
    ]
    assert sleeps == [0.5, 1.0]


def test_retries_end_with_the_steps_attempts_and_the_delay_is_capped() -> None:
    body = {**LEAD, "steps": [{**LEAD["steps"][0], "attempts": 4}]}
    records = MemoryRecords(failures=[ServiceUnavailable("down")] * 4)
    journal, sleeps = MemoryJournal(), list[float]()
    with pytest.raises(StepFailed) as failed:
        run(executor(body, records, journal, sleeps), {"email": "a@x.io", "score": 1})

    assert failed.value.place == "steps[0]"
    assert "down" in failed.value.message
    assert [e.state for e in journal.entries] == [RETRYING, RETRYING, RETRYING, FAILED]
    assert sleeps == [0.5, 1.0, 1.5]


def test_a_failure_that_will_not_pass_fails_the_run_at_once() -> None:
    records = MemoryRecords(failures=[ValidationFailed("'score' must be a number", field="score")])
    journal, sleeps = MemoryJournal(), list[float]()
    with pytest.raises(StepFailed) as failed:
        run(executor(LEAD, records, journal, sleeps), {"email": "a@x.io", "score": 1})

    assert failed.value.message == "validation_error: 'score' must be a number"
    assert [(e.state, e.attempt) for e in journal.entries] == [(FAILED, 1)]
    assert sleeps == []


def test_an_expression_failing_on_its_values_fails_its_step() -> None:
    body = {**LEAD, "steps": [{"type": "return", "value": {"x": "params.score / 0"}}]}
    journal = MemoryJournal()
    with pytest.raises(StepFailed) as failed:
        run(executor(body, MemoryRecords(), journal), {"email": "a@x.io", "score": 1})
    assert failed.value.place == "steps[0].value.x"
    # The journal says so too, once.
    [entry] = journal.entries
    assert (entry.place, entry.state) == ("steps[0]", FAILED)
    assert "steps[0].value.x" in str(entry.error)


def test_a_run_taken_up_again_does_no_completed_step_twice() -> None:
    records, journal = MemoryRecords(), MemoryJournal()
    # The first worker created the lead and died before the update.
    records.rows["rec_1"] = {"id": "rec_1", "email": "a@x.io", "score": 90}
    journal.entries.append(
        StepEntry("steps[0]", "lead", "create_record", 1, SUCCEEDED, output=records.rows["rec_1"])
    )
    result = run(executor(LEAD, records, journal), {"email": "a@x.io", "score": 90})

    assert result["lead"] == "rec_1"
    assert records.calls == ["update leads rec_1"]
    assert len(records.rows) == 1


LOOP: dict[str, Any] = {
    "name": "tag-all",
    "parameters": [{"name": "names", "type": "text", "list": True}],
    "steps": [
        {
            "id": "each",
            "type": "loop",
            "over": "params.names",
            "steps": [
                {
                    "id": "made",
                    "type": "create_record",
                    "schema": "tags",
                    "values": {"name": "item", "position": "index"},
                }
            ],
        },
        {
            "id": "found",
            "type": "find_records",
            "schema": "tags",
            "filter": {"and": [{"field": "name", "op": "eq", "value": "params.names[0]"}]},
        },
        {"type": "return", "value": {"loops": "steps.each.count", "found": "steps.found.count"}},
    ],
}


def test_a_loop_runs_its_steps_per_item_and_resumes_inside_an_iteration() -> None:
    records, journal = MemoryRecords(), MemoryJournal()
    first = executor(LOOP, records, journal)
    assert run(first, {"names": ["a", "b", "c"]}) == {"loops": 3, "found": 3}
    assert [e.place for e in journal.entries] == [
        "steps[0]#0.steps[0]",
        "steps[0]#1.steps[0]",
        "steps[0]#2.steps[0]",
        "steps[0]",
        "steps[1]",
        "steps[2]",
    ]
    assert records.calls[-1] == "find tags {'and': [{'field': 'name', 'op': 'eq', 'value': 'a'}]}"

    # A second worker finds the first two iterations done: only the third is made.
    again, journal_again = MemoryRecords(), MemoryJournal(journal.entries[:2])
    run(executor(LOOP, again, journal_again), {"names": ["a", "b", "c"]})
    assert [c for c in again.calls if c.startswith("create")] == ["create tags"]
    assert [e.place for e in journal_again.entries[2:4]] == ["steps[0]#2.steps[0]", "steps[0]"]
