"""Privacy rules through the REST surface, with real credentials of every kind a member
holds: an editor and a viewer signed in, an API token, a per-user key and admin tokens
made by the owner. The rules bind all of them (an owner's token and key included) except
the owner signed in and an admin token made with `bypass_privacy_rules`.

The schema under test holds notes whose `maker` is a created_by field; the rules let a
caller do everything with the notes it made itself (all fields but `internal`), find open
notes with only their title, status and labels, and nothing else. `$current_user` is the
account behind the credential: the editor for the editor, the owner for the owner's token,
key and admin token. Linked labels have rules of their own (only shown labels are found).
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.factories.accounts import Tenant, sign_up
from tests.factories.credentials import (
    ALL_RECORDS,
    create_admin_token,
    create_api_key,
    create_token,
    in_workspace,
    join,
    token_auth,
)
from tests.factories.tables import Table, error_of, invalid, new_table
from tests.support.wait import eventually

NOTE_FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text"},
    {"slug": "code", "type": "text", "unique": True},
    {"slug": "status", "type": "select", "options": ["open", "closed"]},
    {"slug": "secret", "type": "text"},
    {"slug": "internal", "type": "text"},
    {"slug": "maker", "type": "created_by"},
]
OWN_FIELDS = ["title", "code", "status", "secret", "maker", "labels"]
OPEN_FIELDS = ["title", "status", "labels"]
NOTE_RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "Own notes",
            "condition": {"field": "maker", "op": "eq", "value": "$current_user"},
            "find": True,
            "read_fields": OWN_FIELDS,
            "create": True,
            "update": True,
            "delete": True,
        },
        {
            "name": "Open notes",
            "condition": {"field": "status", "op": "eq", "value": "open"},
            "find": True,
            "read_fields": OPEN_FIELDS,
        },
    ],
    "default": {"find": False},
}
LABEL_RULES: dict[str, Any] = {
    "rules": [
        {
            "name": "Shown labels",
            "condition": {"field": "shown", "op": "eq", "value": True},
            "find": True,
            "read_fields": ["label"],
        }
    ],
    "default": {"find": False},
}
SYSTEM_KEYS = {"id", "version", "created_at", "updated_at"}
FULL = "full"  # found, with every field the own-notes rule reads
PART = "part"  # found, with the open-notes rule's fields only
EVERYTHING = "everything"  # found, every field (callers the rules do not bind)

# What each caller finds of the four seeded notes, and how much of each.
SEEN_BY_THE_OWNERS_ACCOUNT = {"owner open": FULL, "owner closed": FULL, "editor open": PART}
VIEWS: dict[str, dict[str, str]] = {
    "owner": dict.fromkeys(
        ("owner open", "owner closed", "editor open", "editor closed"), EVERYTHING
    ),
    "admin_token_bypass": dict.fromkeys(
        ("owner open", "owner closed", "editor open", "editor closed"), EVERYTHING
    ),
    "editor": {"editor open": FULL, "editor closed": FULL, "owner open": PART},
    "viewer": {"owner open": PART, "editor open": PART},
    "api_token": SEEN_BY_THE_OWNERS_ACCOUNT,
    "user_key": SEEN_BY_THE_OWNERS_ACCOUNT,
    "admin_token": SEEN_BY_THE_OWNERS_ACCOUNT,
}
BOUND = ("editor", "viewer", "api_token", "user_key", "admin_token")
UNBOUND = ("owner", "admin_token_bypass")
# Bound callers whose role lets them write records.
BOUND_WRITERS = ("editor", "api_token", "user_key", "admin_token")


@dataclass
class Board:
    """The notes schema with its four seeded notes, and everyone who calls it."""

    table: Table
    owner: Tenant
    editor: Tenant
    callers: dict[str, dict[str, str]]
    ids: dict[str, str]
    labels: dict[str, str]
    client: httpx.Client

    def as_(self, caller: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.callers[caller], **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def list(self, caller: str, **params: Any) -> httpx.Response:
        return self.as_(caller, "GET", self.table.records, params={"per_page": 100, **params})

    def record(self, record_id: str) -> str:
        return f"{self.table.records}/{record_id}"

    def account_of(self, caller: str) -> str:
        """`$current_user` for the caller: the account behind its credential."""
        return self.editor.account_id if caller == "editor" else self.owner.account_id

    def owners_view(self, record_id: str) -> dict[str, Any]:
        return self.table.get(record_id)


@dataclass
class People:
    owner: Tenant
    editor: Tenant
    viewer: Tenant
    callers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def people(module_client: httpx.Client) -> People:
    owner = sign_up(module_client, name="Olive Owner")
    editor, viewer = sign_up(module_client, name="Eddie"), sign_up(module_client, name="Vera")
    join(owner, editor, "editor")
    join(owner, viewer, "viewer")
    here = in_workspace(owner.workspace_id)
    token = create_token(owner, name="Backend", permissions=ALL_RECORDS)
    return People(
        owner=owner,
        editor=editor,
        viewer=viewer,
        callers={
            "owner": {"Authorization": f"JWT {owner.token}"},
            "editor": {"Authorization": f"JWT {editor.token}", **here},
            "viewer": {"Authorization": f"JWT {viewer.token}", **here},
            "api_token": token_auth(token["token"]),
            "user_key": {"X-Api-Key": create_api_key(owner)},
            "admin_token": token_auth(create_admin_token(owner)["token"], "Bearer"),
            "admin_token_bypass": token_auth(
                create_admin_token(owner, bypass_privacy_rules=True)["token"], "Bearer"
            ),
        },
    )


def build_board(client: httpx.Client, people: People) -> Board:
    """A fresh app: labels and notes with their rules, the owner's two notes and the
    editor's two, once the records service applies the rules."""
    owner = people.owner
    table = new_table(owner, NOTE_FIELDS, slug="notes")
    labels_path = f"/api/apps/{table.app_slug}/schemas/labels"
    made = owner.post(
        f"/api/apps/{table.app_slug}/schemas",
        json={
            "name": "Labels",
            "slug": "labels",
            "fields": [{"slug": "label", "type": "text"}, {"slug": "shown", "type": "boolean"}],
        },
    )
    assert made.status_code == 201, made.text
    labels = {}
    for label, shown in (("shown label", True), ("hidden label", False)):
        created = owner.post(f"{labels_path}/records", json={"label": label, "shown": shown})
        labels[label] = created.json()["id"]
    linked = table.add_field({"slug": "labels", "type": "link", "target": "labels"})
    assert linked.status_code == 201, linked.text
    for path, rules in ((labels_path, LABEL_RULES), (table.path, NOTE_RULES)):
        response = owner.put(f"{path}/privacy-rules", json=rules)
        assert response.status_code == 200, response.text
    board = Board(
        table=table,
        owner=owner,
        editor=people.editor,
        callers=people.callers,
        ids={},
        labels=labels,
        client=owner.client,
    )
    both = [labels["shown label"], labels["hidden label"]]
    for who, status in (("owner", "open"), ("owner", "closed")):
        title = f"{who} {status}"
        note = {"title": title, "code": title, "status": status, "secret": f"{title} secret"}
        board.ids[title] = table.insert(**note, internal=f"{title} internal", labels=both)["id"]
    # The records service learns the rules from an event; the editor's notes are its own
    # only once the rules apply to it.
    eventually(lambda: board.list("viewer").json().get("total") == 1 or None)
    for status in ("open", "closed"):
        title = f"editor {status}"
        note = {"title": title, "code": title, "status": status, "secret": f"{title} secret"}
        created = board.as_("editor", "POST", table.records, json={**note, "labels": both})
        assert created.status_code == 201, created.text
        board.ids[title] = created.json()["id"]
    return board


@pytest.fixture(scope="module")
def board(module_client: httpx.Client, people: People) -> Board:
    """Read by the tests that change nothing."""
    return build_board(module_client, people)


@pytest.fixture
def scratch(module_client: httpx.Client, people: People) -> Board:
    """A board of its own for a test that writes."""
    return build_board(module_client, people)


def assert_seen(record: dict[str, Any], how: str) -> None:
    keys = set(record) - SYSTEM_KEYS
    if how == EVERYTHING:
        assert keys == {f["slug"] for f in NOTE_FIELDS} | {"labels"}, record
    elif how == FULL:
        assert keys == set(OWN_FIELDS), record
        assert record["secret"] == f"{record['title']} secret"
    else:
        assert keys == set(OPEN_FIELDS), record


# --- reads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", list(VIEWS))
def test_lists_totals_and_searches_hold_what_the_rules_let_each_caller_find(
    board: Board, caller: str
) -> None:
    view = VIEWS[caller]
    listed = board.list(caller)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert {r["title"]: r for r in body["records"]}.keys() == view.keys()
    assert body["total"] == len(view)
    for record in body["records"]:
        assert_seen(record, view[record["title"]])

    searched = board.as_(caller, "POST", f"{board.table.records}/search", json={"per_page": 100})
    assert searched.status_code == 200, searched.text
    assert searched.json()["records"] == body["records"]
    assert searched.json()["total"] == len(view)

    open_only = {"field": "status", "op": "eq", "value": "open"}
    filtered = board.as_(
        caller, "POST", f"{board.table.records}/search", json={"filter": open_only}
    )
    assert {r["title"] for r in filtered.json()["records"]} == {
        t for t in view if t.endswith("open")
    }
    assert filtered.json()["total"] == len([t for t in view if t.endswith("open")])


@pytest.mark.parametrize("caller", list(VIEWS))
def test_a_get_shows_what_the_list_shows_and_a_note_not_found_is_404(
    board: Board, caller: str
) -> None:
    view = VIEWS[caller]
    nowhere = board.as_(caller, "GET", board.record("rec_aaaaaaaaaaaaaaaaaaaaaaaaaa"))
    for title, record_id in board.ids.items():
        response = board.as_(caller, "GET", board.record(record_id))
        if title in view:
            assert response.status_code == 200, response.text
            assert_seen(response.json(), view[title])
        else:
            # Exactly what a record that never existed answers.
            assert (response.status_code, response.json()) == (404, nowhere.json())


@pytest.mark.parametrize("caller", BOUND)
def test_filters_sorts_and_searches_on_hidden_fields_are_400(board: Board, caller: str) -> None:
    search = f"{board.table.records}/search"
    invalid(board.list(caller, **{"filter[secret]": "owner open secret"}), "filter")
    invalid(board.list(caller, **{"filter[internal]": "owner open internal"}), "filter")
    invalid(board.list(caller, sort="secret"), "sort")
    invalid(board.list(caller, sort="-internal"), "sort")
    invalid(board.list(caller, search="secret"), "search")
    hidden = {"field": "secret", "op": "eq", "value": "owner closed secret"}
    invalid(board.as_(caller, "POST", search, json={"filter": hidden}), "filter")
    invalid(board.as_(caller, "POST", search, json={"sort": ["maker"]}), "sort")
    # Fields every found note shows can be filtered and sorted on.
    assert board.list(caller, **{"filter[status]": "open"}).status_code == 200
    assert board.list(caller, sort="-title").status_code == 200


@pytest.mark.parametrize("caller", UNBOUND)
def test_callers_the_rules_do_not_bind_filter_on_anything(board: Board, caller: str) -> None:
    found = board.list(caller, **{"filter[internal]": "owner closed internal"}).json()
    assert [r["title"] for r in found["records"]] == ["owner closed"]
    assert board.list(caller, sort="secret", search="secret").status_code == 200


@pytest.mark.parametrize("caller", BOUND)
def test_fields_and_expand_show_only_what_may_be_read(board: Board, caller: str) -> None:
    view = VIEWS[caller]
    chosen = board.list(caller, fields="title,secret").json()["records"]
    assert {r["title"] for r in chosen} == view.keys()
    for record in chosen:
        if view[record["title"]] == FULL:
            assert set(record) == {"id", "title", "secret"}
        else:
            assert set(record) == {"id", "title"}
    invalid(board.list(caller, fields="title,internal"), "fields")
    # Expanded labels follow the labels' own rules: the hidden one is not shown.
    expanded = board.list(caller, expand="labels").json()["records"]
    for record in expanded:
        assert [label["label"] for label in record["labels"]] == ["shown label"], record
        assert "shown" not in record["labels"][0]


def test_the_owner_expands_every_label(board: Board) -> None:
    expanded = board.list("owner", expand="labels").json()["records"]
    for record in expanded:
        assert sorted(label["label"] for label in record["labels"]) == [
            "hidden label",
            "shown label",
        ]


def test_a_link_leaves_out_records_the_caller_may_not_find(board: Board) -> None:
    for record in board.list("editor").json()["records"]:
        assert board.labels["hidden label"] not in {link["id"] for link in record["labels"]}


@pytest.mark.parametrize("caller", list(VIEWS))
def test_exports_hold_what_the_list_holds_in_both_formats(board: Board, caller: str) -> None:
    listed = board.list(caller, sort="title").json()["records"]
    path = f"{board.table.records}/export"

    ndjson = board.as_(caller, "GET", path, params={"format": "ndjson", "sort": "title"})
    assert ndjson.status_code == 200, ndjson.text
    assert [orjson.loads(line) for line in ndjson.content.splitlines()] == listed

    exported = board.as_(caller, "GET", path, params={"format": "csv", "sort": "title"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["title"] for row in rows] == [r["title"] for r in listed]
    if caller in BOUND:
        assert "internal" not in rows[0]
        assert "internal" not in exported.text
    for row, record in zip(rows, listed, strict=True):
        assert row.get("secret", "") == (record.get("secret") or "")
    unseen = set(board.ids) - VIEWS[caller].keys()
    for title in unseen:
        assert title not in exported.text
        assert title not in ndjson.text


# --- writes --------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", BOUND)
def test_a_bound_caller_cannot_import(scratch: Board, caller: str) -> None:
    response = scratch.as_(
        caller,
        "POST",
        f"{scratch.table.records}/import",
        content=b"title,code\nImported,imp-1\n",
        headers={"Content-Type": "text/csv"},
    )
    error_of(response, 403)
    assert scratch.list("owner").json()["total"] == 4


def test_the_owner_imports_despite_the_rules(scratch: Board) -> None:
    response = scratch.as_(
        "owner",
        "POST",
        f"{scratch.table.records}/import",
        content=b"title,code\nImported,imp-1\n",
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.text
    assert scratch.list("owner").json()["total"] == 5


def changeable_and_not(board: Board, caller: str) -> tuple[str, str, str]:
    """Ids of a note the caller may change, one it finds but may not change, and one it
    does not find."""
    view = VIEWS[caller]
    own = next(t for t, how in view.items() if how == FULL)
    found = next(t for t, how in view.items() if how == PART)
    unfound = next(t for t in board.ids if t not in view)
    return board.ids[own], board.ids[found], board.ids[unfound]


@pytest.mark.parametrize("caller", BOUND_WRITERS)
def test_updates_and_deletes_are_403_on_notes_found_and_404_on_notes_not_found(
    scratch: Board, caller: str
) -> None:
    own, found, unfound = changeable_and_not(scratch, caller)
    before = {i: scratch.owners_view(i) for i in (found, unfound)}
    for method in ("PATCH", "PUT"):
        refused = scratch.as_(caller, method, scratch.record(found), json={"title": "Changed"})
        error_of(refused, 403)
        missing = scratch.as_(caller, method, scratch.record(unfound), json={"title": "Changed"})
        error_of(missing, 404)
    error_of(scratch.as_(caller, "DELETE", scratch.record(found)), 403)
    error_of(scratch.as_(caller, "DELETE", scratch.record(unfound)), 404)
    assert {i: scratch.owners_view(i) for i in (found, unfound)} == before

    changed = scratch.as_(caller, "PATCH", scratch.record(own), json={"secret": "new"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["secret"] == "new"
    assert scratch.as_(caller, "DELETE", scratch.record(own)).status_code == 204


def test_a_viewer_finds_but_changes_nothing(scratch: Board) -> None:
    found = scratch.ids["owner open"]
    error_of(scratch.as_("viewer", "PATCH", scratch.record(found), json={"title": "x"}), 403)
    error_of(scratch.as_("viewer", "POST", scratch.table.records, json={"title": "x"}), 403)
    assert scratch.list("owner").json()["total"] == 4


@pytest.mark.parametrize("caller", BOUND_WRITERS)
def test_batches_write_all_or_nothing_under_the_rules(scratch: Board, caller: str) -> None:
    own, found, unfound = changeable_and_not(scratch, caller)
    batch = f"{scratch.table.records}/batch"
    before = scratch.list("owner").json()["records"]

    for other, status in ((found, 403), (unfound, 404)):
        changes = [{"id": own, "title": "Batch"}, {"id": other, "title": "Batch"}]
        error_of(scratch.as_(caller, "PATCH", batch, json={"records": changes}), status)
        error_of(scratch.as_(caller, "DELETE", batch, json={"ids": [own, other]}), status)
    assert scratch.list("owner").json()["records"] == before

    made = scratch.as_(
        caller,
        "POST",
        batch,
        json={"records": [{"title": f"batch {n}", "code": f"{caller}-{n}"} for n in range(2)]},
    )
    assert made.status_code == 201, made.text
    assert {r["maker"] for r in made.json()["records"]} == {scratch.account_of(caller)}
    new_ids = [r["id"] for r in made.json()["records"]]
    changed = scratch.as_(
        caller, "PATCH", batch, json={"records": [{"id": i, "status": "open"} for i in new_ids]}
    )
    assert changed.status_code == 200, changed.text
    assert scratch.as_(caller, "DELETE", batch, json={"ids": new_ids}).status_code == 204


@pytest.mark.parametrize("caller", BOUND_WRITERS)
def test_an_upsert_changes_only_notes_the_caller_may_change(scratch: Board, caller: str) -> None:
    own, found, unfound = changeable_and_not(scratch, caller)
    codes = {i: scratch.owners_view(i)["code"] for i in (own, found, unfound)}

    def upsert(code: str) -> httpx.Response:
        return scratch.as_(
            caller,
            "PUT",
            scratch.table.records,
            params={"upsert_on": "code"},
            json={"code": code, "title": "Upserted"},
        )

    error_of(upsert(codes[found]), 403)
    error_of(upsert(codes[unfound]), 404)
    assert scratch.owners_view(found)["title"] != "Upserted"
    assert scratch.owners_view(unfound)["title"] != "Upserted"
    assert upsert(codes[own]).status_code == 200
    created = upsert(f"new-{secrets.token_hex(3)}")
    assert created.status_code == 201, created.text
    assert created.json()["maker"] == scratch.account_of(caller)


def test_a_batch_upsert_onto_a_note_not_found_is_404_like_the_single_one(board: Board) -> None:
    _, _, unfound = changeable_and_not(board, "editor")
    response = board.as_(
        "editor",
        "POST",
        f"{board.table.records}/batch",
        json={
            "records": [{"code": board.owners_view(unfound)["code"], "title": "x"}],
            "upsert_on": "code",
        },
    )
    error_of(response, 404)


@pytest.mark.parametrize("caller", BOUND_WRITERS)
def test_created_by_is_the_account_behind_the_credential_whatever_the_body_says(
    scratch: Board, caller: str
) -> None:
    someone_else = scratch.owner.account_id if caller == "editor" else scratch.editor.account_id
    created = scratch.as_(
        caller,
        "POST",
        scratch.table.records,
        json={"title": "Mine", "code": f"mine-{caller}", "maker": someone_else},
    )
    assert created.status_code == 201, created.text
    assert created.json()["maker"] == scratch.account_of(caller)
    assert scratch.owners_view(created.json()["id"])["maker"] == scratch.account_of(caller)
    # Nor can an update hand the note to someone else.
    record = scratch.record(created.json()["id"])
    scratch.as_(caller, "PATCH", record, json={"maker": someone_else})
    assert scratch.owners_view(created.json()["id"])["maker"] == scratch.account_of(caller)


def test_a_bound_caller_sees_and_restores_only_the_trash_it_made(scratch: Board) -> None:
    mine = scratch.ids["editor closed"]
    theirs = scratch.ids["owner closed"]
    assert scratch.as_("editor", "DELETE", scratch.record(mine)).status_code == 204
    assert scratch.as_("owner", "DELETE", scratch.record(theirs)).status_code == 204

    def trash(caller: str) -> list[dict[str, Any]]:
        """The caller's trash from this board's app (the module's other tests delete too)."""
        listed = scratch.as_(caller, "GET", "/api/trash")
        assert listed.status_code == 200, listed.text
        return [e for e in listed.json()["trash"] if e["app"] == scratch.table.app_slug]

    assert [e["record_id"] for e in trash("editor")] == [mine]
    everything = trash("owner")
    assert {e["record_id"] for e in everything} == {mine, theirs}
    their_entry = next(e["id"] for e in everything if e["record_id"] == theirs)
    my_entry = next(e["id"] for e in everything if e["record_id"] == mine)

    error_of(scratch.as_("editor", "POST", f"/api/trash/{their_entry}/restore"), 404)
    restored = scratch.as_("editor", "POST", f"/api/trash/{my_entry}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["record"]["id"] == mine
    assert scratch.as_("editor", "GET", scratch.record(mine)).status_code == 200
    assert scratch.as_("owner", "GET", scratch.record(theirs)).status_code == 404
