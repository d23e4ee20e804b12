"""Where OAUTHBEARER's signing keys come from (`sasl.oauthbearer.jwks.endpoint.url`), as
Kafka's VerificationKeyResolverFactory picks:

- `file://...`: JwksFileVerificationKeyResolver; here re-read whenever the file's
  modification time changes.
- `https://...` (or `http://`): RefreshingHttpsJwks. The keys are fetched once when
  the broker starts (a JWKS that cannot be fetched stops start-up, as Kafka's init()),
  then every `sasl.oauthbearer.jwks.endpoint.refresh.ms` (1 h) by a background thread,
  each failed fetch retried after `...retry.backoff.ms` (100 ms) doubling up to
  `...retry.backoff.max.ms` (10 s) of waiting, the old keys kept meanwhile. A token
  whose `kid` is not among the keys asks for an immediate refresh, at most once a
  minute per kid (16 kids remembered), and that token is refused: the client's next
  login finds the new key. The fetch runs on its own thread (urllib), never on the
  Trio loop.
- TLS for the endpoint, as Kafka's JaasOptionsUtils: the `ssl.*` options of the
  listener's OAuthBearerLoginModule JAAS config (`ssl.truststore.location`,
  `ssl.truststore.type`, `ssl.truststore.password`, `ssl.truststore.certificates`,
  `ssl.endpoint.identification.algorithm`); without a trust store, the system's
  default CAs (Kafka: the JVM's default trust store).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kafka_compat.config import ConfigError

__all__ = ["FileJwks", "RefreshingHttpsJwks", "jwks_source", "jwks_ssl_context"]

log = logging.getLogger(__name__)

MISSING_KEY_ID_CACHE_MAX_ENTRIES = 16
MISSING_KEY_ID_CACHE_IN_FLIGHT_MS = 60_000
MISSING_KEY_ID_MAX_KEY_LENGTH = 1000
FETCH_TIMEOUT_S = 10.0


def _parse_jwks(text: str | bytes, where: str) -> dict[str | None, Any]:
    import jwt

    try:
        jwks = jwt.PyJWKSet.from_json(text if isinstance(text, str) else text.decode())
    except (jwt.PyJWTError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the JWKS {where}: {exc}") from None
    return {key.key_id: key for key in jwks.keys}


class FileJwks:
    """A JWKS file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str | None, Any] = {}
        self._mtime: float | None = None
        self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            text = self.path.read_text()
        except OSError as exc:
            raise ConfigError(f"Cannot read the JWKS {self.path}: {exc}") from None
        self._keys = _parse_jwks(text, str(self.path))
        self._mtime = mtime

    def keys(self) -> dict[str | None, Any]:
        self._load()  # ConfigError: the validator refuses the token with it
        return self._keys

    def maybe_expedite_refresh(self, kid: str) -> bool:
        return False  # read on every login anyway


class RefreshingHttpsJwks:
    """Kafka's RefreshingHttpsJwks (module docstring). `fetch` is for tests."""

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        refresh_ms: int,
        retry_backoff_ms: int,
        retry_backoff_max_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_ms <= 0:
            raise ConfigError(
                "sasl.oauthbearer.jwks.endpoint.refresh.ms must be positive for an HTTPS JWKS"
            )
        self.url = url
        self.ssl_context = ssl_context
        self.refresh_ms = refresh_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.retry_backoff_max_ms = retry_backoff_max_ms
        self._clock = clock
        self._lock = threading.Lock()
        self._missing: OrderedDict[str, float] = OrderedDict()  # kid -> next check (s)
        self._wake = threading.Event()
        self._closed = False
        self.refreshes = 0  # completed fetches, for the log and tests
        try:
            self._keys = self._fetch()  # at start-up, as Kafka's init()
        except (OSError, ConfigError, ValueError) as exc:
            raise ConfigError(
                f"Cannot fetch the JWKS from sasl.oauthbearer.jwks.endpoint.url {url}: {exc}"
            ) from None
        self.refreshes = 1
        self._thread = threading.Thread(target=self._run, name=f"jwks-refresh {url}", daemon=True)
        self._thread.start()
        log.info(
            "JWKS validation key refresh thread started with a refresh interval of %d ms "
            "(%s, %d keys)",
            refresh_ms,
            url,
            len(self._keys),
        )

    def keys(self) -> dict[str | None, Any]:
        return self._keys

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def _fetch(self) -> dict[str | None, Any]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(
            request, timeout=FETCH_TIMEOUT_S, context=self.ssl_context
        ) as response:
            body = response.read(4 * 1024 * 1024)
        return _parse_jwks(body, self.url)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.refresh_ms / 1000)
            self._wake.clear()
            if not self._closed:
                self._refresh()

    def _refresh(self) -> None:
        """One refresh with Kafka's Retry: backoff doubling, at most max ms of waiting."""
        log.info("OAuth JWKS refresh of %s starting", self.url)
        waited, backoff = 0, self.retry_backoff_ms
        while True:
            try:
                keys = self._fetch()
                break
            except (OSError, ConfigError, ValueError) as exc:
                if self._closed or waited >= self.retry_backoff_max_ms:
                    log.warning(
                        "OAuth JWKS refresh of %s encountered an error; not updating the keys: %s",
                        self.url,
                        exc,
                    )
                    return
                wait = min(backoff, self.retry_backoff_max_ms - waited)
                time.sleep(wait / 1000)
                waited += wait
                backoff *= 2
        with self._lock:
            for kid in keys:
                if kid is not None:
                    self._missing.pop(kid, None)
            self._keys = keys
            self.refreshes += 1
        log.info("OAuth JWKS refresh of %s complete (%d keys)", self.url, len(keys))

    def maybe_expedite_refresh(self, kid: str) -> bool:
        """Refresh now for an unknown `kid`, unless one was asked for it within the last
        minute; True if a refresh was scheduled."""
        if len(kid) > MISSING_KEY_ID_MAX_KEY_LENGTH:
            log.warning("Key ID %s... was too long to cache", kid[:MISSING_KEY_ID_MAX_KEY_LENGTH])
            return False
        now = self._clock()
        with self._lock:
            next_check = self._missing.get(kid)
            if next_check is not None and next_check > now:
                self._missing.move_to_end(kid)
                return False
            self._missing[kid] = now + MISSING_KEY_ID_CACHE_IN_FLIGHT_MS / 1000
            self._missing.move_to_end(kid)
            while len(self._missing) > MISSING_KEY_ID_CACHE_MAX_ENTRIES:
                self._missing.popitem(last=False)
        self._wake.set()
        return True


def jwks_ssl_context(options: dict[str, str]) -> ssl.SSLContext:
    """TLS for the JWKS endpoint from the JAAS config's ssl.* options (module docstring)."""
    from kafka_compat.security.tls import load_trust_store

    algorithm = options.get("ssl.endpoint.identification.algorithm", "https")
    if options.get("ssl.truststore.location") or options.get("ssl.truststore.certificates"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        defaults = {"ssl.truststore.type": "JKS"}  # Kafka's default type
        load_trust_store(context, lambda key: options.get(key, defaults.get(key)), "JAAS ")
    else:
        context = ssl.create_default_context()
    context.check_hostname = algorithm.lower() == "https"
    return context


def jwks_source(
    url: str, options: dict[str, str], refresh_ms: int, backoff_ms: int, backoff_max_ms: int
) -> FileJwks | RefreshingHttpsJwks:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        return FileJwks(Path(unquote(parsed.path)))
    if scheme in ("https", "http"):
        return RefreshingHttpsJwks(
            url,
            ssl_context=jwks_ssl_context(options) if scheme == "https" else None,
            refresh_ms=refresh_ms,
            retry_backoff_ms=backoff_ms,
            retry_backoff_max_ms=backoff_max_ms,
        )
    raise ConfigError(
        f"sasl.oauthbearer.jwks.endpoint.url {url!r}: expected a file://, https:// or http:// URL"
    )
