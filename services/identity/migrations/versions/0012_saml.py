"""SAML single sign-on: the identity provider's metadata and the email attribute; SAML
providers have no client secret.

Revision ID: 0012_saml
Revises: 0011_single_sign_on
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_saml"
down_revision: str | None = "0011_single_sign_on"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sso_configs", sa.Column("idp_metadata_xml", sa.Text()))
    op.add_column(
        "sso_configs",
        sa.Column("email_attribute", sa.Text(), nullable=False, server_default=""),
    )
    op.alter_column("sso_configs", "sealed_client_secret", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM sso_configs WHERE sealed_client_secret IS NULL")
    op.alter_column("sso_configs", "sealed_client_secret", nullable=False)
    op.drop_column("sso_configs", "email_attribute")
    op.drop_column("sso_configs", "idp_metadata_xml")
