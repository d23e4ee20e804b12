"""Java properties files (server.properties, client configs), read as Java reads them."""

from __future__ import annotations

import re
from collections.abc import Iterator


class PropertiesError(ValueError):
    """A properties file Java would refuse to load."""


def parse_properties(text: str) -> dict[str, str]:
    r"""A Java properties file, as java.util.Properties.load reads it (Kafka's
    server.properties and client configs): `key=value`, `key: value` or `key value`;
    `#`/`!` comment lines; a line ending in an odd number of backslashes continues on
    the next (its leading blanks dropped); escapes \t \n \r \f \uXXXX, and a backslash
    before any other character stands for that character (`\\` is one backslash,
    `\=` an equals sign, a regex's `\\.` is `\.`). Values are trimmed, as Kafka's
    ConfigDef trims them."""
    props: dict[str, str] = {}
    for line in _logical_lines(text):
        end = 0
        while end < len(line) and line[end] not in "=: \t\f":
            end += 2 if line[end] == "\\" else 1
        rest = line[end:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:]
        props[_unescape(line[:end])] = _unescape(rest.lstrip(" \t\f")).strip()
    return props


def _logical_lines(text: str) -> Iterator[str]:
    pending: str | None = None
    for raw in text.splitlines():
        line = raw.lstrip(" \t\f")
        if pending is not None:
            line = pending + line
        elif not line or line[0] in "#!":
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2:
            pending = line[:-1]
            continue
        pending = None
        yield line
    if pending:
        yield pending


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_UNICODE_ESCAPE = re.compile(r"[0-9a-fA-F]{4}")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
        elif text[i + 1 : i + 2] == "u":
            if not _UNICODE_ESCAPE.fullmatch(text, i + 2, i + 6):
                raise PropertiesError(f"Malformed \\uxxxx encoding in {text!r}")
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        else:
            following = text[i + 1 : i + 2]
            out.append(_ESCAPES.get(following, following))
            i += 2
    return "".join(out)
