"""The Quart HTTP API (the frontend's contract is ../shared/API.md). ``create_app`` builds it."""

from __future__ import annotations

import redis
import redis.asyncio
from quart import Quart

from api.backpressure import BackpressureConnection, StreamingRequest
from api.cors import install_cors
from api.errors import register_error_handlers
from api.event_hub import install_event_hub
from api.metrics_server import install_metrics
from api.routes import docs, events, health, legacy, page, video, webhooks
from api.server_errors import install_hypercorn_problems
from api.services import Services
from api.upload import MULTIPART_OVERHEAD
from queues.connection import async_redis, open_storage, session_store, web_redis
from queues.logs import configure_logging
from queues.settings import Settings


def create_app(settings: Settings | None = None, *,
               redis_client: redis.asyncio.Redis | None = None,
               sync_client: redis.Redis | None = None) -> Quart:
    """App factory; tests pass fakeredis clients, production builds them from settings."""
    if settings is None:  # hypercorn's "api:create_app()": this process starts here
        settings = Settings.from_env()
        configure_logging(settings.log_format)  # before startup logs (hypercorn's comes later)
    install_hypercorn_problems()  # hypercorn's own error answers get problem+json bodies too
    app = Quart(__name__, static_folder=None)  # no /static route: every URL is documented
    # Bodies are pulled by the app at its own pace (api.backpressure), not buffered whole.
    app.asgi_http_class = BackpressureConnection
    app.request_class = StreamingRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + MULTIPART_OVERHEAD,
        # Uploads are read chunk by chunk with their own idle timeout (api.upload); a whole
        # large upload over a slow link may take long.
        BODY_TIMEOUT=None,
        RESPONSE_TIMEOUT=None,  # the reel download of a slow client, the legacy wait
        PROPAGATE_EXCEPTIONS=False,
    )
    # werkzeug redirects a path with "//", and one missing a rule's trailing slash: a 308
    # with an HTML body that error handlers never see (and a client following it re-sends a
    # whole upload). Instead "//" paths are unknown (404 problem+json) and a trailing slash
    # is optional, so routing never redirects. (Set before any rule binds.)
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    register_error_handlers(app)
    install_cors(app, settings.cors_origins)
    for blueprint in (video.bp, legacy.bp, health.bp, docs.bp, webhooks.bp, events.bp,
                      page.bp):
        app.register_blueprint(blueprint)

    @app.before_serving
    async def open_clients() -> None:
        blocking = sync_client or web_redis(settings)
        app.extensions["video"] = Services(
            settings=settings,
            aredis=redis_client or async_redis(settings),
            sync_redis=blocking,
            store=session_store(blocking, settings),
            storage=open_storage(settings),
        )

    @app.after_serving
    async def close_clients() -> None:
        svc: Services = app.extensions.pop("video")
        if redis_client is None:
            await svc.aredis.aclose()
        if sync_client is None:
            svc.sync_redis.close()

    install_event_hub(app)  # after open_clients: the hub uses its client
    install_metrics(app, settings)  # METRICS_PORT: a port of its own, not a route here
    return app
