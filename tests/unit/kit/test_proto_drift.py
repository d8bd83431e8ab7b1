from __future__ import annotations

from pathlib import Path

from services.devstack.protogen import stale_files

PROTO_ROOT = Path(__file__).resolve().parents[3] / "proto"


def test_generated_stubs_match_the_proto_files() -> None:
    assert stale_files(PROTO_ROOT) == [], "run `make proto` and commit the result"
