"""The devstack's key material: made once, kept on later runs, private keys private."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.devstack.pki import Pki, ensure_pki

NAMES = ("gateway", "identity", "schema", "records", "workflows")


def files_of(pki: Pki) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(pki.directory.iterdir())}


def certificate(pki: Pki, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.cert_file(name).read_bytes())


def test_each_service_gets_a_certificate_of_the_ca_naming_it(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", NAMES)
    ca = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())

    for name in NAMES:
        cert = certificate(pki, name)
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        key = serialization.load_pem_private_key(pki.key_file(name).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        assert key.public_key() == cert.public_key()


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", NAMES)

    private = [pki.ca_key_file, pki.context_signing_key_file, *map(pki.key_file, NAMES)]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(pki.directory.stat().st_mode) == 0o700


def test_a_later_run_keeps_everything_and_a_new_service_is_one_more_name(
    tmp_path: Path,
) -> None:
    first = files_of(ensure_pki(tmp_path / "pki", NAMES))

    again = ensure_pki(tmp_path / "pki", NAMES)
    assert files_of(again) == first

    grown = ensure_pki(tmp_path / "pki", (*NAMES, "workflows"))
    after = files_of(grown)
    assert {name: after[name] for name in first} == first
    ca = x509.load_pem_x509_certificate(grown.ca_file.read_bytes())
    certificate(grown, "workflows").verify_directly_issued_by(ca)


def test_a_new_ca_reissues_every_certificate(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", NAMES)
    before = files_of(pki)

    pki.ca_key_file.unlink()
    ensure_pki(tmp_path / "pki", NAMES)

    after = files_of(pki)
    ca = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
    for name in NAMES:
        assert after[f"{name}.crt"] != before[f"{name}.crt"]
        certificate(pki, name).verify_directly_issued_by(ca)
    # The context key pair is not the CA's business: it stays.
    assert after["context-signing.key"] == before["context-signing.key"]
