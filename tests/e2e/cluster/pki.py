"""Certificates for the test clusters: one ECDSA P-256 CA per cluster, leaves issued from it, kubeconfigs."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class IssuedCert:
    """A certificate + key written as PEM files (signed by a cluster's CA)."""

    cert_path: Path
    key_path: Path
    cert_pem: bytes
    key_pem: bytes


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class CertificateAuthority:
    """A throw-away CA (2 days) that issues 1-day leaves into ``directory``."""

    def __init__(self, directory: Path, common_name: str) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_pem = self._cert.public_bytes(serialization.Encoding.PEM)
        self.cert_path = write(directory / "ca.crt", self.cert_pem)
        self.key_path = write(directory / "ca.key", key_pem(self._key), private=True)

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
        directory: Path | None = None,
        stem: str | None = None,
    ) -> IssuedCert:
        """Issue a leaf and write ``<stem>.crt``/``<stem>.key`` (default stem: the common name, made file-safe)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert_pem = builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        out = directory or self.directory
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or common_name.replace("/", "_").replace(":", "_")
        return IssuedCert(
            cert_path=write(out / f"{stem}.crt", cert_pem),
            key_path=write(out / f"{stem}.key", key_pem(key), private=True),
            cert_pem=cert_pem,
            key_pem=key_pem(key),
        )

    def service_account_keys(self) -> tuple[Path, Path]:
        """An ES256 ServiceAccount token signing pair: (sa.key, sa.pub)."""
        sa_key = ec.generate_private_key(ec.SECP256R1())
        public = sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return (
            write(self.directory / "sa.key", key_pem(sa_key), private=True),
            write(self.directory / "sa.pub", public),
        )


def write_kubeconfig(path: Path, *, server: str, ca: CertificateAuthority, user: IssuedCert, name: str) -> Path:
    """A kubeconfig with everything embedded, for one user of one cluster (context ``name``)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem)}}],
        "users": [
            {
                "name": name,
                "user": {"client-certificate-data": b64(user.cert_pem), "client-key-data": b64(user.key_pem)},
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
