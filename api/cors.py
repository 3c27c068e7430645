"""CORS for the frontend's origin(s), from the CORS_ORIGINS setting."""

from __future__ import annotations

from quart import Quart, Response, request

EXPOSED = ("Location, Retry-After, Content-Range, Accept-Ranges, Content-Length, "
           "Idempotent-Replayed")


def install_cors(app: Quart, origins: tuple[str, ...]) -> None:
    if not origins:
        return
    allow_any = "*" in origins

    @app.after_request
    async def add_cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if not origin or not (allow_any or origin in origins):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
        if not allow_any:
            response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type, Range")
            response.headers["Access-Control-Max-Age"] = "600"
        return response
