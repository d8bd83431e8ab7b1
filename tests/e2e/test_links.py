"""Link fields: join tables between schemas of one app, read as {"id", "display"}, filtered
with has_any/has_all/has_none, expanded inline, and unlinked when a target goes."""

from __future__ import annotations

from typing import Any

import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema, records_path
from tests.support.db import scalar
from tests.support.records import physical_names
from tests.support.wait import eventually


class Crm:
    def __init__(self, tenant: Tenant, app: str) -> None:
        self.tenant = tenant
        self.app = app
        self.companies = records_path(app, "companies")
        self.people = records_path(app, "people")

    def company(self, name: str) -> str:
        response = self.tenant.post(self.companies, json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def person(self, name: str, **links: Any) -> dict[str, Any]:
        response = self.tenant.post(self.people, json={"name": name, **links})
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def crm(tenant: Tenant) -> Crm:
    app = create_app(tenant)["slug"]
    create_schema(
        tenant,
        app,
        name="Companies",
        slug="companies",
        fields=[
            {"slug": "name", "type": "text", "primary": True},
            {"slug": "city", "type": "text"},
        ],
    )
    people = create_schema(
        tenant,
        app,
        name="People",
        slug="people",
        fields=[
            {"slug": "name", "type": "text"},
            {"slug": "employers", "type": "link", "target": "companies"},
            {"slug": "main", "type": "link", "target": "companies", "single": True},
        ],
    )
    employers = next(f for f in people["fields"] if f["slug"] == "employers")
    assert (employers["target"], employers["single"]) == ("companies", False)
    return Crm(tenant, app)


def test_links_are_written_as_ids_and_read_with_the_display_value(crm: Crm) -> None:
    acme, globex = crm.company("Acme"), crm.company("Globex")
    ada = crm.person("Ada", employers=[globex, acme], main=acme)
    assert ada["employers"] == [
        {"id": globex, "display": "Globex"},
        {"id": acme, "display": "Acme"},
    ]
    assert ada["main"] == [{"id": acme, "display": "Acme"}]
    assert crm.tenant.get(f"{crm.people}/{ada['id']}").json() == ada

    changed = crm.tenant.patch(f"{crm.people}/{ada['id']}", json={"employers": [acme]})
    assert changed.status_code == 200
    assert changed.json()["employers"] == [{"id": acme, "display": "Acme"}]
    assert changed.json()["version"] == 2
    cleared = crm.tenant.patch(f"{crm.people}/{ada['id']}", json={"employers": None})
    assert cleared.json()["employers"] == []


@pytest.mark.parametrize(
    "links",
    [
        {"employers": ["rec_nope"]},
        {"employers": "not a list"},
        {"employers": [1]},
        {"main": ["a", "b"]},
    ],
)
def test_bad_links_are_400_and_write_nothing(crm: Crm, links: dict[str, Any]) -> None:
    response = crm.tenant.post(crm.people, json={"name": "X", **links})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] in links
    assert crm.tenant.get(crm.people).json()["total"] == 0


def test_link_filters_and_expand(crm: Crm) -> None:
    acme, globex, initech = crm.company("Acme"), crm.company("Globex"), crm.company("Initech")
    crm.person("Ada", employers=[acme, globex])
    crm.person("Bob", employers=[acme])
    crm.person("Cy")

    def names(**params: str) -> list[str]:
        response = crm.tenant.get(crm.people, params={"sort": "name", **params})
        assert response.status_code == 200, response.text
        return [r["name"] for r in response.json()["records"]]

    assert names(**{"filter[employers][has_any]": f"{globex},{initech}"}) == ["Ada"]
    assert names(**{"filter[employers][has_all]": f"{acme},{globex}"}) == ["Ada"]
    assert names(**{"filter[employers][has_none]": globex}) == ["Bob", "Cy"]
    assert names(**{"filter[employers][empty]": ""}) == ["Cy"]
    assert names(**{"filter[employers][nempty]": ""}) == ["Ada", "Bob"]
    bad = crm.tenant.get(crm.people, params={"filter[employers][gt]": acme})
    assert bad.status_code == 400

    expanded = crm.tenant.get(crm.people, params={"sort": "name", "expand": "employers"})
    ada = expanded.json()["records"][0]
    assert [c["name"] for c in ada["employers"]] == ["Acme", "Globex"]
    assert set(ada["employers"][0]) >= {"id", "name", "city", "version"}
    one = crm.tenant.get(f"{crm.people}/{ada['id']}", params={"expand": "employers"})
    assert one.json()["employers"] == ada["employers"]
    assert crm.tenant.get(crm.people, params={"expand": "name"}).status_code == 400


def test_deleting_a_target_removes_its_links(stack: Stack, crm: Crm) -> None:
    acme, globex = crm.company("Acme"), crm.company("Globex")
    ada = crm.person("Ada", employers=[acme, globex])
    assert crm.tenant.delete(f"{crm.companies}/{acme}").status_code == 204
    assert crm.tenant.get(f"{crm.people}/{ada['id']}").json()["employers"] == [
        {"id": globex, "display": "Globex"}
    ]
    # And deleting the record removes its own links.
    assert crm.tenant.delete(f"{crm.people}/{ada['id']}").status_code == 204
    app_id, _ = physical_names(stack, crm.tenant, crm.app, "people")
    people = crm.tenant.get(f"/api/apps/{crm.app}/schemas/people").json()
    assert people["fields"][1]["slug"] == "employers"
    link_rows = scalar(
        stack.databases["records"].admin_url,
        "SELECT count(*) FROM link_tables WHERE app_id = %s",
        app_id,
    )
    assert link_rows == 2


def test_a_link_needs_a_target_of_the_same_app(tenant: Tenant, crm: Crm) -> None:
    path = f"/api/apps/{crm.app}/schemas/people/fields"
    missing = tenant.post(path, json={"slug": "boss", "type": "link"})
    assert missing.status_code == 400
    elsewhere = tenant.post(path, json={"slug": "boss", "type": "link", "target": "nowhere"})
    assert elsewhere.status_code == 400
    self_link = tenant.post(path, json={"slug": "boss", "type": "link", "target": "people"})
    assert self_link.status_code == 201, self_link.text
    ada = crm.person("Ada")
    bob = crm.person("Bob", boss=[ada["id"]])
    assert bob["boss"] == [{"id": ada["id"], "display": "Ada"}]
    retyped = tenant.patch(f"{path}/boss", json={"type": "text"})
    assert retyped.status_code == 400


def test_deleting_a_link_field_drops_its_table(stack: Stack, crm: Crm) -> None:
    acme = crm.company("Acme")
    crm.person("Ada", employers=[acme])
    deleted = crm.tenant.delete(f"/api/apps/{crm.app}/schemas/people/fields/employers")
    assert deleted.status_code == 200
    # The records service learns of the change from the schema service's event.
    eventually(lambda: "employers" not in crm.tenant.get(crm.people).json()["records"][0])
