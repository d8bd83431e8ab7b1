"""Single sign-on: each workspace's OpenID provider, the logins it runs, and the accounts
it signs in.

The gateway speaks to the provider; identity keeps what must outlive one request or be
shared by every gateway replica: the configuration (its client secret sealed), the state,
nonce and PKCE verifier of each login until its callback claims it (once, and only from the
browser that started it), the link from a provider's subject to an account, and the logout
tokens and SAML assertions already acted on.

An account is linked to a provider's subject once. A new subject whose email belongs to no
account gets an account made for it (with no password). An existing account is never
signed in by its email: its holder links it, proving its password, to a provider login
that names the same address. A workspace's owners decide which provider it trusts; when
that changes, every link and every single sign-on login into the workspace ends. A single
sign-on login opens its own workspace only, whatever other workspaces the account belongs
to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2
from tessera.identity.v1 import identity_pb2

from services.identity import audit, events, tables, validation
from services.identity.members import member_entry
from services.identity.models import Account, Membership, Workspace
from services.identity.repository import IdentityRepository
from services.identity.tokens import hash_secret
from services.kit.access import ROLE_RANK, ROLES, Kind, Principal
from services.kit.audit import Action, AuditEntry, Detail
from services.kit.clock import rfc3339, utcnow
from services.kit.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from services.kit.errors import ValidationFailed as Invalid
from services.kit.ids import new_id, new_secret
from services.kit.secrets import SecretBox

OIDC, SAML = "oidc", "saml"
PROTOCOLS = (OIDC, SAML)
OWNER = "owner"
# What a provider's groups may grant: owners are made in Tessera, never by a provider.
MAPPABLE_ROLES = tuple(role for role in ROLES if role != OWNER)
SESSION, TOKEN = "session", "token"
RESPONSES = (SESSION, TOKEN)
LOGIN_SECONDS = 600
DEFAULT_GROUPS_CLAIM = "groups"
MAX_URL = 2048
MAX_CLIENT_ID = 255
MAX_CLIENT_SECRET = 4096
MAX_DOMAINS = 50
MAX_GROUP_ROLES = 200
MAX_GROUP = 255
MAX_GROUPS = 1000
MAX_RETURN_TO = 2048
MAX_SUBJECT = 255
MAX_METADATA = 512 * 1024
MAX_ASSERTION_ID = 255
# How long a spent logout token or assertion is remembered: past any expiry a provider
# would set within reason, and never longer than a day.
SPENT_MIN_SECONDS = 600
SPENT_MAX_SECONDS = 24 * 3600
# Keycloak's realm names in practice; nothing that could change the issuer's path.
_REALM = re.compile(r"[A-Za-z0-9._-]{1,255}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CLAIM = re.compile(r"[A-Za-z0-9_:./-]{1,100}")


def client_secret_context(workspace_id: str) -> str:
    return f"sso_client_secret:{workspace_id}"


def _verifier_context(state_hash: str) -> str:
    return f"sso_code_verifier:{state_hash}"


class SsoNotConfigured(NotFound):
    default_message = "This workspace has no single sign-on"


class SsoLoginInvalid(Unauthenticated):
    default_message = (
        "This sign-in is unknown, has expired, was already used, or was started in another"
        " browser; start again"
    )


class SsoRequired(PermissionDenied):
    """A password login by a member of a workspace that enforces single sign-on."""

    def __init__(self, workspace_id: str, workspace_name: str) -> None:
        super().__init__(
            f"Workspace {workspace_name!r} signs its members in with single sign-on:"
            f" /auth/sso/{workspace_id}/login"
        )


class SsoRefused(PermissionDenied):
    """A verified provider identity this workspace does not let in. Raised by the servicer
    after the transaction that may have taken a role away has committed."""


@dataclass(frozen=True)
class SsoConfig:
    workspace_id: str
    protocol: str
    issuer: str
    keycloak_server_url: str
    keycloak_realm: str
    client_id: str
    # None for SAML.
    sealed_client_secret: str | None
    allowed_domains: list[str]
    group_roles: dict[str, str]
    groups_claim: str
    default_role: str
    enforce: bool
    break_glass_account_id: str
    created_at: datetime
    updated_at: datetime
    idp_metadata_xml: str
    email_attribute: str

    def to_proto(self) -> identity_pb2.SsoConfig:
        return identity_pb2.SsoConfig(
            workspace_id=self.workspace_id,
            protocol=self.protocol,
            issuer=self.issuer,
            keycloak_server_url=self.keycloak_server_url,
            keycloak_realm=self.keycloak_realm,
            client_id=self.client_id,
            client_secret_set=bool(self.sealed_client_secret),
            allowed_domains=self.allowed_domains,
            group_roles=self.group_roles,
            default_role=self.default_role,
            groups_claim=self.groups_claim,
            enforce=self.enforce,
            break_glass_account_id=self.break_glass_account_id,
            created_at=rfc3339(self.created_at),
            updated_at=rfc3339(self.updated_at),
            idp_metadata_xml=self.idp_metadata_xml,
            email_attribute=self.email_attribute,
        )

    @property
    def anchor(self) -> tuple[str, ...]:
        """What says which provider the workspace trusts."""
        return (
            self.protocol,
            self.issuer,
            self.keycloak_server_url,
            self.keycloak_realm,
            self.client_id,
            self.idp_metadata_xml,
        )

    def provider(self, box: SecretBox | None = None) -> identity_pb2.SsoProvider:
        """What the gateway needs to run a login; the secret only when `box` opens it."""
        secret = ""
        if box is not None and self.sealed_client_secret is not None:
            secret = box.open(
                self.sealed_client_secret, context=client_secret_context(self.workspace_id)
            ).decode()
        return identity_pb2.SsoProvider(
            workspace_id=self.workspace_id,
            issuer=self.issuer,
            client_id=self.client_id,
            client_secret=secret,
            groups_claim=self.groups_claim,
            protocol=self.protocol,
            idp_metadata_xml=self.idp_metadata_xml,
            email_attribute=self.email_attribute,
        )

    def role_for(self, groups: list[str]) -> str:
        """The highest role the groups map to; the default role for none; "" refuses."""
        mapped = [self.group_roles[g] for g in groups if g in self.group_roles]
        if not mapped:
            return self.default_role
        return max(mapped, key=ROLE_RANK.__getitem__)


@dataclass(frozen=True)
class CompletedLogin:
    account: Account
    membership: Membership | None
    provisioned: bool
    # Set when the provider's identity may not come in; the role it had is already gone.
    refusal: str = ""


# Validation


def _url(raw: str, field: str) -> str:
    url = raw.strip().rstrip("/")
    if not url or len(url) > MAX_URL or not url.isprintable():
        raise Invalid(f"{field} must be an http or https URL", field=field)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise Invalid(f"{field} must be an http or https URL", field=field) from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise Invalid(f"{field} must be an http or https URL", field=field)
    if parts.username is not None or parts.password is not None:
        raise Invalid(f"{field} must not carry credentials", field=field)
    if parts.query or parts.fragment:
        raise Invalid(f"{field} must have no query or fragment", field=field)
    return url


def _issuer(config: identity_pb2.SsoConfig) -> tuple[str, str, str]:
    """(issuer, keycloak server URL, realm): the issuer is given, or made from a Keycloak
    server and realm the way Keycloak makes it."""
    server, realm = config.keycloak_server_url.strip(), config.keycloak_realm.strip()
    if config.issuer.strip():
        if server or realm:
            raise Invalid(
                "Give either issuer or keycloak_server_url and keycloak_realm, not both",
                field="issuer",
            )
        return _url(config.issuer, "issuer"), "", ""
    if not server or not realm:
        raise Invalid(
            "Give the issuer, or a Keycloak server URL and realm", field="keycloak_server_url"
        )
    server = _url(server, "keycloak_server_url")
    if not _REALM.fullmatch(realm):
        raise Invalid(
            "keycloak_realm is letters, digits, '.', '_' and '-' (at most 255)",
            field="keycloak_realm",
        )
    return f"{server}/realms/{realm}", server, realm


# Mail services anyone can have an address at: no workspace speaks for their users.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
    }
)


def _domains(raw: list[str]) -> list[str]:
    domains = sorted({d.strip().lower().rstrip(".") for d in raw})
    if not domains:
        raise Invalid("Name at least one email domain", field="allowed_domains")
    if len(domains) > MAX_DOMAINS:
        raise Invalid(f"At most {MAX_DOMAINS} email domains", field="allowed_domains")
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise Invalid(f"{domain[:100]!r} is not a domain name", field="allowed_domains")
        if domain in PUBLIC_MAIL_DOMAINS:
            raise Invalid(
                f"{domain} is a public mail service: no workspace's provider speaks for it",
                field="allowed_domains",
            )
    return domains


def _group_roles(raw: dict[str, str]) -> dict[str, str]:
    if len(raw) > MAX_GROUP_ROLES:
        raise Invalid(f"At most {MAX_GROUP_ROLES} group mappings", field="group_roles")
    for group, role in raw.items():
        if not group or len(group) > MAX_GROUP or not group.isprintable():
            raise Invalid(f"A group is 1 to {MAX_GROUP} printable characters", field="group_roles")
        if role not in MAPPABLE_ROLES:
            raise Invalid(
                f"A group maps to one of: {', '.join(MAPPABLE_ROLES)}", field="group_roles"
            )
    return dict(raw)


def _client_id(raw: str) -> str:
    client_id = raw.strip()
    if not client_id or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise Invalid(f"client_id is 1 to {MAX_CLIENT_ID} printable characters", field="client_id")
    return client_id


def _client_secret(raw: str) -> str:
    if not raw or len(raw) > MAX_CLIENT_SECRET or not raw.isprintable():
        raise Invalid(
            f"client_secret is 1 to {MAX_CLIENT_SECRET} printable characters",
            field="client_secret",
        )
    return raw


def _return_to(raw: str) -> str:
    """A path on this site: never another origin, so the login cannot be an open redirect."""
    if not raw:
        return "/"
    if (
        len(raw) > MAX_RETURN_TO
        or not raw.startswith("/")
        or raw.startswith("//")
        or "\\" in raw
        or not raw.isprintable()
    ):
        raise Invalid("next must be a path on this site, like /apps", field="next")
    return raw


# Storage


def _config_of(row: Any, domains: list[str]) -> SsoConfig:
    return SsoConfig(
        workspace_id=row.tenant_id,
        protocol=row.protocol,
        issuer=row.issuer,
        keycloak_server_url=row.keycloak_server_url or "",
        keycloak_realm=row.keycloak_realm or "",
        client_id=row.client_id,
        sealed_client_secret=row.sealed_client_secret,
        allowed_domains=domains,
        group_roles=dict(row.group_roles),
        groups_claim=row.groups_claim,
        default_role=row.default_role,
        enforce=row.enforce,
        break_glass_account_id=row.break_glass_account_id or "",
        created_at=row.created_at,
        updated_at=row.updated_at,
        idp_metadata_xml=row.idp_metadata_xml or "",
        email_attribute=row.email_attribute,
    )


async def _stored_config(
    session: AsyncSession, workspace_id: str, *, for_update: bool = False
) -> SsoConfig | None:
    c, d = tables.sso_configs, tables.sso_domains
    query = select(c).where(c.c.tenant_id == workspace_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        return None
    domains = (
        await session.scalars(
            select(d.c.domain).where(d.c.tenant_id == workspace_id).order_by(d.c.domain)
        )
    ).all()
    return _config_of(row, list(domains))


async def _workspace_of(session: AsyncSession, workspace: str) -> tuple[str, str] | None:
    """(id, name) of the workspace named by id or slug."""
    w = tables.workspaces
    row = (
        await session.execute(
            select(w.c.id, w.c.name).where((w.c.id == workspace) | (w.c.slug == workspace))
        )
    ).first()
    return (row.id, row.name) if row is not None else None


# The configuration


async def get_config(session: AsyncSession, ctx: common_pb2.RequestContext) -> SsoConfig:
    found = await _stored_config(session, Principal.of(ctx).tenant_id)
    if found is None:
        raise SsoNotConfigured()
    return found


async def put_config(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    given: identity_pb2.SsoConfig,
    client_secret: str | None,
    box: SecretBox,
) -> SsoConfig:
    caller = Principal.of(ctx)
    workspace_id = caller.tenant_id
    protocol = given.protocol or OIDC
    if protocol not in PROTOCOLS:
        raise Invalid(f"protocol must be one of: {', '.join(PROTOCOLS)}", field="protocol")
    existing = await _stored_config(session, workspace_id, for_update=True)
    if given.enforce or (existing is not None and existing.enforce):
        _owners_only(caller, "turns enforced single sign-on on, or changes it")
    if protocol == SAML:
        issuer, server, realm, client_id = _saml_issuer(given), "", "", ""
        sealed = None
    else:
        issuer, server, realm = _issuer(given)
        client_id = _client_id(given.client_id)
        sealed = _sealed_secret(workspace_id, client_secret, existing, box)
    metadata = given.idp_metadata_xml if protocol == SAML else ""
    email_attribute = given.email_attribute.strip() if protocol == SAML else ""
    if len(email_attribute) > MAX_GROUP or not email_attribute.isprintable():
        raise Invalid("email_attribute is an attribute name", field="email_attribute")
    domains = _domains(list(given.allowed_domains))
    group_roles = _group_roles(dict(given.group_roles))
    if given.default_role not in ("", *MAPPABLE_ROLES):
        raise Invalid(
            f"default_role is empty (no role: refused) or one of: {', '.join(MAPPABLE_ROLES)}",
            field="default_role",
        )
    groups_claim = given.groups_claim or DEFAULT_GROUPS_CLAIM
    if not _CLAIM.fullmatch(groups_claim):
        raise Invalid("groups_claim is a claim name", field="groups_claim")
    break_glass = await _break_glass(session, caller, given)
    now = utcnow()
    values = {
        "protocol": protocol,
        "issuer": issuer,
        "keycloak_server_url": server or None,
        "keycloak_realm": realm or None,
        "client_id": client_id,
        "sealed_client_secret": sealed,
        "group_roles": group_roles,
        "groups_claim": groups_claim,
        "default_role": given.default_role,
        "enforce": given.enforce,
        "break_glass_account_id": break_glass or None,
        "updated_at": now,
        "idp_metadata_xml": metadata or None,
        "email_attribute": email_attribute,
    }
    anchor = (protocol, issuer, server, realm, client_id, metadata)
    if existing is None or existing.anchor != anchor:
        # Whoever names the provider decides who signs in as the members it links.
        _owners_only(caller, "sets the provider a workspace trusts")
    if existing is not None and existing.anchor != anchor:
        # Another provider: nobody it did not link signs in through what it says.
        await end_sso_logins_of(session, workspace_id, now)
    c = tables.sso_configs
    row = (
        await session.execute(
            insert(c)
            .values(tenant_id=workspace_id, created_at=now, **values)
            .on_conflict_do_update(index_elements=[c.c.tenant_id], set_=values)
            .returning(c)
        )
    ).one()
    await _claim_domains(session, workspace_id, domains)
    stored = _config_of(row, domains)
    was = (existing.enforce, existing.break_glass_account_id) if existing else (False, "")
    if was != (stored.enforce, stored.break_glass_account_id):
        await events.record(session, events.sso_enforcement_changed(workspace_id))
    details: dict[str, Detail] = {
        "issuer": issuer[:200],
        "enforce": given.enforce,
        "client_secret_changed": client_secret is not None,
    }
    entry = AuditEntry.by(
        ctx,
        Action.SSO_CONFIGURED,
        target_type="workspace",
        target_id=workspace_id,
        details=details,
    )
    await audit.record(session, workspace_id, entry)
    return stored


def _owners_only(caller: Principal, what: str) -> None:
    """The provider a workspace trusts decides who signs in as its linked members, owners
    included, and enforcement closes the workspace to every owner's password but one:
    owners decide those; admins may change the rest (domains, the group mapping)."""
    if caller.role != OWNER:
        raise PermissionDenied(f"Only an owner {what}")


async def end_sso_logins_of(session: AsyncSession, workspace_id: str, now: datetime) -> None:
    """Every single sign-on login into the workspace ends (sessions and refresh tokens, at
    every gateway within a second) and every link to a provider's subject goes."""
    repo = IdentityRepository(session)
    accounts = await repo.end_sso_logins(workspace_id, subject="", sid="", now=now)
    for account_id in accounts:
        await events.record(
            session,
            events.credential_revoked(workspace_id, kind=events.ONE_SESSION, account_id=account_id),
        )
    i = tables.sso_identities
    await session.execute(delete(i).where(i.c.tenant_id == workspace_id))


def _sealed_secret(
    workspace_id: str, client_secret: str | None, existing: SsoConfig | None, box: SecretBox
) -> str:
    if client_secret is not None:
        return box.seal(_client_secret(client_secret), context=client_secret_context(workspace_id))
    if existing is not None and existing.sealed_client_secret is not None:
        return existing.sealed_client_secret
    raise Invalid("client_secret is required", field="client_secret")


def _saml_issuer(given: identity_pb2.SsoConfig) -> str:
    """The identity provider's entity id, which the gateway read off its metadata."""
    if not given.idp_metadata_xml or len(given.idp_metadata_xml.encode()) > MAX_METADATA:
        raise Invalid(
            f"idp_metadata_xml is the identity provider's metadata, at most {MAX_METADATA} bytes",
            field="idp_metadata_xml",
        )
    entity_id = given.issuer.strip()
    if not entity_id or len(entity_id) > MAX_URL or not entity_id.isprintable():
        raise Invalid("The metadata names no identity provider", field="idp_metadata_xml")
    return entity_id


async def _break_glass(
    session: AsyncSession, caller: Principal, given: identity_pb2.SsoConfig
) -> str:
    """With enforcement on, one owner who may still log in with a password: the one named,
    or the calling owner."""
    if not given.enforce and not given.break_glass_account_id:
        return ""
    chosen = given.break_glass_account_id or (caller.id if caller.role == OWNER else "")
    if not chosen:
        raise Invalid(
            "Enforcing single sign-on needs a break-glass owner: name one in"
            " break_glass_account_id",
            field="break_glass_account_id",
        )
    member = await IdentityRepository(session).member(caller.tenant_id, chosen)
    if member is None or member.role != OWNER:
        raise Invalid(
            "The break-glass account must be an owner of this workspace",
            field="break_glass_account_id",
        )
    return chosen


async def _claim_domains(session: AsyncSession, workspace_id: str, domains: list[str]) -> None:
    d = tables.sso_domains
    await session.execute(
        delete(d).where(d.c.tenant_id == workspace_id, d.c.domain.not_in(domains))
    )
    claimed = (
        await session.scalars(
            insert(d)
            .values([{"domain": domain, "tenant_id": workspace_id} for domain in domains])
            .on_conflict_do_nothing(index_elements=[d.c.domain])
            .returning(d.c.domain)
        )
    ).all()
    ours = set(
        (await session.scalars(select(d.c.domain).where(d.c.tenant_id == workspace_id))).all()
    )
    taken = [domain for domain in domains if domain not in ours and domain not in claimed]
    if taken:
        raise Conflict(
            f"Another workspace's single sign-on already handles {taken[0]}",
            field="allowed_domains",
        )


async def delete_config(session: AsyncSession, ctx: common_pb2.RequestContext) -> None:
    caller = Principal.of(ctx)
    workspace_id = caller.tenant_id
    _owners_only(caller, "removes the workspace's single sign-on")
    c = tables.sso_configs
    enforced = await session.scalar(
        delete(c).where(c.c.tenant_id == workspace_id).returning(c.c.enforce)
    )
    if enforced is None:
        raise SsoNotConfigured()
    await end_sso_logins_of(session, workspace_id, utcnow())
    if enforced:
        await events.record(session, events.sso_enforcement_changed(workspace_id))
    removed = AuditEntry.by(
        ctx, Action.SSO_REMOVED, target_type="workspace", target_id=workspace_id
    )
    await audit.record(session, workspace_id, removed)


async def provider_of(session: AsyncSession, workspace_id: str) -> SsoConfig:
    found = await _stored_config(session, workspace_id)
    if found is None:
        raise SsoNotConfigured()
    return found


# Discovery and enforcement


async def discover(session: AsyncSession, email: str) -> identity_pb2.DiscoveredSso:
    """Spans tenants: a domain names at most one workspace."""
    address = validation.normalize_email(email)
    if not validation.is_valid_email(address):
        raise Invalid("Enter a valid email address", field="email")
    domain = address.rpartition("@")[2]
    d, c, w = tables.sso_domains, tables.sso_configs, tables.workspaces
    row = (
        await session.execute(
            select(w.c.id, w.c.name, c.c.enforce)
            .join(c, c.c.tenant_id == w.c.id)
            .join(d, d.c.tenant_id == w.c.id)
            .where(d.c.domain == domain)
        )
    ).first()
    if row is None:
        return identity_pb2.DiscoveredSso()
    return identity_pb2.DiscoveredSso(
        workspace_id=row.id, workspace_name=row.name, enforce=row.enforce
    )


async def enforced_for(session: AsyncSession, account_id: str) -> set[str]:
    """Spans tenants: the account's workspaces that enforce single sign-on on it (it is
    not their break-glass owner). A password login does not open them."""
    m, c = tables.memberships, tables.sso_configs
    found = await session.scalars(
        select(c.c.tenant_id)
        .join(m, and_(m.c.tenant_id == c.c.tenant_id, m.c.account_id == account_id))
        .where(
            c.c.enforce.is_(True),
            c.c.break_glass_account_id.is_distinct_from(account_id),
        )
    )
    return set(found)


async def refuse_if_enforced(session: AsyncSession, account_id: str) -> None:
    """Spans tenants: a password login that would open no workspace, since every workspace
    of the account enforces single sign-on on it, is refused, naming where to sign in.
    An account with a workspace of its own that does not enforce it still logs in; the
    enforcing workspaces stay closed to that login (see ListMemberships), so a workspace
    that adds someone and turns enforcement on cannot lock them out of everything else."""
    m, w = tables.memberships, tables.workspaces
    enforced = await enforced_for(session, account_id)
    if not enforced:
        return
    others = await session.scalar(
        select(func.count())
        .select_from(m)
        .where(m.c.account_id == account_id, m.c.tenant_id.not_in(enforced))
    )
    if others:
        return
    row = (
        await session.execute(
            select(w.c.id, w.c.name).where(w.c.id.in_(enforced)).order_by(w.c.id).limit(1)
        )
    ).one()
    raise SsoRequired(row.id, row.name)


# A login, from start to finish


async def start_login(
    session: AsyncSession,
    request: identity_pb2.StartSsoLoginRequest,
    box: SecretBox,
    *,
    link_account_id: str = "",
) -> identity_pb2.StartedSsoLogin:
    """Spans tenants until the workspace is known by its id or slug."""
    if request.response not in RESPONSES:
        raise Invalid("response is 'session' or 'token'", field="response")
    return_to = _return_to(request.return_to)
    workspace = await _workspace_of(session, request.workspace) if request.workspace else None
    config = await _stored_config(session, workspace[0]) if workspace else None
    if workspace is None or config is None:
        raise SsoNotConfigured()
    state, nonce, verifier, binding = (new_secret() for _ in range(4))
    state_hash = hash_secret(state)
    now = utcnow()
    await session.execute(
        insert(tables.sso_logins).values(
            state_hash=state_hash,
            tenant_id=config.workspace_id,
            binding_hash=hash_secret(binding),
            nonce=nonce,
            sealed_code_verifier=box.seal(verifier, context=_verifier_context(state_hash)),
            response=request.response,
            return_to=return_to,
            created_at=now,
            expires_at=now + timedelta(seconds=LOGIN_SECONDS),
            link_account_id=link_account_id or None,
        )
    )
    return identity_pb2.StartedSsoLogin(
        workspace_id=config.workspace_id,
        issuer=config.issuer,
        client_id=config.client_id,
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        binding=binding,
        expires_in=LOGIN_SECONDS,
        protocol=config.protocol,
        idp_metadata_xml=config.idp_metadata_xml,
    )


async def claim_login(
    session: AsyncSession, request: identity_pb2.ClaimSsoLoginRequest, box: SecretBox
) -> identity_pb2.ClaimedSsoLogin:
    """Spans tenants: the state is all the callback knows. A login is claimed once; a
    callback replayed, late, or from another browser finds nothing."""
    if not request.state or not request.binding:
        raise SsoLoginInvalid()
    state_hash = hash_secret(request.state)
    s = tables.sso_logins
    row = (
        await session.execute(
            update(s)
            .where(
                s.c.state_hash == state_hash,
                s.c.claimed_at.is_(None),
                s.c.expires_at > func.now(),
                s.c.binding_hash == hash_secret(request.binding),
            )
            .values(claimed_at=func.now())
            .returning(s)
        )
    ).first()
    if row is None:
        raise SsoLoginInvalid()
    config = await _stored_config(session, row.tenant_id)
    if config is None:
        raise SsoNotConfigured()
    return identity_pb2.ClaimedSsoLogin(
        provider=config.provider(box),
        nonce=row.nonce,
        code_verifier=box.open(
            row.sealed_code_verifier, context=_verifier_context(state_hash)
        ).decode(),
        response=row.response,
        return_to=row.return_to,
        link_account_id=row.link_account_id or "",
    )


async def complete_login(
    session: AsyncSession, request: identity_pb2.CompleteSsoLoginRequest
) -> CompletedLogin:
    """In the workspace. Finds or makes the account, and sets its role from the groups."""
    workspace_id = request.workspace_id
    config = await _stored_config(session, workspace_id)
    if config is None or config.issuer != request.issuer:
        raise SsoNotConfigured()
    subject = request.subject
    if not subject or len(subject) > MAX_SUBJECT or not subject.isprintable():
        raise SsoRefused("The provider's ID token names no usable subject")
    email = validation.normalize_email(request.email)
    if not validation.is_valid_email(email):
        raise SsoRefused("The provider's ID token carries no valid email address")
    if not request.email_verified:
        raise SsoRefused("The provider has not verified this email address")
    if email.rpartition("@")[2] not in config.allowed_domains:
        raise SsoRefused(
            f"Addresses at {email.rpartition('@')[2][:100]} are not signed in by this"
            " workspace's provider"
        )
    if request.assertion_id and not await spend_token(
        session, workspace_id, _assertion_key(request.assertion_id), request.assertion_expires_at
    ):
        raise SsoLoginInvalid("This SAML assertion was used already")
    repo = IdentityRepository(session)
    now = utcnow()
    account, provisioned = await _account_for(session, repo, config, request, email, now)
    role = config.role_for(list(request.groups)[:MAX_GROUPS])
    member = await repo.member(workspace_id, account.id, for_update=True)
    ctx = _acting(request.ctx, workspace_id, account.id)
    if member is not None and member.role == OWNER:
        membership = Membership(workspace=await _workspace(repo, workspace_id), role=OWNER)
    elif not role:
        if member is not None:
            await repo.remove_member(workspace_id, account.id)
            await events.record(session, events.member_removed(workspace_id, account.id))
            removed = member_entry(
                ctx, Action.MEMBER_REMOVED, account.id, {"role": member.role, "by": "sso"}
            )
            await audit.record(session, workspace_id, removed)
        return CompletedLogin(
            account=account,
            membership=None,
            provisioned=provisioned,
            refusal="Your groups at the identity provider give you no role in this workspace",
        )
    elif member is None:
        if not await repo.insert_member(
            workspace_id=workspace_id, account_id=account.id, role=role, now=now
        ):
            raise Conflict("This sign-in raced another one of the same person; sign in again")
        await events.record(session, events.member_added(workspace_id, account.id, role))
        added = member_entry(ctx, Action.MEMBER_ADDED, account.id, {"role": role, "by": "sso"})
        await audit.record(session, workspace_id, added)
        membership = Membership(workspace=await _workspace(repo, workspace_id), role=role)
    else:
        if role != member.role:
            await repo.set_role(workspace_id, account.id, role)
            await events.record(
                session, events.member_role_changed(workspace_id, account.id, role, member.role)
            )
            changed = member_entry(
                ctx,
                Action.MEMBER_ROLE_CHANGED,
                account.id,
                {"role": role, "previous_role": member.role, "by": "sso"},
            )
            await audit.record(session, workspace_id, changed)
        membership = Membership(workspace=await _workspace(repo, workspace_id), role=role)
    return CompletedLogin(account=account, membership=membership, provisioned=provisioned)


async def _account_for(
    session: AsyncSession,
    repo: IdentityRepository,
    config: SsoConfig,
    request: identity_pb2.CompleteSsoLoginRequest,
    email: str,
    now: datetime,
) -> tuple[Account, bool]:
    i = tables.sso_identities
    linked = await session.scalar(
        update(i)
        .where(
            i.c.tenant_id == config.workspace_id,
            i.c.issuer == config.issuer,
            i.c.subject == request.subject,
        )
        .values(last_login_at=now)
        .returning(i.c.account_id)
    )
    if linked is not None:
        if request.link_account_id and linked != request.link_account_id:
            raise Conflict("This provider's identity is linked to another account already")
        account = await repo.account(linked)
        assert account is not None
        return account, False
    provisioned = False
    if request.link_account_id:
        # The account's holder proved its password, and the provider names the same
        # address: the same person.
        account = await repo.account(request.link_account_id)
        if account is None:
            raise SsoLoginInvalid()
        if account.email != email:
            raise SsoRefused(
                "The identity provider signed in another address than this account's:"
                " only an account's own address links it"
            )
    else:
        account = await repo.account_by_email(email)
        if account is not None:
            raise Conflict(
                "An account with this email address exists already: its holder signs in"
                " to it and links it to this provider (POST"
                f" /auth/sso/{config.workspace_id}/link) before signing in here"
            )
        name = (request.name.strip() or email.partition("@")[0])[: validation.NAME_MAX]
        account = await repo.insert_account(
            account_id=new_id("acc"),
            name=name if name.isprintable() and name else email.partition("@")[0],
            email=email,
            password_hash=UNUSABLE_PASSWORD,
            now=now,
        )
        if account is None:
            raise Conflict("An account with this email address was just created; sign in again")
        provisioned = True
        await events.record(session, events.account_created(config.workspace_id, account))
    inserted = await session.scalar(
        insert(i)
        .values(
            tenant_id=config.workspace_id,
            issuer=config.issuer,
            subject=request.subject,
            account_id=account.id,
            created_at=now,
            last_login_at=now,
        )
        .on_conflict_do_nothing()
        .returning(i.c.account_id)
    )
    if inserted is None:
        # Two first logins of one person at once: the other linked it.
        raise Conflict("This sign-in raced another one of the same person; sign in again")
    return account, provisioned


def _assertion_key(assertion_id: str) -> str:
    """Where a spent SAML assertion is kept beside spent logout tokens."""
    if len(assertion_id) > MAX_ASSERTION_ID or not assertion_id.isprintable():
        raise SsoRefused("The SAML assertion's id is not usable")
    return f"saml:{assertion_id}"


# Never a valid argon2 hash: a password login of an account made by single sign-on fails.
UNUSABLE_PASSWORD = "!sso"  # noqa: S105


async def _workspace(repo: IdentityRepository, workspace_id: str) -> Workspace:
    found = await repo.workspace(workspace_id)
    assert found is not None
    return found


def _acting(
    origin: common_pb2.RequestContext, workspace_id: str, account_id: str
) -> common_pb2.RequestContext:
    ctx = common_pb2.RequestContext()
    ctx.CopyFrom(origin)
    ctx.tenant_id, ctx.account_id, ctx.principal_id = workspace_id, account_id, account_id
    ctx.principal_kind = Kind.USER
    return ctx


# Back-channel logout


async def spend_token(
    session: AsyncSession, workspace_id: str, token_id: str, expires_at: int
) -> bool:
    """False when the token (a logout token's jti, a SAML assertion's id) was acted on
    already. It is kept until it expires, at least SPENT_MIN_SECONDS and at most
    SPENT_MAX_SECONDS from now, whatever the token says."""
    now = utcnow()
    kept = min(
        max(expires_at, int(now.timestamp()) + SPENT_MIN_SECONDS),
        int(now.timestamp()) + SPENT_MAX_SECONDS,
    )
    if not token_id or len(token_id) > MAX_SUBJECT or not token_id.isprintable():
        return False
    t = tables.sso_spent_tokens
    spent = await session.scalar(
        insert(t)
        .values(
            tenant_id=workspace_id,
            token_id=token_id,
            expires_at=datetime.fromtimestamp(kept, tz=now.tzinfo),
        )
        .on_conflict_do_nothing()
        .returning(t.c.token_id)
    )
    return spent is not None


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    s, t = tables.sso_logins, tables.sso_spent_tokens
    await session.execute(delete(s).where(s.c.expires_at < now))
    await session.execute(delete(t).where(t.c.expires_at < now))
