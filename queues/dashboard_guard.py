"""The dashboard's door: a basic-auth login on every request, proof of same origin on every
request that changes state, and headers that keep its pages out of other sites' frames.
Imports only flask; knows rq-dashboard by one endpoint name."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import flask
from werkzeug.datastructures import Authorization

REALM = "rq-dashboard"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# rq-dashboard 0.9.0 requeues every failed job on GET as well as POST (its own UI only POSTs),
# so a cross-site link or <img> could trigger it: guard it like any unsafe request.
STATE_CHANGING_GETS = frozenset({"rq_dashboard.requeue_all"})
SECURITY_HEADERS = {
    # Framed by another site, the operator's own clicks would be same-origin POSTs.
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    # URLs carry job ids, which carry session ids: never hand them to other sites, but keep
    # the Referer to ourselves, the same-origin check's fallback when Origin is missing.
    "Referrer-Policy": "same-origin",
}


def install_guard(app: flask.Flask, user: str, password: str) -> None:
    """Make every request to ``app`` log in, and every state change come from its own pages."""
    if not (user and password):
        raise ValueError("the dashboard guard needs a user and a password")  # fail closed

    # On the app, not the blueprint: rq-dashboard's own add_basic_auth mutates its
    # module-level blueprint, and so would every app that registers it.
    @app.before_request
    def guard() -> flask.Response | None:
        request = flask.request
        if not credentials_match(request.authorization, user, password):
            return login_required()
        if changes_state(request) and not is_same_origin(request):
            return flask.Response("Cross-origin request refused\n", 403,
                                  mimetype="text/plain")
        return None

    @app.after_request
    def add_security_headers(response: flask.Response) -> flask.Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def credentials_match(auth: Authorization | None, user: str, password: str) -> bool:
    """Whether a request's basic-auth credentials are ``user`` and ``password``."""
    if auth is None or auth.type != "basic":
        return False
    # Both parts always compared, in constant time (bytes: compare_digest refuses non-ASCII
    # str), so the time taken tells neither which part nor how much of it was right.
    user_ok = hmac.compare_digest((auth.username or "").encode(), user.encode())
    password_ok = hmac.compare_digest((auth.password or "").encode(), password.encode())
    return user_ok & password_ok


def login_required() -> flask.Response:
    return flask.Response("Login required\n", 401, mimetype="text/plain",
                          headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


def changes_state(request: flask.Request) -> bool:
    return request.method not in SAFE_METHODS or request.endpoint in STATE_CHANGING_GETS


def is_same_origin(request: flask.Request) -> bool:
    """Whether the browser says the request comes from a page of this very host.

    Browsers send basic-auth credentials on cross-site form posts too, so the login alone
    does not stop forged requests. A request that says nothing of where it comes from is
    refused: current browsers send ``Origin`` on every POST, and a script can send it too."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        return False  # "cross-site"; "same-site" is a sibling host, another origin all the same
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    parts = urlsplit(source)  # Origin "null" (sandboxed frames, data: URLs) has no host
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()
