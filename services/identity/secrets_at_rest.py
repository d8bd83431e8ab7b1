"""The secrets identity stores sealed (today the signing keys' private halves): the check
that the configured key-encryption key opens them all, run before serving, and the
resealing under the first listed key that `rotate-secret-key` runs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.errors import StoredSecretsUnreadable
from services.identity.repository import IdentityRepository
from services.identity.tokens import signing_key_context
from services.kit.secrets import SECRET_KEY_ENV, SecretBox, SecretUnreadable


async def check_stored_secrets(session: AsyncSession, box: SecretBox) -> int:
    """How many stored secrets there are; raises StoredSecretsUnreadable, saying what to
    do, when the box opens any of them not."""
    stored = await IdentityRepository(session).sealed_signing_keys()
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
    stored = await repo.sealed_signing_keys(for_update=True)
    _refuse_unreadable(stored, box)
    resealed = 0
    for kid, sealed in stored:
        if box.needs_resealing(sealed):
            fresh = box.reseal(sealed, context=signing_key_context(kid))
            await repo.reseal_signing_key(kid, replacing=sealed, sealed=fresh)
            resealed += 1
    return resealed


def _refuse_unreadable(stored: list[tuple[str, str]], box: SecretBox) -> None:
    problems: list[str] = []
    for kid, sealed in stored:
        try:
            box.open(sealed, context=signing_key_context(kid))
        except SecretUnreadable as error:
            problems.append(f"signing key {kid}: {error}")
    if problems:
        raise StoredSecretsUnreadable(
            f"{SECRET_KEY_ENV} opens {len(stored) - len(problems)} of the {len(stored)}"
            f" stored secrets ({'; '.join(problems[:3])}). Set the key they were sealed with."
            " To change keys, list the new key first and the old one after it, run"
            " `python -m services.identity rotate-secret-key`, then drop the old key"
        )
