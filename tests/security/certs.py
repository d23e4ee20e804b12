"""Test certificates made with `cryptography`: a CA, a broker certificate for
127.0.0.1/localhost and a client certificate, as PEM files (and a PKCS12 key store)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

CLIENT_SUBJECT = "CN=client,OU=eng,O=acme"


@dataclass
class Certs:
    ca: Path  # CA certificate (PEM): the truststore
    broker_keystore: Path  # broker key + chain in one PEM file (KIP-651)
    broker_p12: Path  # the same as PKCS12, password "p12-secret"
    broker_key: str  # inline PEM, for ssl.keystore.key
    broker_chain: str  # inline PEM, for ssl.keystore.certificate.chain
    client_cert: Path
    client_key: Path
    broker_encrypted: Path  # key encrypted with "key-secret" (ssl.key.password) + chain
    ca_p12: Path  # the CA as a PKCS12 trust store, password "p12-secret"
    client_keystore: Path  # client key + certificate in one PEM file (Java's PEM key store)
    client_p12: Path  # the client key + certificate as PKCS12, password "p12-secret"


def _name(**parts: str) -> x509.Name:
    oids = {
        "CN": NameOID.COMMON_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "O": NameOID.ORGANIZATION_NAME,
    }
    # The DER sequence runs from O to CN: RFC 2253 writes it CN first.
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in reversed(parts.items())])


def _cert(subject, issuer, key, signer, *, ca=False, san=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_certs(directory: Path, ca_cn: str = "test-ca") -> Certs:
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(CN=ca_cn, O="acme")
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker = _cert(
        _name(CN="localhost", O="acme"),
        ca_name,
        broker_key,
        ca_key,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert(_name(CN="client", OU="eng", O="acme"), ca_name, client_key, ca_key)
    directory.mkdir(parents=True, exist_ok=True)
    chain = broker.public_bytes(pem) + ca.public_bytes(pem)
    paths = {
        name: directory / name
        for name in ("ca.pem", "broker.pem", "broker.p12", "client.pem", "client.key")
    }
    paths["ca.pem"].write_bytes(ca.public_bytes(pem))
    paths["broker.pem"].write_bytes(_pem_key(broker_key) + chain)
    paths["broker.p12"].write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker",
            broker_key,
            broker,
            [ca],
            serialization.BestAvailableEncryption(b"p12-secret"),
        )
    )
    encrypted = broker_key.private_bytes(
        pem,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-secret"),
    )
    (directory / "broker-encrypted.pem").write_bytes(encrypted + chain)
    (directory / "ca.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [ca], serialization.BestAvailableEncryption(b"p12-secret")
        )
    )
    paths["client.pem"].write_bytes(client.public_bytes(pem))
    paths["client.key"].write_bytes(_pem_key(client_key))
    (directory / "client-keystore.pem").write_bytes(
        _pem_key(client_key) + client.public_bytes(pem) + ca.public_bytes(pem)
    )
    (directory / "client.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client",
            client_key,
            client,
            [ca],
            serialization.BestAvailableEncryption(b"p12-secret"),
        )
    )
    return Certs(
        ca=paths["ca.pem"],
        broker_keystore=paths["broker.pem"],
        broker_p12=paths["broker.p12"],
        broker_key=_pem_key(broker_key).decode(),
        broker_chain=chain.decode(),
        client_cert=paths["client.pem"],
        client_key=paths["client.key"],
        broker_encrypted=directory / "broker-encrypted.pem",
        ca_p12=directory / "ca.p12",
        client_keystore=directory / "client-keystore.pem",
        client_p12=directory / "client.p12",
    )


def make_key_store(path: Path, cn: str, *dns_names: str) -> Path:
    """A self-signed key store (key and certificate, PEM) with subject CN=<cn>,O=acme and
    these DNS names as SANs: a renewal that changes what the broker's certificate names."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(CN=cn, O="acme")
    san = [x509.DNSName(name) for name in dns_names]
    certificate = _cert(subject, subject, key, key, san=san or None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_pem_key(key) + certificate.public_bytes(serialization.Encoding.PEM))
    return path
