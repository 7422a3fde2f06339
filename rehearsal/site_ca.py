"""The rehearsal's site CA: one CA per rehearsed site, one certificate per service host.

A real site brings its own CA certificate and host certificates and keys
(`facility.network.tls` in the model names the CA file and the vaulted
variables). A rehearsal has neither, so `qpusite up` makes them once under
``inventories/<site>/.rehearsal/tls/`` (git-ignored, removed by `down`) and
keeps them: a second run must see the same certificates, or it would not be a
no-op. A host certificate is issued again only when it no longer matches the
model (names, address), no longer verifies against the CA, or is about to expire.

Keys are written 0600 from their first byte; the directory is 0700.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from site_survey.derive import tls as derive_tls
from site_survey.model import Site

CA_DAYS = 3650
HOST_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class HostIdentity:
    """What a service host's certificate must name: short name, FQDN, model address."""

    name: str
    dns_names: tuple[str, ...]
    address: str


@dataclass
class IssuedTls:
    ca_certificate: Path
    # vaulted variable name -> PEM text (host certificates and keys), for the rehearsal's secrets file
    secrets: dict[str, str] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)  # hosts whose certificate was (re)issued this run
    ca_created: bool = False


def service_hosts(site: Site) -> list[HostIdentity]:
    """The hosts that serve the QPU access path over TLS (qrmid, emulators), as the rollout derives them."""
    domain = site.facility.network.domain
    out = []
    for name in derive_tls(site)["hosts"]:
        host = site.host(name)
        assert host is not None
        dns = (host.name, f"{host.name}.{domain}") if domain else (host.name,)
        out.append(HostIdentity(host.name, dns, host.address))
    return out


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    path.chmod(0o600)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _make_ca(site_name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qpusite rehearsal"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"qpusite rehearsal CA for {site_name}"),
        ]
    )
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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


def _san(identity: HostIdentity) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [*(x509.DNSName(n) for n in identity.dns_names), x509.IPAddress(ipaddress.ip_address(identity.address))]
    )


def _issue(
    identity: HostIdentity, key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.dns_names[-1])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=HOST_DAYS))
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
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(identity), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _still_good(
    cert: x509.Certificate | None, key: ec.EllipticCurvePrivateKey | None, identity: HostIdentity, ca: x509.Certificate
) -> bool:
    if cert is None or key is None:
        return False
    if _spki(cert.public_key()) != _spki(key.public_key()):
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return san == _san(identity)


def ensure_site_ca(tls_dir: Path, site: Site) -> IssuedTls:
    """The site CA and one certificate per service host under `tls_dir`, made or renewed as needed."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    tls_dir.chmod(0o700)
    out = IssuedTls(tls_dir / "ca.crt")
    ca_key_path = tls_dir / "ca.key"
    ca_key = _load_key(ca_key_path)
    ca = _load_cert(out.ca_certificate)
    if (
        ca_key is None
        or ca is None
        or _spki(ca.public_key()) != _spki(ca_key.public_key())
        or ca.not_valid_after_utc - _now() < RENEW_BEFORE
    ):
        ca_key = _new_key()
        ca = _make_ca(site.site.name, ca_key)
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_public(out.ca_certificate, ca.public_bytes(serialization.Encoding.PEM))
        out.ca_created = True
    ca_key_path.chmod(0o600)
    refs = derive_tls(site)["hosts"]
    for identity in service_hosts(site):
        cert_path, key_path = tls_dir / f"{identity.name}.crt", tls_dir / f"{identity.name}.key"
        key, cert = _load_key(key_path), _load_cert(cert_path)
        if out.ca_created or not _still_good(cert, key, identity, ca):
            key = key or _new_key()
            cert = _issue(identity, key, ca, ca_key)
            _write_private(key_path, _key_pem(key))
            _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
            out.issued.append(identity.name)
        key_path.chmod(0o600)
        out.secrets[refs[identity.name]["certificate"]] = cert_path.read_text(encoding="ascii")
        out.secrets[refs[identity.name]["key"]] = key_path.read_text(encoding="ascii")
    return out
