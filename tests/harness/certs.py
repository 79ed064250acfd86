"""Test certificates, made fresh for each test run (never committed): a CA,
a server certificate for 127.0.0.1, and client certificates with chosen SANs."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: Path
    key: Path


def _key():
    return ec.generate_private_key(ec.SECP256R1())


# The usages x509.KeyUsage takes, each a required argument.
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*granted: str) -> x509.KeyUsage:
    """A KeyUsage that grants exactly these usages."""
    assert set(granted) <= set(_KEY_USAGES), granted
    return x509.KeyUsage(**{usage: usage in granted for usage in _KEY_USAGES})


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key, *, ca: bool) -> x509.CertificateBuilder:
    """What every test certificate has: a fresh serial, valid from five
    minutes ago (clock skew) for a day, and whether it is a CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def _write(path: Path, cert: x509.Certificate, key) -> Issued:
    path.parent.mkdir(parents=True, exist_ok=True)
    cert_path = path.with_suffix(".pem")
    key_path = path.with_name(path.name + "-key.pem")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Issued(cert_path, key_path)


class TestCA:
    """A certificate authority that lives in one folder."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: Path, name: str = "elasticache-authz-proxy test CA"):
        self.folder = folder
        self.key = _key()
        subject = _name(name)
        self.cert = (
            _builder(subject, subject, self.key, ca=True)
            .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.issued = _write(folder / "ca", self.cert, self.key)

    @property
    def pem(self) -> Path:
        return self.issued.cert

    def _issue(self, file_name: str, common_name: str, sans: list[x509.GeneralName], usage) -> Issued:
        key = _key()
        cert = (
            _builder(_name(common_name), self.cert.subject, key, ca=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return _write(self.folder / file_name, cert, key)

    def server(self) -> Issued:
        return self._issue(
            "server",
            "127.0.0.1",
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
            ExtendedKeyUsageOID.SERVER_AUTH,
        )

    def client(self, file_name: str, *, uri: str | None = None, dns: str | None = None) -> Issued:
        sans: list[x509.GeneralName] = []
        if uri:
            sans.append(x509.UniformResourceIdentifier(uri))
        if dns:
            sans.append(x509.DNSName(dns))
        return self._issue(file_name, file_name, sans, ExtendedKeyUsageOID.CLIENT_AUTH)
