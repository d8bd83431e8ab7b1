"""The secrets identity stores sealed (the signing keys' private halves and the workspaces'
single sign-on client secrets): the check that the configured key-encryption key opens
them all, run before serving, and the resealing under the first listed key that
`rotate-secret-key` runs. Both span tenants: client secrets are the workspaces'."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import tables
from services.identity.errors import StoredSecretsUnreadable
from services.identity.repository import IdentityRepository
from services.identity.sso import client_secret_context
from services.identity.tokens import signing_key_context
from services.kit.secrets import SECRET_KEY_ENV, SecretBox, SecretUnreadable

SIGNING_KEY, CLIENT_SECRET = "signing key", "single sign-on client secret of workspace"


@dataclass(frozen=True)
class StoredSecret:
    kind: str
    # The signing key's kid, or the workspace's id.
    key: str
    sealed: str

    @property
    def context(self) -> str:
        if self.kind == SIGNING_KEY:
            return signing_key_context(self.key)
        return client_secret_context(self.key)


async def check_stored_secrets(session: AsyncSession, box: SecretBox) -> int:
    """How many stored secrets there are; raises StoredSecretsUnreadable, saying what to
    do, when the box opens any of them not."""
    stored = await _stored_secrets(session)
    _refuse_unreadable(stored, box)
    return len(stored)


async def reseal_stored_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Seals every stored secret not yet sealed with the first key with it; how many.
    Safe while identity serves: the rows are rewritten in one transaction, and every
    replica running with both keys opens either sealing. Nothing changes when any secret
    cannot be opened."""
    repo = IdentityRepository(session)
    # Signing-key rotation takes the same lock; it inserts keys sealed with whatever key
    # its replica seals with.
    await repo.lock_signing_keys()
    stored = await _stored_secrets(session, for_update=True)
    _refuse_unreadable(stored, box)
    resealed = 0
    for secret in stored:
        if box.needs_resealing(secret.sealed):
            fresh = box.reseal(secret.sealed, context=secret.context)
            await _replace(session, secret, fresh)
            resealed += 1
    return resealed


async def _stored_secrets(session: AsyncSession, *, for_update: bool = False) -> list[StoredSecret]:
    keys = await IdentityRepository(session).sealed_signing_keys(for_update=for_update)
    found = [StoredSecret(SIGNING_KEY, kid, sealed) for kid, sealed in keys]
    c = tables.sso_configs
    statement = select(c.c.tenant_id, c.c.sealed_client_secret).order_by(c.c.tenant_id)
    if for_update:
        statement = statement.with_for_update()
    for row in (await session.execute(statement)).all():
        if row.sealed_client_secret is not None:
            found.append(StoredSecret(CLIENT_SECRET, row.tenant_id, row.sealed_client_secret))
    return found


async def _replace(session: AsyncSession, secret: StoredSecret, fresh: str) -> None:
    if secret.kind == SIGNING_KEY:
        repo = IdentityRepository(session)
        await repo.reseal_signing_key(secret.key, replacing=secret.sealed, sealed=fresh)
        return
    c = tables.sso_configs
    await session.execute(
        update(c)
        .where(c.c.tenant_id == secret.key, c.c.sealed_client_secret == secret.sealed)
        .values(sealed_client_secret=fresh)
    )


def _refuse_unreadable(stored: list[StoredSecret], box: SecretBox) -> None:
    problems: list[str] = []
    for secret in stored:
        try:
            box.open(secret.sealed, context=secret.context)
        except SecretUnreadable as error:
            problems.append(f"{secret.kind} {secret.key}: {error}")
    if problems:
        raise StoredSecretsUnreadable(
            f"{SECRET_KEY_ENV} opens {len(stored) - len(problems)} of the {len(stored)}"
            f" stored secrets ({'; '.join(problems[:3])}). Set the key they were sealed with."
            " To change keys, list the new key first and the old one after it, run"
            " `python -m services.identity rotate-secret-key`, then drop the old key"
        )
