from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.identity.config import IdentitySettings


def test_settings_come_from_identity_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", "postgresql://db/identity")
    monkeypatch.setenv("IDENTITY_GRPC_HOST", "0.0.0.0")
    monkeypatch.setenv("IDENTITY_GRPC_PORT", "6001")
    monkeypatch.setenv("NATS_URL", "nats://nats:4222")

    settings = IdentitySettings()

    assert settings.database_url == "postgresql://db/identity"
    assert settings.grpc_address == "0.0.0.0:6001"
    assert settings.nats_url == "nats://nats:4222"
    assert settings.access_token_ttl_seconds == 3600
    assert settings.refresh_token_ttl_seconds == 7 * 24 * 3600
    assert settings.session_ttl_seconds == 14 * 24 * 3600
    assert settings.jwt_issuer == "tessera"
    assert settings.jwt_audience == "tessera-api"
    assert settings.refresh_reuse_grace_seconds == 10.0
    assert settings.signing_key_rotation_seconds == 30 * 24 * 3600
    assert settings.app_session_ttl_seconds == 24 * 3600
    assert settings.app_session_long_ttl_seconds == 365 * 24 * 3600


def test_database_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTITY_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError):
        IdentitySettings()
