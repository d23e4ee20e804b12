"""What the console's JSON API modules share: errors as 4xx/5xx JSON, request bodies,
the write guard, and calling the broker's own API handlers in-process.

Writes (produce, create/delete topic, alter configs, reset offsets, delete a group)
go through the same handlers or coordinator calls a Kafka client's request reaches,
with a `ConsoleContext`: the console has no login, so it is not a principal the
authorizer knows. When an authorizer is configured its writes are refused unless
`http.console.write.enable` is true; when that key allows them they run with the
broker's own authority (no ACL check), which is what the operator chose.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kafka_compat.apis.handlers import HANDLERS
from kafka_compat.apis.registry import Components, RequestContext
from kafka_compat.security.session import Session
from protocol.errors import ErrorCode
from protocol.headers import RequestHeader

log = logging.getLogger(__name__)

CLIENT_ID = "kafka-compat-console"
SAFE_METHODS = ("GET", "HEAD")
# Kafka errors as HTTP statuses (anything else: 400 when the request is the cause).
_STATUS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: 404,
    ErrorCode.GROUP_ID_NOT_FOUND: 404,
    ErrorCode.TOPIC_ALREADY_EXISTS: 409,
    ErrorCode.NON_EMPTY_GROUP: 409,
    ErrorCode.UNKNOWN_MEMBER_ID: 409,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: 409,
    ErrorCode.NOT_COORDINATOR: 409,
    ErrorCode.TOPIC_AUTHORIZATION_FAILED: 403,
    ErrorCode.CLUSTER_AUTHORIZATION_FAILED: 403,
    ErrorCode.GROUP_AUTHORIZATION_FAILED: 403,
    ErrorCode.TOPIC_DELETION_DISABLED: 403,
    ErrorCode.REQUEST_TIMED_OUT: 504,
    ErrorCode.NOT_ENOUGH_REPLICAS: 503,
    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND: 503,
    ErrorCode.COORDINATOR_NOT_AVAILABLE: 503,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS: 503,
    ErrorCode.LEADER_NOT_AVAILABLE: 503,
    ErrorCode.KAFKA_STORAGE_ERROR: 503,
}


class ApiError(Exception):
    """An answer other than 2xx: `status` and a message for a person."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def kafka_error(code: int, message: str | None = None, **extra: Any) -> ApiError:
    """A Kafka error code (and its message, if the handler gave one) as an ApiError."""
    name = ErrorCode(code).name
    text = f"{name}: {message}" if message else name
    return ApiError(_STATUS.get(code, 400), text, kafka_error=name, **extra)


Endpoint = Callable[[Request, Components], Awaitable[Any]]


def endpoint(fn: Endpoint, components: Components) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint from `fn(request, components)`: its result as JSON (a Response
    passes through), an ApiError as {"error": message} with its status."""

    @functools.wraps(fn)
    async def handle(request: Request) -> Response:
        try:
            check_request(request, components)
            result = await fn(request, components)
        except ApiError as exc:
            return JSONResponse({"error": str(exc), **exc.extra}, status_code=exc.status)
        except Exception as exc:
            log.exception("Console API %s %s failed", request.method, request.url.path)
            return JSONResponse({"error": f"Internal error: {exc!r}"}, status_code=500)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return handle


def check_request(request: Request, components: Components) -> None:
    """The console has no login, so refuse what another web site could make a visitor's
    browser send it: a Host this broker does not answer to (DNS rebinding), a write
    from another origin, or a write that is not JSON (a cross-site JSON request needs a
    CORS preflight, which this server never grants)."""
    host = request.headers.get("host", "")
    if not trusted_host(host, components):
        raise ApiError(403, f"Refused: Host {host!r} is not an address of this broker")
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != host:
        raise ApiError(403, f"Refused: a write from another origin ({origin})")
    if request.method != "DELETE" and not request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        raise ApiError(415, "Send the request body as JSON (Content-Type: application/json)")


def trusted_host(host: str, components: Components) -> bool:
    """An IP address, localhost, or a name this broker is configured or advertised with."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]").lower()
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    if name == "localhost" or name.endswith(".localhost"):
        return True
    listener = components.config["http.listener"]
    names = {components.host, socket.gethostname(), listener[0] if listener else ""}
    names.update(h for h, _ in components.endpoints.values())
    return name in {n.lower() for n in names if n}


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong with it."""
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"The request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return data


def integer(value: Any, name: str, minimum: int | None = None) -> int:
    """`value` as an int (JSON number or decimal string), else a 400 naming `name`."""
    if isinstance(value, bool):
        raise ApiError(400, f"{name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ApiError(400, f"{name} must be at least {minimum}")
    return number


def query_int(request: Request, name: str, default: int | None = None, minimum=None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return integer(raw, name, minimum)


def writes_allowed(components: Components) -> tuple[bool, str]:
    """(may the console write, why not): refused when an authorizer is configured,
    unless http.console.write.enable is true; http.console.write.enable=false refuses
    them always."""
    setting = components.config["http.console.write.enable"]
    if setting is None:
        if components.authorizer is None:
            return True, ""
        return False, (
            "This broker has an authorizer (authorizer.class.name) and the console has no "
            "login: its write actions are off. Set http.console.write.enable=true to allow "
            "them (they then run with the broker's own authority)."
        )
    if setting:
        return True, ""
    return False, "The console's write actions are off (http.console.write.enable=false)."


def require_writes(components: Components) -> None:
    allowed, why = writes_allowed(components)
    if not allowed:
        raise ApiError(403, why)


class ConsoleContext(RequestContext):
    """A request context for in-process calls made by the console: no principal, so no
    ACL check (writes pass `require_writes` first)."""

    __slots__ = ()

    def authorize(self, operation, resource_type, name) -> bool:
        return True

    def authorized(self, operation, resource_type, names) -> set[str]:
        return set(names)

    def authorize_any(self, operation, resource_type) -> bool:
        return True


async def call_api(components: Components, api_key: int, request: Any) -> Any:
    """Run the broker's own handler of `api_key` (its newest version) on `request`, as if
    a client on this host had sent it."""
    entry = HANDLERS[api_key]
    version = entry.max_version
    header = RequestHeader(api_key, version, 0, CLIENT_ID, 0)
    ctx = ConsoleContext(components, header, version, "127.0.0.1", Session(peer_host="127.0.0.1"))
    return await entry.handler(ctx, request)


def is_cluster(components: Components) -> bool:
    return components.cluster is not None


def broker_label(components: Components, broker_id: int) -> dict[str, Any]:
    """A broker as the page links it: its id and Kafka address when known."""
    if broker_id == components.node_id:
        return {"id": broker_id, "host": components.host, "port": components.port, "self": True}
    endpoint = components.metadata_cache.brokers.get(broker_id)
    if endpoint is None:
        return {"id": broker_id, "host": None, "port": None, "self": False}
    return {"id": broker_id, "host": endpoint.host, "port": endpoint.port, "self": False}
