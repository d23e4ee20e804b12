"""TLS for SSL and SASL_SSL listeners, from Kafka's ssl.* keys (per listener under
listener.name.<l>.): an `ssl.SSLContext` that trio.SSLStream wraps each connection in,
and the client certificate's principal (`User:` + its subject DN as Kafka writes it,
RFC 2253, after `ssl.principal.mapping.rules`).

Key stores: PEM (KIP-651: `ssl.keystore.location` holding the key and the chain, or
inline `ssl.keystore.key` / `ssl.keystore.certificate.chain`; `ssl.key.password` for
an encrypted key) and PKCS12 (read with `cryptography`). Trust stores: PEM (file or
inline `ssl.truststore.certificates`) and PKCS12. JKS is Java's own format: not read.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka_compat.config import ConfigError
from kafka_compat.security.listeners import listener_config

if TYPE_CHECKING:
    from cryptography import x509

_VERSIONS = {
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def server_context(config: Any, listener: str, sasl: bool = False) -> ssl.SSLContext:
    """The listener's server-side SSLContext (`sasl`: a SASL_SSL listener); ConfigError
    naming the key if its stores cannot be read."""
    return listener_tls(config, listener, sasl)[0]


def listener_tls(
    config: Any, listener: str, sasl: bool = False
) -> tuple[ssl.SSLContext, x509.Certificate]:
    """server_context and the certificate of its key store (the chain's first)."""

    def get(key: str) -> Any:
        return listener_config(config, listener, key)

    prefix = f"listener.name.{listener.lower()}."
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate = _load_key_store(context, get, prefix)
    load_trust_store(context, get, prefix)
    client_auth = get("ssl.client.auth")
    if sasl and f"{prefix}ssl.client.auth" not in config.listener_props:
        # KIP-684: on SASL_SSL only the listener's own ssl.client.auth counts.
        client_auth = "none"
    context.verify_mode = {
        "required": ssl.CERT_REQUIRED,
        "requested": ssl.CERT_OPTIONAL,
        "none": ssl.CERT_NONE,
    }[client_auth]
    versions = sorted(_VERSIONS[v] for v in _split(get("ssl.enabled.protocols")) if v in _VERSIONS)
    if not versions:
        raise ConfigError(
            f"Invalid value {get('ssl.enabled.protocols')!r} for configuration "
            "ssl.enabled.protocols: none of TLSv1.2, TLSv1.3"
        )
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    suites = _split(get("ssl.cipher.suites"))
    if suites:
        try:
            # TLS 1.2 suites; OpenSSL does not let Python restrict TLS 1.3's.
            context.set_ciphers(":".join(_openssl_cipher(s) for s in suites))
        except ssl.SSLError:
            raise ConfigError(
                f"Invalid value {get('ssl.cipher.suites')!r} for configuration "
                "ssl.cipher.suites: no cipher suite OpenSSL knows"
            ) from None
    return context, certificate


def client_context(config: Any, listener: str) -> ssl.SSLContext:
    """How this broker connects to its peers' `listener` (the inter-broker one): the
    listener's trust store verifies them, its key store is this broker's certificate,
    and `ssl.endpoint.identification.algorithm=https` checks their host names."""

    def get(key: str) -> Any:
        return listener_config(config, listener, key)

    prefix = f"listener.name.{listener.lower()}."
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = (get("ssl.endpoint.identification.algorithm") or "").lower() == "https"
    if get("ssl.truststore.location") or get("ssl.truststore.certificates"):
        load_trust_store(context, get, prefix)
    else:
        context.load_default_certs()
    _load_key_store(context, get, prefix)
    versions = sorted(_VERSIONS[v] for v in _split(get("ssl.enabled.protocols")) if v in _VERSIONS)
    if versions:
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    return context


class _WithListenerProps:
    """A config seen with other listener.name.* values (to try them before keeping)."""

    def __init__(self, config: Any, listener_props: dict[str, str]) -> None:
        self.config, self.listener_props = config, listener_props

    def parse_key(self, name: str, raw: str) -> Any:
        return self.config.parse_key(name, raw)

    def __getitem__(self, name: str) -> Any:
        return self.config[name]


def store_files(config: Any, listener: str) -> dict[str, tuple[int, int] | None]:
    """The listener's key and trust store files, {path: (mtime ns, size) or None}: to
    tell one rewritten in place, which Kafka reloads on an AlterConfigs of the broker
    even when no value changed (DynamicBrokerConfig.reloadUpdatedFilesWithoutConfigChange)."""
    files: dict[str, tuple[int, int] | None] = {}
    for key in ("ssl.keystore.location", "ssl.truststore.location"):
        path = listener_config(config, listener, key)
        if path:
            try:
                stat = os.stat(path)
                files[path] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                files[path] = None
    return files


@dataclass
class ListenerStores:
    """What a TLS listener serves now: its context and the certificate it presents."""

    context: ssl.SSLContext
    certificate: x509.Certificate


def check_listener_stores(
    config: Any,
    dynamic: dict[str, str],
    in_use: Mapping[str, ListenerStores] | None = None,
    rewritten: frozenset[str] | set[str] = frozenset(),
) -> None:
    """ConfigError unless every TLS listener's stores load with the broker's new dynamic
    configs `dynamic` (listener.name.<l>.ssl.* among them), and, as Kafka's SslFactory,
    a listener's new key store keeps the subject DN and the SANs of the certificate in
    use (`in_use`, by listener) unless `ssl.allow.dn.changes` / `ssl.allow.san.changes`.
    (A new certificate may add SANs.) On the inter-broker listener, as Kafka's
    SslEngineValidator, TLS handshakes between the stores in use and the new ones must
    succeed both ways (host names not checked): a broker must not take a certificate
    its peers, which still have the old stores, would refuse. `rewritten`: listeners
    whose store files changed on disk, checked as if their settings had changed."""
    props = dict(config.static_listener_props)
    props.update((k, v) for k, v in config.dynamic_default.items() if k.startswith("listener."))
    props.update((k, v) for k, v in dynamic.items() if k.startswith("listener."))
    if props == config.listener_props and not rewritten:
        return
    view = _WithListenerProps(config, props)
    for endpoint in config.listeners:
        if not endpoint.tls:
            continue
        context, certificate = listener_tls(view, endpoint.listener, endpoint.sasl)
        prefix = f"listener.name.{endpoint.listener.lower()}.ssl."
        changed = endpoint.listener in rewritten or any(
            props.get(k) != config.listener_props.get(k)
            for k in props.keys() | config.listener_props.keys()
            if k.startswith(prefix)
        )
        old = (in_use or {}).get(endpoint.listener)
        if changed and old is not None:
            _ensure_compatible(view, endpoint.listener, certificate, old.certificate)
            if endpoint.listener == config.inter_broker_listener:
                _ensure_handshakes(
                    old.context,
                    _validation_client(config, endpoint.listener),
                    context,
                    _validation_client(view, endpoint.listener),
                )


def _validation_client(config: Any, listener: str) -> ssl.SSLContext:
    context = client_context(config, listener)
    context.check_hostname = False  # as Kafka's validator: an empty host name
    return context


def _ensure_handshakes(
    old_server: ssl.SSLContext,
    old_client: ssl.SSLContext,
    new_server: ssl.SSLContext,
    new_client: ssl.SSLContext,
) -> None:
    """Kafka's SslEngineValidator.validate: old server with new client, new server with
    old client, each a full handshake in memory."""
    for server, client, which in (
        (old_server, new_client, "the current server stores and the new client stores"),
        (new_server, old_client, "the new server stores and the current client stores"),
    ):
        try:
            _handshake(server, client)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "Validation of dynamic config update of SSLFactory failed: a TLS handshake "
                f"between {which} of the inter-broker listener fails ({exc}); its peers "
                "would refuse it (update the trust stores first)"
            ) from None


def _handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_out, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, server_out, server_side=True)
    client = client_context.wrap_bio(to_client, client_out, server_side=False)
    done = {"server": False, "client": False}
    for _ in range(16):  # a TLS 1.2/1.3 handshake takes a few flights
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            to_server.write(client_out.read())
            to_client.write(server_out.read())
        if all(done.values()):  # (a refused certificate raised SSLError on its way)
            return
    raise ssl.SSLError("the handshake did not complete")


def _ensure_compatible(
    config: Any, listener: str, new: x509.Certificate, old: x509.Certificate
) -> None:
    """Kafka's SslFactory.CertificateEntries.ensureCompatible, with its messages."""
    failed = "Validation of dynamic config update of SSLFactory failed: "
    if not listener_config(config, listener, "ssl.allow.dn.changes"):
        old_dn, new_dn = old.subject.rfc4514_string(), new.subject.rfc4514_string()
        if old.subject != new.subject and old_dn.lower() != new_dn.lower():
            raise ConfigError(
                f"{failed}Keystore DistinguishedName does not match:  existing={{DN={old_dn}}}, "
                f"new={{DN={new_dn}}} (listener {listener}; set ssl.allow.dn.changes=true "
                "to allow it)"
            )
    if not listener_config(config, listener, "ssl.allow.san.changes"):
        old_sans, new_sans = _subject_alt_names(old), _subject_alt_names(new)
        if not old_sans <= new_sans:
            raise ConfigError(
                f"{failed}Keystore SubjectAltNames do not match:  existing={{SAN="
                f"{sorted(old_sans)}}}, new={{SAN={sorted(new_sans)}}} (listener {listener}; "
                "set ssl.allow.san.changes=true to allow it)"
            )


def _subject_alt_names(certificate: x509.Certificate) -> set[str]:
    from cryptography import x509  # only TLS listeners get here (see _pkcs12_key_and_chain)

    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    # As Java lists them: (type, value); here "DNS:name", "IP:1.2.3.4", ...
    return {f"{type(n).__name__}:{n.value}" for n in extension.value}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _openssl_cipher(name: str) -> str:
    """Kafka names suites the IANA way (TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
    OpenSSL's names differ (ECDHE-RSA-AES256-GCM-SHA384). OpenSSL names pass through."""
    if not name.startswith("TLS_") or "_WITH_" not in name:
        return name
    kx, _, cipher = name[4:].partition("_WITH_")
    cipher = re.sub(r"AES_(\d+)", r"AES\1", cipher).replace("_", "-")
    if cipher.startswith("CHACHA20-POLY1305"):
        cipher = "CHACHA20-POLY1305"
    if kx == "RSA":
        return cipher
    return f"{kx.replace('_', '-')}-{cipher}"


def _password(value: str | None) -> bytes | None:
    return value.encode() if value else None


def _load_key_store(context: ssl.SSLContext, get, prefix: str) -> x509.Certificate:
    kind, location = get("ssl.keystore.type"), get("ssl.keystore.location")
    inline_key, inline_chain = get("ssl.keystore.key"), get("ssl.keystore.certificate.chain")
    if kind == "PEM" and inline_key and inline_chain:
        key_pem, chain_pem = inline_key.encode(), inline_chain.encode()
        password = _password(get("ssl.key.password"))
    elif location is None:
        raise ConfigError(
            f"Configuration ssl.keystore.location (or {prefix}ssl.keystore.location) is "
            "required for a TLS listener"
        )
    else:
        try:
            data = Path(location).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"Invalid value {location!r} for configuration ssl.keystore.location: "
                f"{exc.strerror}"
            ) from None
        if kind == "PEM":
            key_pem = chain_pem = data
            password = _password(get("ssl.key.password"))
        elif kind == "PKCS12":
            key_pem, chain_pem = _pkcs12_key_and_chain(data, get("ssl.keystore.password"))
            password = None
        else:
            raise ConfigError(
                f"Invalid value {kind!r} for configuration ssl.keystore.type: JKS is not "
                "read; convert it with `keytool -importkeystore -deststoretype PKCS12` or use PEM"
            )
    # load_cert_chain reads files only: a private, short-lived one.
    fd, path = tempfile.mkstemp(prefix="kafka-compat-keystore-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem if key_pem is chain_pem else key_pem + b"\n" + chain_pem)
        # Never None: OpenSSL would ask for a pass phrase on the terminal.
        context.load_cert_chain(path, password=password or (lambda: b""))
        # The certificate the key store serves: the chain's first.
        from cryptography import x509  # only TLS listeners get here

        return x509.load_pem_x509_certificates(chain_pem)[0]
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise ConfigError(
            f"Invalid key store for configuration ssl.keystore.location/ssl.keystore.key: {exc}"
        ) from None
    finally:
        os.unlink(path)


def _pkcs12_key_and_chain(data: bytes, password: str | None) -> tuple[bytes, bytes]:
    # Imported here: cryptography costs ~30 ms of start-up, and only PKCS12 needs it.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, _password(password))
    except ValueError as exc:
        raise ConfigError(
            f"Invalid PKCS12 key store (ssl.keystore.location/ssl.keystore.password): {exc}"
        ) from None
    if key is None or cert is None:
        raise ConfigError("The PKCS12 key store holds no private key and certificate")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [cert, *extra])
    return key_pem, chain


def load_trust_store(context: ssl.SSLContext, get, prefix: str) -> None:
    kind, location = get("ssl.truststore.type"), get("ssl.truststore.location")
    inline = get("ssl.truststore.certificates")
    if inline and kind == "PEM":
        cadata = inline
    elif location is None:
        return  # no client certificates can be verified (ssl.client.auth must be none)
    else:
        try:
            data = Path(location).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"Invalid value {location!r} for configuration ssl.truststore.location: "
                f"{exc.strerror}"
            ) from None
        if kind == "PEM":
            cadata = data.decode("ascii", "replace")
        elif kind == "PKCS12":
            from cryptography.hazmat.primitives import serialization  # see _pkcs12_key_and_chain
            from cryptography.hazmat.primitives.serialization import pkcs12

            try:
                certs = pkcs12.load_pkcs12(data, _password(get("ssl.truststore.password")))
            except ValueError as exc:
                raise ConfigError(f"Invalid PKCS12 trust store: {exc}") from None
            found = [c.certificate for c in certs.additional_certs]
            if certs.cert is not None:
                found.append(certs.cert.certificate)
            cadata = "".join(
                c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in found
            )
        else:
            raise ConfigError(
                f"Invalid value {kind!r} for configuration ssl.truststore.type: JKS is not "
                "read; use PEM or PKCS12"
            )
    try:
        context.load_verify_locations(cadata=cadata)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"Invalid trust store ({prefix}ssl.truststore.*): {exc}") from None


# ---- the client certificate's principal ----


def subject_dn(der: bytes) -> str:
    """The certificate's subject as Java's X500Principal.getName() writes it (RFC 2253:
    the last RDN first, no spaces after commas), e.g. `CN=client,OU=eng,O=acme`."""
    from cryptography import x509  # only mutual TLS gets here (see _pkcs12_key_and_chain)

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


_RULE = re.compile(
    r"\s*(DEFAULT|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?))\s*(?:[,\n]\s*|$)"
)


class NoMatchingRule(Exception):
    pass


class PrincipalMapper:
    """Kafka's SslPrincipalMapper: `ssl.principal.mapping.rules`, the first rule whose
    pattern matches the whole DN wins; DEFAULT keeps the DN; no match refuses."""

    def __init__(self, rules: str | None) -> None:
        self.rules: list[tuple[re.Pattern[str], str, str] | None] = []
        text = rules or "DEFAULT"
        position = 0
        while position < len(text):
            match = _RULE.match(text, position)
            if match is None or match.end() == position:
                break
            position = match.end()
            if match.group(5) is not None and match.group(5) != "":
                raise ConfigError(
                    f"Invalid rule {match.group(5)!r} in configuration ssl.principal.mapping.rules"
                )
            if match.group(1) == "DEFAULT":
                self.rules.append(None)
            elif match.group(2) is not None:
                pattern = re.compile(match.group(2))
                # Java's $1 is Python's \g<1>.
                replacement = re.sub(r"\$(\d+)", r"\\g<\1>", match.group(3))
                self.rules.append((pattern, replacement, match.group(4)))

    def name(self, dn: str) -> str:
        for rule in self.rules:
            if rule is None:
                return dn
            pattern, replacement, case = rule
            if pattern.fullmatch(dn):
                name = pattern.sub(replacement, dn)
                return name.lower() if case == "L" else name.upper() if case == "U" else name
        raise NoMatchingRule(f"No rules apply to {dn}, rules {self.rules}")
