"""docs/compatibility.md's API table says what ApiVersions advertises: every API the
handler registry serves has a row with its versions, and no row claims an API that is
not served."""

from __future__ import annotations

import re
from pathlib import Path

from kafka_compat.apis.handlers import load_handlers

DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
ROW = re.compile(r"^\| (?P<name>[^|]+?) \((?P<key>\d+)\) \| (?P<served>[^|]+?) \|", re.M)


def _versions(api) -> str:
    lo, hi = api.min_version, api.max_version
    return str(lo) if lo == hi else f"{lo}-{hi}"


def test_the_api_table_matches_the_registry():
    rows = {int(m["key"]): m["served"] for m in ROW.finditer(DOC.read_text())}
    served = {int(key): _versions(api) for key, api in load_handlers().items()}
    assert {k: v for k, v in rows.items() if v != "—"} == served
