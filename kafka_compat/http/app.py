"""The HTTP app: Starlette routes served by Hypercorn's Trio worker on the broker's loop.

Routes: `/metrics` (Prometheus text, http/metrics.py) and the console (http/console/:
the page at `/`, its assets under /static, its JSON API under /api), added through
`build_app(components, routes=...)`; every handler gets the broker's `Components` and
reads state from them, never through a Kafka client.

Why Hypercorn + Starlette: Hypercorn has a native Trio worker (it runs inside our
nursery, on our loop, cancelled with it), Starlette runs on Trio through anyio, and
both are well kept; uvicorn is asyncio-only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from kafka_compat.apis.registry import Components
from kafka_compat.http import console
from kafka_compat.http.metrics import CONTENT_TYPE, MetricsEndpoint

log = logging.getLogger(__name__)


def build_app(components: Components, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The broker's ASGI app: /metrics, and `routes` (a console's pages and assets)."""
    metrics = MetricsEndpoint(components)

    async def metrics_page(request: Request) -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    async def index(request: Request) -> Response:
        return PlainTextResponse(
            f"kafka-compat broker {components.node_id}\n/metrics  Prometheus metrics\n"
        )

    own = [Route("/metrics", metrics_page, methods=["GET"])]
    if not any(getattr(r, "path", None) == "/" for r in routes):
        own.append(Route("/", index, methods=["GET"]))
    return Starlette(routes=[*own, *routes])


async def serve(fd: int, components: Components, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the app on the listening socket `fd` until cancelled."""
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("kafka_compat.http.hypercorn")
    config.graceful_timeout = 0.5  # the broker is stopping: do not wait for scrapers
    config.keep_alive_timeout = 75  # Prometheus keeps its scrape connection open
    app = build_app(components, routes=console.routes(components))
    await hypercorn_serve(app, config, shutdown_trigger=trio.sleep_forever, task_status=task_status)
