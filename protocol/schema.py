"""Kafka's JSON message specs, read into plain data for the compiler (codec.py).

A spec declares a message once: fields with version ranges, nullable ranges, tagged
fields and the message's flexible versions. This module only parses; it knows
nothing of bytes. `load_specs()` reads every ``*.json`` in a list of locations:
by default the specs kafka-python 3.x ships as package data (Kafka 4.x ranges), and
callers may add directories of their own (e.g. the ZooKeeper-era inter-broker
messages LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown, which
kafka-python does not ship). A later location overrides an earlier one by name.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

__all__ = [
    "DEFAULT_SPEC_PACKAGE",
    "FIXED_TYPES",
    "Field",
    "MessageSpec",
    "SpecError",
    "Struct",
    "Versions",
    "load_raw_specs",
    "read_spec_file",
    "spec_files",
    "load_specs",
    "parse_raw_spec",
    "parse_spec",
    "snake_case",
]

# kafka-python 3.x ships Kafka's own specs here (pinned in pyproject.toml).
DEFAULT_SPEC_PACKAGE = "kafka.protocol.schemas.resources"

# Kafka's open-ended "N+" ranges end at Short.MAX_VALUE.
MAX_VERSION = 0x7FFF

# Fixed-width primitives: struct format code and size in bytes.
FIXED_TYPES: dict[str, tuple[str, int]] = {
    "int8": ("b", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "float64": ("d", 8),
    "bool": ("?", 1),
    "uuid": ("16s", 16),
}
# Length-prefixed primitives.
VARIABLE_TYPES = frozenset({"string", "bytes", "records"})
PRIMITIVE_TYPES = frozenset(FIXED_TYPES) | VARIABLE_TYPES

ZERO_UUID = bytes(16)


class SpecError(ValueError):
    """A spec file that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Versions:
    """An inclusive version range; empty when lo > hi ("none")."""

    lo: int
    hi: int

    @classmethod
    def parse(cls, text: str | None, default: Versions | None = None) -> Versions:
        if text is None:
            return default if default is not None else NO_VERSIONS
        text = str(text).strip()
        if text == "" or text == "none":
            return NO_VERSIONS
        try:
            if text.endswith("+"):
                return cls(int(text[:-1]), MAX_VERSION)
            if "-" in text:
                lo, hi = text.split("-", 1)
                return cls(int(lo), int(hi))
            return cls(int(text), int(text))
        except ValueError:
            raise SpecError(f"bad version range {text!r}") from None

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lo <= version <= self.hi

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    def __iter__(self):
        return iter(range(self.lo, self.hi + 1))

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.hi == MAX_VERSION:
            return f"{self.lo}+"
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


NO_VERSIONS = Versions(0, -1)


@dataclass(slots=True, eq=False)
class Struct:
    """A struct: the message body, an inline struct or a common struct."""

    name: str
    fields: list[Field]
    versions: Versions


@dataclass(slots=True, eq=False)
class Field:
    name: str  # the spec's name, e.g. "ThrottleTimeMs"
    attr: str  # the Python attribute, e.g. "throttle_time_ms"
    type: str  # the spec's type, e.g. "[]int32", "string", "MetadataResponseTopic"
    versions: Versions
    nullable: Versions = NO_VERSIONS
    tag: int | None = None
    tagged: Versions = NO_VERSIONS
    # Per-field override of compact encoding (only RequestHeader.ClientId uses it).
    flexible: Versions | None = None
    default: object = None  # Python value; arrays: None (null) or [] (a fresh list each time)
    ignorable: bool = False
    struct: Struct | None = None  # element/value struct for struct and struct-array fields

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def elem_type(self) -> str:
        """The element type of an array, else the type itself."""
        return self.type[2:] if self.type.startswith("[]") else self.type

    @property
    def is_struct(self) -> bool:
        """A struct value or an array of structs."""
        return self.struct is not None

    def in_version(self, version: int) -> bool:
        return version in self.versions

    def is_tagged(self, version: int) -> bool:
        return self.tag is not None and version in self.tagged


@dataclass(slots=True, eq=False)
class MessageSpec:
    name: str
    type: str  # "request", "response", "header" or "data"
    api_key: int | None
    valid: Versions
    flexible: Versions
    root: Struct
    # Every struct below the root by type name (unique within a message).
    structs: dict[str, Struct] = field(default_factory=dict)
    listeners: tuple[str, ...] = ()
    latest_version_unstable: bool = False
    source: str = ""


# "..." strings are kept whole so a "//" inside one (a URL in an "about") survives.
_COMMENT_RE = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)


# Kafka's spec files comment whole lines only (their licence header, notes).
_LINE_COMMENT_RE = re.compile(r"^[ \t]*//[^\n]*$", re.M)


def load_json(text: str) -> dict:
    """A spec file's JSON, comments dropped.

    Dropping whole ``//`` lines is enough for Kafka's files and three times faster
    than the general pass (a JSON string cannot span lines, so no string is cut);
    anything else (a trailing or ``/* */`` comment) falls back to strip_comments.
    """
    try:
        return json.loads(_LINE_COMMENT_RE.sub("", text))
    except ValueError:
        return json.loads(strip_comments(text))


def strip_comments(text: str) -> str:
    """Drop // and /* */ comments from a spec file, leaving strings untouched."""
    return _COMMENT_RE.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)


@functools.cache  # field names repeat across messages (ErrorCode, Topics, ...)
def snake_case(name: str) -> str:
    """ThrottleTimeMs -> throttle_time_ms, ISRNodes -> isr_nodes, KRaftVersion -> kraft_version."""
    name = name.replace("KRaft", "Kraft")
    # Lookarounds insert "_" without a replacement template (expanding one is slow).
    name = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.lower()


def _parse_default(raw: object, ftype: str, name: str) -> object:
    """The Python value of a field's default, by Kafka's rules (hex ints, "null", ...)."""
    if ftype.startswith("[]"):
        return None if raw == "null" else []
    if ftype in FIXED_TYPES:
        if ftype == "bool":
            if raw is None:
                return False
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false"):
                return str(raw).lower() == "true"
            raise SpecError(f"{name}: bad bool default {raw!r}")
        if ftype == "float64":
            return 0.0 if raw is None else float(raw)
        if ftype == "uuid":
            if raw in (None, ""):
                return ZERO_UUID
            # Kafka writes uuid defaults base64url-encoded, as Uuid.toString does.
            text = str(raw)
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if raw is None:
            return 0
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        try:
            return int(text, 0) if text.lower().lstrip("-").startswith("0x") else int(text)
        except ValueError:
            raise SpecError(f"{name}: bad integer default {raw!r}") from None
    if ftype == "string":
        if raw is None:
            return ""
        return None if raw == "null" else str(raw)
    if ftype == "bytes":
        return None if raw == "null" else b""
    if ftype == "records":
        return None
    # A struct: only null (or nothing) is a valid default.
    return None


class _Parser:
    def __init__(self, name: str, common: dict[str, dict]):
        self.name = name
        self.common = common
        self.structs: dict[str, Struct] = {}
        self.struct_src: dict[str, object] = {}

    def struct(self, name: str, fields_json: list, versions: Versions, src: object) -> Struct:
        if name in self.structs:
            if self.struct_src[name] is not src:
                raise SpecError(f"{self.name}: struct name {name} is declared twice")
            return self.structs[name]
        st = Struct(name=name, fields=[], versions=versions)
        # Registered before its fields so a self-reference cannot recurse forever.
        self.structs[name] = st
        self.struct_src[name] = src
        st.fields = [self.field(f) for f in fields_json]
        seen: set[str] = set()
        for f in st.fields:
            if f.attr in seen:
                raise SpecError(f"{self.name}.{name}: duplicate field {f.name}")
            seen.add(f.attr)
        tags = [f.tag for f in st.fields if f.tag is not None]
        if len(tags) != len(set(tags)):
            raise SpecError(f"{self.name}.{name}: duplicate tag")
        return st

    def field(self, fj: dict) -> Field:
        try:
            name = fj["name"]
            ftype = fj["type"].strip()
        except KeyError as e:
            raise SpecError(f"{self.name}: field without {e}") from None
        versions = Versions.parse(fj.get("versions"))
        tag = fj.get("tag")
        tagged = Versions.parse(fj.get("taggedVersions"))
        if tag is not None and tagged.empty:
            raise SpecError(f"{self.name}.{name}: tag without taggedVersions")
        flexible = Versions.parse(fj["flexibleVersions"]) if "flexibleVersions" in fj else None
        f = Field(
            name=name,
            attr=snake_case(name),
            type=ftype,
            versions=versions,
            nullable=Versions.parse(fj.get("nullableVersions")),
            tag=int(tag) if tag is not None else None,
            tagged=tagged,
            flexible=flexible,
            default=_parse_default(fj.get("default"), ftype, name),
            ignorable=bool(fj.get("ignorable", False)),
        )
        elem = f.elem_type
        if elem not in PRIMITIVE_TYPES:
            if not elem[:1].isupper():
                raise SpecError(f"{self.name}.{name}: unknown type {ftype}")
            if "fields" in fj:
                f.struct = self.struct(elem, fj["fields"], versions, fj)
            elif elem in self.common:
                cj = self.common[elem]
                f.struct = self.struct(
                    elem, cj["fields"], Versions.parse(cj.get("versions"), versions), cj
                )
            else:
                raise SpecError(f"{self.name}.{name}: struct {elem} has no fields")
        return f


def parse_spec(text: str | dict, source: str = "") -> MessageSpec:
    """Parse one spec (file text with comments, or already-loaded JSON)."""
    data = load_json(text) if isinstance(text, str) else text
    try:
        name = data["name"]
        mtype = data["type"]
        valid = Versions.parse(data["validVersions"])
    except KeyError as e:
        raise SpecError(f"{source or 'spec'}: missing {e}") from None
    common = {c["name"]: c for c in data.get("commonStructs", [])}
    parser = _Parser(name, common)
    root = Struct(name=name, fields=[], versions=valid)
    root.fields = [parser.field(f) for f in data.get("fields", [])]
    if name in parser.structs:
        raise SpecError(f"{name}: a struct has the message's own name")
    return MessageSpec(
        name=name,
        type=mtype,
        api_key=data.get("apiKey"),
        valid=valid,
        flexible=Versions.parse(data.get("flexibleVersions")),
        root=root,
        structs=parser.structs,
        listeners=tuple(data.get("listeners", ())),
        latest_version_unstable=bool(data.get("latestVersionUnstable", False)),
        source=source,
    )


# importlib.resources (and importlib.abc, which imports it) load only when a spec
# directory is listed or a package is not a plain directory: not at start-up.
if TYPE_CHECKING:
    from importlib.abc import Traversable

    Location = str | os.PathLike | Traversable


def package_dir(name: str) -> Traversable:
    """A package's directory, found without importing it.

    Importing kafka.protocol.schemas.resources would first import the whole
    kafka-python client (its top-level __init__); we only want its data files.
    """
    top, _, rest = name.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations)), *rest.split("."))
        if path.is_dir():
            return path
    from importlib import resources

    return resources.files(name)


def _as_traversable(loc: Location) -> Traversable:
    from importlib.abc import Traversable

    if isinstance(loc, Traversable):
        return loc
    path = Path(loc)
    if path.is_dir():
        return path
    if isinstance(loc, str) and os.sep not in loc and "." in loc:
        return package_dir(loc)
    raise SpecError(f"spec location {loc!r} is neither a directory nor a package")


def spec_files(
    locations: Iterable[Location] | None = None, *, extra_dirs: Iterable[Location] = ()
) -> dict[str, tuple[Traversable, str]]:
    """Every *.json spec file in the locations, by file name stem: (file, source).

    Kafka names each file for its message (``FetchRequest.json``); read_spec_file
    checks that. ``locations`` defaults to kafka-python's package data; ``extra_dirs``
    come after it, and a later file replaces an earlier one of the same name. Only
    the directories are listed: no file is read.
    """
    if locations is None:
        locations = [DEFAULT_SPEC_PACKAGE]
    files: dict[str, tuple[Traversable, str]] = {}
    for loc in [*locations, *extra_dirs]:
        base = _as_traversable(loc)
        for entry in sorted(base.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json") and entry.is_file():
                files[entry.name.removesuffix(".json")] = (entry, f"{loc}/{entry.name}")
    return files


def read_spec_file(entry: Traversable, source: str) -> dict:
    """A spec file's JSON (not yet parsed into a MessageSpec)."""
    try:
        data = load_json(entry.read_text(encoding="utf-8"))
        name = data["name"]
    except (ValueError, KeyError, TypeError) as e:
        raise SpecError(f"{source}: {e}") from e
    if name != entry.name.removesuffix(".json"):
        raise SpecError(f"{source}: the file of message {name} must be named {name}.json")
    return data


def load_raw_specs(
    locations: Iterable[Location] | None = None, *, extra_dirs: Iterable[Location] = ()
) -> dict[str, tuple[dict, str]]:
    """Every *.json spec in the locations as JSON, not yet parsed: name -> (data, source)."""
    files = spec_files(locations, extra_dirs=extra_dirs)
    return {name: (read_spec_file(*file), file[1]) for name, file in files.items()}


def parse_raw_spec(data: dict, source: str) -> MessageSpec:
    """parse_spec for load_raw_specs' output, errors naming the file."""
    try:
        return parse_spec(data, source)
    except (ValueError, KeyError, TypeError) as e:
        raise SpecError(f"{source}: {e}") from e


def load_specs(
    locations: Iterable[Location] | None = None, *, extra_dirs: Iterable[Location] = ()
) -> dict[str, MessageSpec]:
    """Parse every *.json spec found in the locations, by spec name.

    ``locations`` defaults to kafka-python's package data; ``extra_dirs`` are read
    after it. A spec read later replaces an earlier one of the same name.
    """
    raw = load_raw_specs(locations, extra_dirs=extra_dirs)
    return {name: parse_raw_spec(data, source) for name, (data, source) in raw.items()}
