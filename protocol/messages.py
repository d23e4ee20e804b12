"""Every Kafka message as a Python class, with a compiled decoder and encoder per version.

The specs are Kafka's own JSON files that kafka-python 3.x ships as package data,
plus the ZooKeeper-era inter-broker messages it lacks (LeaderAndIsr, StopReplica,
UpdateMetadata, ControlledShutdown), declared in ``protocol/interbroker.py``; any
``*.json`` in ``protocol/specs/`` replaces a spec of the same name. The classes
exist from import; each (API, version) codec is compiled on its first use (see
codec.py), so start-up does not pay for the ones a broker never sees.

    msg = decode_request(3, 12, body)          # a MetadataRequest
    resp = MetadataResponse(topics=[...])      # module attribute per message class
    body = encode_response(3, 12, resp)

Nested struct classes hang off their message's class by type name:
``MetadataResponse.MetadataResponseTopic``, ``ProduceRequest.PartitionProduceData``.
Absent fields (not in the version at hand) are not written, and decode to their
defaults. ``records`` decode as zero-copy memoryview slices of the input.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from protocol import codec, delegation_tokens, interbroker, kip848, schema
from protocol.api_keys import ApiKey
from protocol.codec import CompiledMessage, DecodeError, EncodeError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "API_NAMES",
    "SPEC_DIR",
    "DecodeError",
    "EncodeError",
    "LazyTable",
    "OLDEST_VERSIONS",
    "UnsupportedVersionError",
    "data_type",
    "decode_data",
    "decode_request",
    "decode_response",
    "encode_data",
    "encode_request",
    "encode_response",
    "encode_response_into",
    "is_flexible",
    "request_decoder",
    "request_type",
    "response_encoder",
    "response_type",
    "spec",
    "spec_versions",
]

# Our own spec files, read after kafka-python's package data.
SPEC_DIR = Path(__file__).with_name("specs")

# Versions Kafka 4.0 removed (KIP-896) that a Kafka 3.9 ZooKeeper broker still serves:
# kafka-python's specs start above them but keep their fields (MaxNumOffsets,
# CommitTimestamp, IsDefault, ...), so lowering validVersions is all it takes.
# tests/protocol/test_messages_old_versions.py checks the fields against Kafka 3.9's.
OLDEST_VERSIONS: dict[str, int] = {
    name + part: 0
    for name in (
        "ListOffsets",
        "OffsetCommit",
        "OffsetFetch",
        "CreateTopics",
        "DeleteTopics",
        "DescribeConfigs",
        "Produce",
        "Fetch",
        "OffsetForLeaderEpoch",
        "WriteTxnMarkers",
        "DescribeLogDirs",
        "AlterReplicaLogDirs",
        "CreateAcls",
        "DescribeAcls",
        "DeleteAcls",
    )
    for part in ("Request", "Response")
}


class UnsupportedVersionError(DecodeError):
    """No spec for this api_key, or the version is outside its validVersions."""


def _valid(name: str) -> schema.Versions:
    valid = schema.Versions.parse(_RAW[name][0]["validVersions"])
    lo = OLDEST_VERSIONS.get(name)
    return valid if lo is None or valid.lo <= lo else schema.Versions(lo, valid.hi)


def _compile(name: str) -> CompiledMessage:
    spec = schema.parse_raw_spec(*_RAW[name])
    spec.valid = _valid(name)
    return codec.compile_message(spec)


class LazyTable(dict):
    """A table filled on first use of a key: make(key) builds it, KeyError if none.

    Only misses take the lock, so that two threads never build two classes for one
    message; hits are plain dict lookups.
    """

    __slots__ = ("_make",)
    _lock = threading.RLock()  # a table's make() may fill another table

    def __init__(self, make: Callable[[object], object]):
        super().__init__()
        self._make = make

    def __missing__(self, key):
        with self._lock:
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
            value = self._make(key)
            dict.__setitem__(self, key, value)
            return value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def _spec_source(name: str) -> tuple[dict, str]:
    """A message's spec JSON and where it comes from, found by its name (Kafka names
    each file for its message): protocol/specs/ first, then kafka-python's files, then
    our declarations. No directory is listed: a file's existence is checked."""
    for directory, label in ((SPEC_DIR, SPEC_DIR), (_kafka_python_specs(), _KAFKA_PYTHON)):
        entry = directory / f"{name}.json"
        if entry.is_file():
            source = f"{label}/{entry.name}"
            return schema.read_spec_file(entry, source), source
    declared = {
        **interbroker.raw_specs(),
        **kip848.raw_specs(),
        **delegation_tokens.raw_specs(),
    }
    return declared[name]  # KeyError: no such spec


_KAFKA_PYTHON = schema.DEFAULT_SPEC_PACKAGE


@functools.cache
def _kafka_python_specs() -> Traversable:
    """kafka-python's spec directory (found once, without importing kafka-python)."""
    return schema.package_dir(_KAFKA_PYTHON)


def _message_name(key: ApiKey) -> str:
    """Kafka's name of an API from ApiKey's upper snake case: API_VERSIONS -> ApiVersions."""
    return "".join(part.capitalize() for part in key.name.split("_"))


# A message's spec file is read, parsed and its classes made when it is first used
# (messages.FooRequest, request_type(...), a decode); start-up reads none of the ~120
# files and lists no directory. ApiKey names every API served, so the request and
# response of each key are named from it (tests/protocol/test_message_names.py checks
# that each has its spec files).
_RAW: dict[str, tuple[dict, str]] = LazyTable(_spec_source)
_REQUEST_NAMES: dict[int, str] = {int(k): _message_name(k) + "Request" for k in ApiKey}
_RESPONSE_NAMES: dict[int, str] = {int(k): _message_name(k) + "Response" for k in ApiKey}


def _api_message(key: int, names: dict[int, str], kind: str) -> CompiledMessage:
    name = names[key]
    data, source = _RAW[name]
    if data.get("type") != kind or data.get("apiKey") != key:
        raise schema.SpecError(f"{source}: expected the {kind} of api key {key}")
    return _compile(name)


_REQUESTS: dict[int, CompiledMessage] = LazyTable(
    lambda key: _api_message(key, _REQUEST_NAMES, "request")
)
_RESPONSES: dict[int, CompiledMessage] = LazyTable(
    lambda key: _api_message(key, _RESPONSE_NAMES, "response")
)


def _data_message(name: str) -> CompiledMessage:
    if _RAW[name][0].get("type") != "data":
        raise KeyError(name)
    return _compile(name)


_DATA: dict[str, CompiledMessage] = LazyTable(_data_message)

API_NAMES: dict[int, str] = {
    key: name.removesuffix("Request") for key, name in sorted(_REQUEST_NAMES.items())
}

_REQ_DEC = LazyTable(lambda k: _REQUESTS[k].decoders)
_REQ_ENC = LazyTable(lambda k: _REQUESTS[k].encoders)
_RESP_DEC = LazyTable(lambda k: _RESPONSES[k].decoders)
_RESP_ENC = LazyTable(lambda k: _RESPONSES[k].encoders)
_RESP_ENC_INTO = LazyTable(lambda k: _RESPONSES[k].encoders_into)


def _flexible(key: int) -> tuple[int, int]:
    flex = schema.Versions.parse(_RAW[_REQUEST_NAMES[key]][0].get("flexibleVersions"))
    return flex.lo, flex.hi


_FLEXIBLE: dict[int, tuple[int, int]] = LazyTable(_flexible)
_VALID: dict[int, schema.Versions] = LazyTable(lambda key: _valid(_REQUEST_NAMES[key]))


def __getattr__(name: str) -> type:
    """A module attribute per message class: messages.MetadataResponse, ..."""
    raw = _RAW.get(name)
    kind = raw[0].get("type") if raw is not None else None
    if kind == "request":
        cls = _REQUESTS[raw[0]["apiKey"]].cls
    elif kind == "response":
        cls = _RESPONSES[raw[0]["apiKey"]].cls
    elif kind == "data":
        cls = _DATA[name].cls
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = cls
    return cls


def request_type(api_key: int) -> type:
    """The class of a request's body, e.g. ProduceRequest."""
    return _REQUESTS[api_key].cls


def response_type(api_key: int) -> type:
    return _RESPONSES[api_key].cls


def spec(api_key: int, response: bool = False) -> schema.MessageSpec:
    """The parsed spec of a request (or its response)."""
    return (_RESPONSES if response else _REQUESTS)[api_key].spec


def spec_versions(api_key: int) -> tuple[int, int]:
    """validVersions of the request spec, (min, max)."""
    v = _VALID[api_key]
    return v.lo, v.hi


def is_flexible(api_key: int, version: int) -> bool:
    """Does this version use compact encodings and tagged fields?

    Kafka's flexible ranges are open-ended, so this answers for versions above the
    spec's maximum too (a newer client's ApiVersions). Unknown api keys: False.
    """
    flex = _FLEXIBLE.get(api_key)
    return flex is not None and flex[0] <= version <= flex[1]


def _unsupported(kind: str, api_key: int, version: int) -> UnsupportedVersionError:
    name = API_NAMES.get(api_key, f"api key {api_key}")
    return UnsupportedVersionError(f"no {kind} codec for {name} v{version}")


def decode_request(api_key: int, version: int, buf: memoryview | bytes) -> object:
    """Decode a request body (the bytes after the request header)."""
    try:
        dec = _REQ_DEC[api_key][version]
    except KeyError:
        raise _unsupported("request", api_key, version) from None
    return dec(buf)


def encode_request(api_key: int, version: int, msg: object) -> bytes:
    try:
        enc = _REQ_ENC[api_key][version]
    except KeyError:
        raise EncodeError(str(_unsupported("request", api_key, version))) from None
    return enc(msg)


def decode_response(api_key: int, version: int, buf: memoryview | bytes) -> object:
    try:
        dec = _RESP_DEC[api_key][version]
    except KeyError:
        raise _unsupported("response", api_key, version) from None
    return dec(buf)


def encode_response(api_key: int, version: int, msg: object) -> bytes:
    try:
        enc = _RESP_ENC[api_key][version]
    except KeyError:
        raise EncodeError(str(_unsupported("response", api_key, version))) from None
    return enc(msg)


def encode_response_into(api_key: int, version: int, msg: object, out: list) -> None:
    """Append the response body's pieces to `out` (bytes and memoryviews), unjoined.

    Lets the server put the size and header in front and join once, so record
    data is copied a single time. After an EncodeError `out` holds a partial body.
    """
    try:
        enc = _RESP_ENC_INTO[api_key][version]
    except KeyError:
        raise EncodeError(str(_unsupported("response", api_key, version))) from None
    enc(msg, out)


def request_decoder(api_key: int, version: int) -> Callable[[memoryview | bytes], object]:
    """The compiled decoder itself, for callers that cache it."""
    try:
        return _REQ_DEC[api_key][version]
    except KeyError:
        raise _unsupported("request", api_key, version) from None


def response_encoder(api_key: int, version: int) -> Callable[[object], bytes]:
    try:
        return _RESP_ENC[api_key][version]
    except KeyError:
        raise EncodeError(str(_unsupported("response", api_key, version))) from None


# "data" specs (no api key), e.g. ConsumerProtocolSubscription; addressed by name.


def data_type(name: str) -> type:
    return _DATA[name].cls


def decode_data(name: str, version: int, buf: memoryview | bytes) -> object:
    try:
        dec = _DATA[name].decoders[version]
    except KeyError:
        raise UnsupportedVersionError(f"no codec for {name} v{version}") from None
    return dec(buf)


def encode_data(name: str, version: int, msg: object) -> bytes:
    try:
        enc = _DATA[name].encoders[version]
    except KeyError:
        raise EncodeError(f"no codec for {name} v{version}") from None
    return enc(msg)
