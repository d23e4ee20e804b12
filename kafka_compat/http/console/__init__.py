"""The console at `/`: a single page (static/, plain JS modules, no build step, nothing
from the network) over a JSON API under /api/, served by the broker's HTTP listener.

    common.py    errors as JSON, the write guard, in-process calls to the API handlers
    cluster.py   /api/cluster (brokers, controller), /api/stats (the chart's counters)
    topics.py    /api/topics: list, describe, create, delete, alter configs
    messages.py  /api/topics/{t}/partitions/{p}/messages: browse; /api/topics/{t}/messages: produce
    groups.py    /api/groups: list, describe, reset offsets, delete

The API is the page's only source: it reads the broker's components and calls its own
handlers and coordinators, never a Kafka client to this broker. docs/console.md has
the routes and the security note (http.console.write.enable).
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from kafka_compat.apis.registry import Components
from kafka_compat.http.console import cluster, groups, messages, topics
from kafka_compat.http.console.common import ApiError, endpoint

STATIC = Path(__file__).parent / "static"


def routes(components: Components) -> list[BaseRoute]:
    """The console's routes: the page, its assets, and the JSON API."""

    def api(path: str, fn, methods: list[str]) -> Route:
        return Route(f"/api{path}", endpoint(fn, components), methods=methods)

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def not_found(request, components):
        raise ApiError(404, f"No such API route: {request.method} {request.url.path}")

    topic = "/topics/{topic}"
    return [
        Route("/", index, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        api("/cluster", cluster.ClusterView(), ["GET"]),
        api("/stats", cluster.stats, ["GET"]),
        api("/topics", topics.list_topics, ["GET"]),
        api("/topics", topics.create_topic, ["POST"]),
        api(topic, topics.describe_topic, ["GET"]),
        api(topic, topics.delete_topic, ["DELETE"]),
        api(f"{topic}/configs", topics.alter_configs, ["PATCH"]),
        api(f"{topic}/messages", messages.produce, ["POST"]),
        api(f"{topic}/partitions/{{partition}}/messages", messages.browse, ["GET"]),
        api("/groups", groups.list_groups, ["GET"]),
        api("/groups/{group}", groups.describe_group, ["GET"]),
        api("/groups/{group}", groups.delete_group, ["DELETE"]),
        api("/groups/{group}/reset-offsets", groups.reset_offsets, ["POST"]),
        Route(
            "/api/{rest:path}",
            endpoint(not_found, components),
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
    ]
