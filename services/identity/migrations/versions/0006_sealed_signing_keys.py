"""Signing keys' private halves are stored sealed with the key-encryption key
(TESSERA_SECRET_KEY), never in the clear: existing keys are sealed in place.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kit.secrets import SecretBox, SecretKeySettings, secret_box

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _context(kid: str) -> str:
    # What the service binds a sealed key to (tokens.signing_key_context), written out
    # here so this migration keeps meaning what it meant when it ran.
    return f"signing_keys:{kid}"


def _box(purpose: str) -> SecretBox:
    return secret_box(SecretKeySettings().secret_key, needed_for=purpose)


def upgrade() -> None:
    op.add_column("signing_keys", sa.Column("sealed_private_key", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT kid, private_key_pem FROM signing_keys")).all()
    if rows:
        box = _box("the stored signing keys are sealed with it")
        for kid, private_key_pem in rows:
            connection.execute(
                sa.text("UPDATE signing_keys SET sealed_private_key = :sealed WHERE kid = :kid"),
                {"sealed": box.seal(private_key_pem, context=_context(kid)), "kid": kid},
            )
    op.alter_column("signing_keys", "sealed_private_key", nullable=False)
    op.drop_column("signing_keys", "private_key_pem")


def downgrade() -> None:
    op.add_column("signing_keys", sa.Column("private_key_pem", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT kid, sealed_private_key FROM signing_keys")).all()
    if rows:
        box = _box("the stored signing keys are opened with it")
        for kid, sealed in rows:
            connection.execute(
                sa.text("UPDATE signing_keys SET private_key_pem = :pem WHERE kid = :kid"),
                {"pem": box.open(sealed, context=_context(kid)).decode("ascii"), "kid": kid},
            )
    op.alter_column("signing_keys", "private_key_pem", nullable=False)
    op.drop_column("signing_keys", "sealed_private_key")
