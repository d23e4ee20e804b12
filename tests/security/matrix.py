"""One broker with every kind of listener, for the client matrix over security
(compat-tests/test_security_clients.py, test_kafkajs.py, test_java_client.py,
kafka-tools/test_topics_configs_acls.py, test_go_*.py): each client runs each mode it
supports against it.

Listeners (each on its own free port):

    PLAINTEXT       setup and tools, User:ANONYMOUS
    SSL             TLS with ssl.client.auth=required (mTLS, User:CN=client,OU=eng,O=acme)
    SASL_PLAINTEXT  PLAIN (Kafka's JAAS user_<name>="<password>")
    SASL_SSL        SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER with unsecured tokens
    OAUTH_JWT       SASL_SSL with OAUTHBEARER validating signed JWTs against a JWKS file

The ACL authorizer is on with `allow.everyone.if.no.acl.found=true` (so only resources
given ACLs are guarded) and `super.users=User:admin`: Kafka's kafka-acls runs as admin.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import BrokerHandle
from tests.security.certs import Certs, make_certs

PLAIN_USERS = {"admin": "admin-secret", "alice": "alice-pw"}
SCRAM_USERS = {"admin": "admin-scram", "alice": "alice-scram"}
JWT_ISSUER = "https://idp.test"
JWT_AUDIENCE = "kafka"
SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
OAUTH_JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    'unsecuredLoginStringClaim_sub="admin";'
)
JWT_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


@dataclass(frozen=True)
class Mode:
    """How a client connects: a listener, its protocol, a SASL mechanism and a login."""

    name: str  # the test id, e.g. "SASL_SSL-SCRAM-SHA-512"
    listener: str
    protocol: str  # security.protocol
    mechanism: str | None = None  # sasl.mechanism
    username: str | None = None
    password: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def signed(self) -> bool:
        return self.listener == "OAUTH_JWT"


MODES = {
    m.name: m
    for m in (
        Mode(
            "SASL_SSL-SCRAM-SHA-256",
            "SASL_SSL",
            "SASL_SSL",
            "SCRAM-SHA-256",
            "alice",
            SCRAM_USERS["alice"],
        ),
        Mode(
            "SASL_SSL-SCRAM-SHA-512",
            "SASL_SSL",
            "SASL_SSL",
            "SCRAM-SHA-512",
            "alice",
            SCRAM_USERS["alice"],
        ),
        Mode(
            "SASL_PLAINTEXT-PLAIN",
            "SASL_PLAINTEXT",
            "SASL_PLAINTEXT",
            "PLAIN",
            "alice",
            PLAIN_USERS["alice"],
        ),
        Mode("SSL-client-cert", "SSL", "SSL"),
        Mode("SASL_SSL-OAUTHBEARER-unsecured", "SASL_SSL", "SASL_SSL", "OAUTHBEARER", "alice"),
        Mode("SASL_SSL-OAUTHBEARER-signed", "OAUTH_JWT", "SASL_SSL", "OAUTHBEARER", "alice"),
    )
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsecured_token(subject: str, lifetime_s: int = 3600) -> str:
    """Kafka's unsecured JWS (alg "none", empty signature), as the Java client's
    OAuthBearerUnsecuredLoginCallbackHandler makes it."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + lifetime_s}
    header = _b64url(json.dumps({"alg": "none"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


class TokenEndpoint:
    """An OAuth token endpoint (client credentials grant) over HTTP handing out JWTs made
    by `make_token`; `requests` holds (Authorization header, body) of each request."""

    def __init__(self, make_token) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        requests: list[tuple[str, bytes]] = []
        self.requests = requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                requests.append((self.headers.get("Authorization", ""), body))
                answer = {"access_token": make_token(), "token_type": "bearer", "expires_in": 3600}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class SecureBroker:
    handle: BrokerHandle
    certs: Certs
    jwt_key: object  # the RSA private key the JWKS file publishes
    directory: Path
    token_endpoint: TokenEndpoint | None = None

    def stop(self) -> None:
        self.handle.stop()
        if self.token_endpoint is not None:
            self.token_endpoint.close()

    def address(self, listener: str) -> str:
        return f"127.0.0.1:{self.handle.broker.bound_ports[listener]}"

    @property
    def plaintext(self) -> str:
        return self.address("PLAINTEXT")

    def signed_token(self, subject: str, audience: str = JWT_AUDIENCE, lifetime_s: int = 3600):
        """A JWT signed with the key of the broker's JWKS file."""
        import jwt

        now = int(time.time())
        claims = {
            "sub": subject,
            "aud": audience,
            "iss": JWT_ISSUER,
            "iat": now,
            "exp": now + lifetime_s,
            "scope": "kafka",
        }
        return jwt.encode(claims, self.jwt_key, algorithm="RS256", headers={"kid": "k1"})

    def token(self, mode: Mode, subject: str | None = None) -> str:
        subject = subject or mode.username or "alice"
        return self.signed_token(subject) if mode.signed else unsecured_token(subject)

    def token_file(self, mode: Mode) -> Path:
        """The token in a file (the Java client's sasl.oauthbearer.token.endpoint.url=file:)."""
        path = self.directory / f"token-{mode.listener.lower()}.jwt"
        path.write_text(self.token(mode))
        return path

    def librdkafka(self, mode: Mode, **overrides: str) -> dict:
        """librdkafka's settings (confluent-kafka, kcat -X) for the mode; OAUTHBEARER
        signed needs an oauth_cb on top (see `oauth_cb`)."""
        conf: dict = {"bootstrap.servers": self.address(mode.listener)}
        conf["security.protocol"] = mode.protocol
        if mode.tls:
            conf["ssl.ca.location"] = str(self.certs.ca)
        if mode.protocol == "SSL":
            conf["ssl.certificate.location"] = str(self.certs.client_cert)
            conf["ssl.key.location"] = str(self.certs.client_key)
        if mode.mechanism:
            conf["sasl.mechanism"] = mode.mechanism
        if mode.mechanism == "OAUTHBEARER":
            if not mode.signed:
                conf["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
                conf["sasl.oauthbearer.config"] = f"principal={mode.username}"
        elif mode.username:
            conf["sasl.username"] = mode.username
            conf["sasl.password"] = mode.password
        conf.update(overrides)
        return conf

    def java(self, mode: Mode, password: str | None = None) -> dict[str, str]:
        """The Java client's settings for the mode (client.properties, --command-config)."""
        props = {
            "bootstrap.servers": self.address(mode.listener),
            "security.protocol": mode.protocol,
        }
        if mode.tls:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = str(self.certs.ca)
        if mode.protocol == "SSL":
            props["ssl.keystore.type"] = "PEM"
            props["ssl.keystore.location"] = str(self.certs.client_keystore)
        if mode.mechanism:
            props["sasl.mechanism"] = mode.mechanism
        module = "org.apache.kafka.common.security"
        if mode.mechanism == "OAUTHBEARER" and mode.signed:
            # The login handler reads the JWT from a file (KIP-768's file: URL).
            props["sasl.login.callback.handler.class"] = (
                f"{module}.oauthbearer.OAuthBearerLoginCallbackHandler"
            )
            props["sasl.oauthbearer.token.endpoint.url"] = self.token_file(mode).as_uri()
            props["sasl.jaas.config"] = f"{module}.oauthbearer.OAuthBearerLoginModule required;"
        elif mode.mechanism == "OAUTHBEARER":
            props["sasl.jaas.config"] = (
                f"{module}.oauthbearer.OAuthBearerLoginModule required "
                f'unsecuredLoginStringClaim_sub="{mode.username}";'
            )
        elif mode.mechanism:
            login = (
                "plain.PlainLoginModule" if mode.mechanism == "PLAIN" else "scram.ScramLoginModule"
            )
            props["sasl.jaas.config"] = (
                f"{module}.{login} required "
                f'username="{mode.username}" password="{password or mode.password}";'
            )
        return props

    def go_flags(self, mode: Mode, password: str | None = None) -> list[str]:
        """compat-tests/go's -bootstrap, -tls-* and -sasl-* flags for the mode."""
        flags = ["-bootstrap", self.address(mode.listener)]
        if mode.tls:
            flags += ["-tls-ca", str(self.certs.ca)]
        if mode.protocol == "SSL":
            flags += ["-tls-cert", str(self.certs.client_cert)]
            flags += ["-tls-key", str(self.certs.client_key)]
        if mode.mechanism:
            flags += ["-sasl-mechanism", mode.mechanism]
        if mode.mechanism == "OAUTHBEARER":
            flags += ["-sasl-token", self.token(mode)]
        elif mode.mechanism:
            flags += ["-sasl-user", mode.username, "-sasl-password", password or mode.password]
        return flags

    def oauth_cb(self, mode: Mode):
        def callback(_config):
            token = self.token(mode)
            return token, time.time() + 3600

        return callback


def start_secure_broker(directory: Path) -> SecureBroker:
    """Start the broker with every listener and create the SCRAM users."""
    import jwt  # noqa: F401  (PyJWT: the JWKS below)
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from kafka_compat.security.credentials import ScramCredential

    directory.mkdir(parents=True, exist_ok=True)
    certs = make_certs(directory / "certs")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = directory / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}))
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="admin" password="admin-secret" '
        + " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items())
        + ";"
    )
    tls = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs.broker_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
    }
    props = {
        "listeners": ",".join(
            f"{name}://127.0.0.1:0"
            for name in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", "OAUTH_JWT")
        ),
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,"
            "OAUTH_JWT:SASL_SSL"
        ),
        "inter.broker.listener.name": "PLAINTEXT",
        **tls,
        "listener.name.ssl.ssl.client.auth": "required",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": SCRAM_JAAS,
        "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": OAUTH_JAAS,
        "listener.name.oauth_jwt.sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.oauth_jwt.oauthbearer.sasl.jaas.config": OAUTH_JAAS,
        "listener.name.oauth_jwt.oauthbearer.sasl.server.callback.handler.class": JWT_VALIDATOR,
        "listener.name.oauth_jwt.sasl.oauthbearer.jwks.endpoint.url": jwks.as_uri(),
        "listener.name.oauth_jwt.sasl.oauthbearer.expected.audience": JWT_AUDIENCE,
        "listener.name.oauth_jwt.sasl.oauthbearer.expected.issuer": JWT_ISSUER,
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "allow.everyone.if.no.acl.found": "true",
        "super.users": "User:admin",
        "group.initial.rebalance.delay.ms": "0",  # each case's consumer group joins at once
        # Delegation tokens (KIP-48): the Java client and kafka-delegation-tokens.sh.
        "delegation.token.secret.key": "matrix-token-secret",
    }
    handle = BrokerHandle(directory / "data", props)
    handle.start()
    for user, password in SCRAM_USERS.items():
        configs = {
            m: ScramCredential.from_password(m, password).to_kafka()
            for m in ("SCRAM-SHA-256", "SCRAM-SHA-512")
        }
        handle.call(handle.broker.store.update_user_configs, user, configs, set())
    broker = SecureBroker(handle, certs, key, directory)
    broker.token_endpoint = TokenEndpoint(lambda: broker.signed_token("alice"))
    return broker
