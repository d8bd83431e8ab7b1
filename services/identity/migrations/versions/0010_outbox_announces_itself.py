"""The outbox announces its new rows to the relays itself (a statement-level trigger),
instead of every write sending NOTIFY on its own.

Revision ID: 0010_outbox_announces_itself
Revises: 0009_row_level_security
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from services.kit.migrations import announce_outbox_inserts, stop_announcing_outbox_inserts

revision: str = "0010_outbox_announces_itself"
down_revision: str | None = "0009_row_level_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    announce_outbox_inserts()


def downgrade() -> None:
    stop_announcing_outbox_inserts()
