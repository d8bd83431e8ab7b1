"""The key material behind service identity, made on the first run and reused afterwards:
a private CA with one key and certificate per service (the service's name in the subject
alternative name and common name), the Ed25519 key pair the gateway signs request
contexts with (the services get only its public half), and the pair the workflows service
signs the contexts of the callers its runs act for with (records gets its public half).

In a cluster the same files come from Secrets; here they live under the data directory,
private keys readable by their owner only.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GATEWAY = "gateway"
# Acts for callers with a context key of its own (services.kit.grpc.trust.DELEGATES) ...
DELEGATE = "workflows"
# ... towards these services only.
DELEGATED_TO = ("records",)

CA_LIFETIME = datetime.timedelta(days=3650)
CERTIFICATE_LIFETIME = datetime.timedelta(days=365)
# A certificate this close to its end is replaced on the next start.
RENEW_BEFORE = datetime.timedelta(days=30)
# Clocks of the machines in a cluster differ a little.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Pki:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca.key"

    def cert_file(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key_file(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    @property
    def context_signing_key_file(self) -> Path:
        return self.directory / "context-signing.key"

    @property
    def context_verify_key_file(self) -> Path:
        return self.directory / "context-signing.pub"

    @property
    def delegated_signing_key_file(self) -> Path:
        return self.directory / f"{DELEGATE}-context-signing.key"

    @property
    def delegated_verify_key_file(self) -> Path:
        return self.directory / f"{DELEGATE}-context-signing.pub"

    def env_for(self, name: str) -> dict[str, str]:
        """The variables a service process reads its identity from: its own certificate
        and key, the CA, the gateway's context key (private for the gateway, public for
        everyone else), and the delegate's (private for it, public where it calls)."""
        env = {
            "TESSERA_TLS_CA_FILE": str(self.ca_file),
            "TESSERA_TLS_CERT_FILE": str(self.cert_file(name)),
            "TESSERA_TLS_KEY_FILE": str(self.key_file(name)),
        }
        if name == GATEWAY:
            env["TESSERA_CONTEXT_SIGNING_KEY_FILE"] = str(self.context_signing_key_file)
        else:
            env["TESSERA_CONTEXT_VERIFY_KEY_FILE"] = str(self.context_verify_key_file)
        if name == DELEGATE:
            env["TESSERA_CONTEXT_SIGNING_KEY_FILE"] = str(self.delegated_signing_key_file)
        if name in DELEGATED_TO:
            env["TESSERA_DELEGATED_CONTEXT_VERIFY_KEY_FILE"] = str(self.delegated_verify_key_file)
        return env

    def channel_credentials(self, name: str) -> grpc.ChannelCredentials:
        """TLS credentials of a client presenting `name`'s certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file(name).read_bytes(),
            certificate_chain=self.cert_file(name).read_bytes(),
        )


def ensure_pki(directory: Path, names: Iterable[str]) -> Pki:
    """The CA, a certificate for each of `names` (every process taking part in gRPC, the
    gateway included) and the context key pair under `directory`: what is there and still
    good is kept, the rest is made."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_cert = _load_ca(pki, now)
    if ca_cert is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, now)
        _write_private(pki.ca_key_file, _private_pem(ca_key))
        _write_public(pki.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
    assert ca_key is not None
    for name in names:
        if not _still_good(pki, name, ca_cert, now):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _service_certificate(name, key.public_key(), ca_key, ca_cert, now)
            _write_private(pki.key_file(name), _private_pem(key))
            _write_public(pki.cert_file(name), cert.public_bytes(serialization.Encoding.PEM))
    _ensure_context_key(pki.context_signing_key_file, pki.context_verify_key_file)
    _ensure_context_key(pki.delegated_signing_key_file, pki.delegated_verify_key_file)
    return pki


def _ensure_context_key(private: Path, public: Path) -> None:
    if private.exists() and public.exists():
        return
    signing_key = ed25519.Ed25519PrivateKey.generate()
    _write_private(private, _private_pem(signing_key))
    _write_public(
        public,
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _load_ca(
    pki: Pki, now: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey | None, x509.Certificate | None]:
    if not (pki.ca_file.exists() and pki.ca_key_file.exists()):
        return None, None
    cert = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc - now < (
        RENEW_BEFORE
    ):
        return None, None
    return key, cert


def _still_good(pki: Pki, name: str, ca_cert: x509.Certificate, now: datetime.datetime) -> bool:
    """Whether `name` has a key and a certificate the current CA issued that is not about
    to expire (a new CA means new certificates for everyone)."""
    if not (pki.cert_file(name).exists() and pki.key_file(name).exists()):
        return False
    cert = x509.load_pem_x509_certificate(pki.cert_file(name).read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return cert.not_valid_after_utc - now >= RENEW_BEFORE


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tessera service CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _service_certificate(
    name: str,
    public_key: ec.EllipticCurvePublicKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
) -> x509.Certificate:
    # Each service is a server to its callers and a client of the services it calls.
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _private_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    _write(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write(path, data, 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written beside and renamed into place, so a reader never sees half a key and a
    private key is never readable by others, not even for a moment."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)
