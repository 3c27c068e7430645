"""GET /api/v1/video/webhooks/<id>: the session's webhook deliveries and their attempts."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from api.lookup import load_session
from api.services import services
from queues import keys
from queues.session import F_CALLBACK
from queues.webhooks import DeliveryRecord, delivery_view

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/video")


@bp.get("/webhooks/<session_id>")
async def webhooks(session_id: str) -> Response:
    session = await load_session(session_id)  # 404 / 410 as /status
    aredis = services().aredis
    url = await aredis.hget(keys.session_key(session_id), F_CALLBACK)
    record = DeliveryRecord.from_hash(await aredis.hgetall(keys.webhook_key(session_id)))
    text = url.decode() if isinstance(url, bytes) else (url or "")
    return jsonify({"session_id": session_id,
                    "deliveries": delivery_view(session, text, record)})
