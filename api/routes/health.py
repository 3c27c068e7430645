"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import redis
from quart import Blueprint, Response, jsonify

from api.errors import problem
from api.services import services
from queues import keys

bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
async def readyz() -> Response:
    """Ready when Redis answers and accepts a write (a read-only replica is not ready)."""
    try:
        await services().aredis.set(keys.READY_PROBE, "1", ex=60)
    except (redis.RedisError, OSError) as error:
        return problem(503, "Not ready", f"Redis is not writable: {type(error).__name__}.",
                       "/problems/unavailable", code="unavailable")
    return jsonify({"status": "ready"})
