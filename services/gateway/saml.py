"""The service provider's side of SAML 2.0, through pysaml2 (signatures by the system's
xmlsec1): the identity provider's metadata read, an AuthnRequest sent by HTTP-Redirect, and
the signed assertion that comes back by HTTP-POST checked.

Tessera is one service provider per workspace: its entity id is the workspace's metadata
URL, so each workspace's identity provider registers it on its own. What pysaml2 is told
to require: a signed assertion (a signed response alone does not do), the audience being
this workspace's entity id, the recipient and destination being Tessera's assertion
consumer service, an InResponseTo naming the request this login sent (no unsolicited
responses), and timestamps within a few seconds of clock skew. Each assertion is accepted
once: identity keeps the ids of those spent until they expire.

pysaml2 is synchronous and runs xmlsec1 as a program: the work goes to a thread."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.kit.errors import (
    ServiceUnavailable,
    Unauthenticated,
    UpstreamFailed,
    ValidationFailed,
)

if TYPE_CHECKING:
    from saml2.client import Saml2Client

log = logging.getLogger(__name__)
# pysaml2 logs every refusal at ERROR, with its traceback: the refusal is the client's
# answer, and one line of ours (below) says why.
logging.getLogger("saml2").setLevel(logging.CRITICAL)

SAML = "saml"
# SAML's own names for the bindings and name id formats (pysaml2 has them too, but it is
# loaded only once a workspace uses SAML: it costs a gateway ~30 MB).
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_FORMAT_EMAILADDRESS = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_FORMAT_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
MAX_METADATA_BYTES = 512 * 1024
# The attributes an email address arrives under, by default, besides an emailAddress NameID.
EMAIL_ATTRIBUTES = (
    "email",
    "mail",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "urn:oid:1.2.840.113549.1.9.1",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)
NAME_ATTRIBUTES = (
    "name",
    "displayName",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)
CONFIG_CACHE_SIZE = 256


class SamlRejected(Unauthenticated):
    default_message = "The identity provider's SAML response is not valid"


@dataclass(frozen=True)
class IdentityProviderMetadata:
    entity_id: str
    sso_url: str


@dataclass(frozen=True)
class SamlAssertion:
    subject: str
    email: str
    name: str
    groups: list[str]
    session_index: str
    assertion_id: str
    # Seconds since the epoch until which the assertion could be presented.
    expires_at: int


def request_id(nonce: str) -> str:
    """The AuthnRequest's ID for a login's nonce: an xsd:ID starts with a letter or "_"."""
    return f"_{nonce}"


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise ServiceUnavailable(
            "SAML needs the xmlsec1 program on the gateway's machine (Debian: xmlsec1)",
            retry_after=3600,
        )
    return found


def read_metadata(xml: str) -> IdentityProviderMetadata:
    """The one identity provider the metadata describes, with a redirect binding sign-on
    endpoint and a signing certificate; ValidationFailed otherwise."""
    if not xml.strip() or len(xml.encode()) > MAX_METADATA_BYTES:
        raise ValidationFailed(
            f"idp_metadata_xml is the provider's SAML metadata, at most {MAX_METADATA_BYTES} bytes",
            field="idp_metadata_xml",
        )
    from saml2.mdstore import MetadataStore

    store = MetadataStore(None, None)
    try:
        store.load("inline", xml)
    except Exception as error:  # pysaml2 raises what its XML parser raises
        raise ValidationFailed(
            f"idp_metadata_xml is not SAML metadata: {str(error)[:200]}",
            field="idp_metadata_xml",
        ) from None
    providers = list(store.identity_providers())
    if len(providers) != 1:
        raise ValidationFailed(
            "idp_metadata_xml must describe exactly one identity provider",
            field="idp_metadata_xml",
        )
    entity_id = providers[0]
    try:
        endpoints = store.single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT)
    except Exception:
        endpoints = []
    if not endpoints:
        raise ValidationFailed(
            "The identity provider offers no HTTP-Redirect sign-on endpoint",
            field="idp_metadata_xml",
        )
    location = str(endpoints[0].get("location", ""))
    if not location.startswith(("https://", "http://")):
        raise ValidationFailed(
            "The identity provider's sign-on endpoint is not a web address",
            field="idp_metadata_xml",
        )
    if not store.certs(entity_id, "idpsso", "signing"):
        raise ValidationFailed(
            "The identity provider's metadata has no signing certificate",
            field="idp_metadata_xml",
        )
    return IdentityProviderMetadata(entity_id=entity_id, sso_url=location)


class SamlServiceProviders:
    """One pysaml2 client per workspace and metadata, kept while they are used."""

    def __init__(self, *, leeway_seconds: int) -> None:
        self.leeway_seconds = leeway_seconds
        self._clients: dict[tuple[str, str, str], Saml2Client] = {}

    def _client(self, sp_entity_id: str, acs_url: str, idp_metadata_xml: str) -> Saml2Client:
        try:
            return self._load_client(sp_entity_id, acs_url, idp_metadata_xml)
        except Exception as error:  # pysaml2 refuses metadata past its validUntil, and more
            raise UpstreamFailed(
                "The identity provider's metadata can no longer be used"
                f" ({type(error).__name__}); save its current metadata"
            ) from None

    def _load_client(self, sp_entity_id: str, acs_url: str, idp_metadata_xml: str) -> Saml2Client:
        key = (sp_entity_id, acs_url, hashlib.sha256(idp_metadata_xml.encode()).hexdigest())
        held = self._clients.get(key)
        if held is not None:
            return held
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

        config = SPConfig()
        config.load(
            {
                "entityid": sp_entity_id,
                "service": {
                    "sp": {
                        "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                        "want_assertions_signed": True,
                        "want_response_signed": False,
                        "authn_requests_signed": False,
                        "allow_unsolicited": False,
                        "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                    }
                },
                "metadata": {"inline": [idp_metadata_xml]} if idp_metadata_xml else {},
                "xmlsec_binary": xmlsec_binary(),
                "accepted_time_diff": self.leeway_seconds,
            }
        )
        held = Saml2Client(config)
        if len(self._clients) >= CONFIG_CACHE_SIZE:
            self._clients.clear()
        self._clients[key] = held
        return held

    async def metadata(self, sp_entity_id: str, acs_url: str) -> str:
        """Tessera's service provider metadata for one workspace."""

        def build() -> str:
            client = self._client(sp_entity_id, acs_url, "")
            from saml2.metadata import create_metadata_string

            return create_metadata_string(None, client.config, valid=24 * 365).decode()

        return await asyncio.to_thread(build)

    async def login_url(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        idp_metadata_xml: str,
        request_id: str,
        relay_state: str,
    ) -> str:
        def build() -> str:
            client = self._client(sp_entity_id, acs_url, idp_metadata_xml)
            idp = read_metadata(idp_metadata_xml)
            _, info = client.prepare_for_authenticate(
                entityid=idp.entity_id,
                relay_state=relay_state,
                binding=BINDING_HTTP_REDIRECT,
                message_id=request_id,
            )
            return str(dict(info["headers"])["Location"])

        return await asyncio.to_thread(build)

    async def verify(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        idp_metadata_xml: str,
        saml_response: str,
        request_id: str,
        email_attribute: str,
        groups_attribute: str,
    ) -> SamlAssertion:
        def check() -> SamlAssertion:
            client = self._client(sp_entity_id, acs_url, idp_metadata_xml)
            try:
                parsed = client.parse_authn_request_response(
                    saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
                )
            except Exception as error:  # pysaml2 says what failed by its exception's type
                reason = f"{type(error).__name__}: {str(error)[:200]}"
                log.info("SAML response refused: %s", reason)
                raise SamlRejected(
                    f"The identity provider's SAML response is refused ({reason})"
                ) from None
            if parsed is None or parsed.assertion is None:
                raise SamlRejected()
            return _facts(parsed, email_attribute, groups_attribute)

        return await asyncio.to_thread(check)


def _epoch(moment: str) -> int:
    try:
        parsed = datetime.strptime(moment[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(parsed.timestamp())


def _attributes(assertion: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [v.text.strip() for v in attribute.attribute_value or [] if v.text]
            for name in (attribute.name, attribute.friendly_name):
                if name:
                    found.setdefault(name, []).extend(values)
    return found


def _facts(parsed: Any, email_attribute: str, groups_attribute: str) -> SamlAssertion:
    assertion = parsed.assertion
    attributes = _attributes(assertion)
    name_id = assertion.subject.name_id if assertion.subject else None
    subject = (name_id.text or "").strip() if name_id is not None else ""
    email = ""
    for name in (email_attribute, *EMAIL_ATTRIBUTES) if email_attribute else EMAIL_ATTRIBUTES:
        if attributes.get(name):
            email = attributes[name][0]
            break
    if not email and name_id is not None and name_id.format == NAMEID_FORMAT_EMAILADDRESS:
        email = subject
    display = next((attributes[n][0] for n in NAME_ATTRIBUTES if attributes.get(n)), "")
    session_index = ""
    for statement in assertion.authn_statement or []:
        session_index = statement.session_index or session_index
    # Until the last moment any part of it could still be presented.
    moments = []
    if assertion.conditions is not None:
        moments.append(assertion.conditions.not_on_or_after)
    for confirmation in assertion.subject.subject_confirmation if assertion.subject else []:
        data = confirmation.subject_confirmation_data
        if data is not None:
            moments.append(data.not_on_or_after)
    expires_at = max((_epoch(m) for m in moments if m), default=0)
    if not assertion.id:
        raise SamlRejected("The SAML assertion carries no ID")
    return SamlAssertion(
        subject=subject,
        email=email,
        name=display,
        groups=attributes.get(groups_attribute, []),
        session_index=session_index,
        assertion_id=assertion.id or "",
        expires_at=expires_at,
    )
