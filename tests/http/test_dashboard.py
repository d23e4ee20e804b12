"""The Grafana dashboard and docs/metrics.md name only what /metrics exports, and
docs/metrics.md names all of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kafka_compat.http.metrics import Snapshot, render

DOCS = Path(__file__).resolve().parents[2] / "docs"
# A metric name in a PromQL expression (label names and values are lower-case words
# too, but never start with kafka_).
_METRIC = re.compile(r"\bkafka_[a-z0-9_]+\b")


def exported_names() -> set[str]:
    """Every sample name /metrics can carry: an empty broker's scrape still lists each
    family (HELP/TYPE), and a family's sample names follow from its type."""
    names = set()
    for family in text_string_to_metric_families(render(Snapshot()).decode()):
        suffixes = {
            "counter": ("_total",),
            "summary": ("", "_count", "_sum"),
            "gauge": ("",),
        }[family.type]
        names.update(family.name + suffix for suffix in suffixes)
    return names


def dashboard_expressions(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, dict) and "query" in value:
                found.append(value["query"])
            else:
                found.extend(dashboard_expressions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(dashboard_expressions(item))
    return found


def test_the_dashboard_is_json_and_queries_only_exported_metrics():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    assert dashboard["panels"]
    expressions = dashboard_expressions(dashboard)
    queried = {name for expr in expressions for name in _METRIC.findall(expr)}
    assert len(queried) >= 15
    assert queried - exported_names() == set()
    assert all(panel["targets"] for panel in dashboard["panels"])


def test_docs_list_every_exported_metric():
    # The names in the first column of the docs' tables.
    rows = [line for line in (DOCS / "metrics.md").read_text().splitlines() if line.startswith("|")]
    documented = {m.group(1) for row in rows if (m := re.match(r"\| `(kafka_[a-z0-9_]+)`", row))}
    # The docs name a summary once (its _count and _sum are implied).
    missing = {
        n for n in exported_names() if n not in documented and not n.endswith(("_count", "_sum"))
    }
    assert missing == set()
    assert documented - exported_names() == set()
