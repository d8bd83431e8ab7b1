"""Session fixtures shared by integration and e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.infra import Infra, start_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with start_infra() as running:
        yield running
