"""A single sign-on login may be started by a signed-in account to link the provider's
identity to it.

Revision ID: 0013_sso_links
Revises: 0012_saml
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_sso_links"
down_revision: str | None = "0012_saml"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sso_logins",
        sa.Column("link_account_id", sa.Text(), sa.ForeignKey("accounts.id", ondelete="CASCADE")),
    )


def downgrade() -> None:
    op.drop_column("sso_logins", "link_account_id")
