from __future__ import annotations

import httpx


def test_healthz_answers_while_the_process_lives(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_every_backing_service_and_nats(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "identity": True,
        "schema": True,
        "records": True,
        "workflows": True,
        "nats": True,
    }


def test_unknown_api_route_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/api/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_a_json_405(client: httpx.Client) -> None:
    response = client.delete("/api/workspaces/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
