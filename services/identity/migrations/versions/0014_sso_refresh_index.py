"""Back-channel logouts and a change of provider find a workspace's single sign-on
refresh tokens by index, as they find its sessions.

Revision ID: 0014_sso_refresh_index
Revises: 0013_sso_links
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_sso_refresh_index"
down_revision: str | None = "0013_sso_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_refresh_tokens_workspace_id_sso_subject",
        "refresh_tokens",
        ["workspace_id", "sso_subject"],
    )


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_workspace_id_sso_subject", "refresh_tokens")
