"""The layers go one way and no module imports itself back (type-only and
function-level imports included).

`protocol` -> `storage` -> the broker's base (config, topic names, clock, events, the
metadata-store interface and cache, the broker-to-broker client) -> the replica ->
the replica manager -> the coordinators, cluster, admin and log tasks -> `apis` ->
`server` -> `broker` (the composition root) -> the CLI and dev cluster. A module may
import its own layer or those below; docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "storage", "kafka_compat")

# Longest matching prefix wins; every module must match one.
LAYERS: dict[str, int] = {
    "protocol": 0,
    "storage": 1,
    "kafka_compat": 2,  # the package docstring only
    "kafka_compat.config": 2,
    "kafka_compat.config_values": 2,
    "kafka_compat.properties": 2,
    "kafka_compat.config_docs": 2,
    "kafka_compat.dynamic_config": 2,
    "kafka_compat.topics": 2,
    "kafka_compat.clock": 2,
    "kafka_compat.metrics": 2,
    "kafka_compat.events": 2,
    "kafka_compat.cluster": 2,  # the package itself
    "kafka_compat.cluster.store": 2,
    "kafka_compat.cluster.metadata_cache": 2,
    "kafka_compat.cluster.client": 2,
    "kafka_compat.cluster.zk_data": 2,
    "kafka_compat.cluster.placement": 2,
    "kafka_compat.cluster.election": 2,
    "kafka_compat.cluster.features": 2,
    "kafka_compat.cluster.alter_partition": 2,
    "kafka_compat.replica": 3,
    "kafka_compat.replica_fetcher": 4,
    "kafka_compat.replica_alter_log_dirs": 4,
    "kafka_compat.replica_manager": 4,
    "kafka_compat.delayed_fetch": 4,
    "kafka_compat.fetch_session": 4,
    "kafka_compat.replica_selector": 4,
    "kafka_compat.internal_topic": 4,
    "kafka_compat.groups": 5,
    "kafka_compat.txn": 5,
    "kafka_compat.security": 5,
    "kafka_compat.security.listeners": 2,  # config.py parses listeners with it
    "kafka_compat.cluster.zk_client": 5,
    "kafka_compat.cluster.zk_cache": 5,
    "kafka_compat.cluster.zk_admin": 5,
    "kafka_compat.cluster.zk_store": 5,
    "kafka_compat.cluster.controller": 5,
    "kafka_compat.cluster.controller_channel": 5,
    "kafka_compat.cluster.controller_context": 5,
    "kafka_compat.cluster.controller_log_dirs": 5,
    "kafka_compat.cluster.membership": 5,
    "kafka_compat.admin_manager": 5,
    "kafka_compat.quotas": 5,
    "kafka_compat.producer_ids": 5,
    "kafka_compat.log_tasks": 5,
    "kafka_compat.apis": 6,
    "kafka_compat.server": 7,
    "kafka_compat.acceptor": 7,
    "kafka_compat.http": 7,
    "kafka_compat.broker": 8,
    "kafka_compat.cli": 9,
    "kafka_compat.serving": 9,
    "kafka_compat.tools": 9,
    "kafka_compat.devcluster": 9,
    "kafka_compat.testing": 9,
    "kafka_compat.pytest_plugin": 10,
    "kafka_compat.__main__": 9,
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, wherever the import statement is."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    if not is_package:
                        anchor = anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        graph[name] = {
            _owner(t, modules) for t in targets if _owner(t, modules) not in (None, name)
        }
    return graph


def _owner(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    probe = module
    while probe:
        if probe in LAYERS:
            return LAYERS[probe]
        probe = probe.rpartition(".")[0]
    raise AssertionError(f"{module} has no layer in tests/test_import_graph.py")


def test_no_import_cycle_anywhere():
    assert cycles(import_graph(_modules())) == []


def test_imports_go_down_the_layers_only():
    graph = import_graph(_modules())
    upward = sorted(
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in graph.items()
        for target in targets
        if layer(target) > layer(source)
    )
    assert upward == []


def test_only_the_entry_points_and_tests_import_the_broker():
    graph = import_graph(_modules())
    importers = sorted(s for s, targets in graph.items() if "kafka_compat.broker" in targets)
    assert set(importers) <= {"kafka_compat.cli", "kafka_compat.devcluster", "kafka_compat.testing"}


def test_the_checker_sees_a_cycle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert layer("kafka_compat.replica") < layer("kafka_compat.apis.fetch")
