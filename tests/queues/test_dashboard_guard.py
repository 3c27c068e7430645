"""The dashboard's guard on a bare Flask app: who may log in, and which requests count as
coming from the dashboard's own pages. test_dashboard.py checks it on the real dashboard."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Authorization

from queues.dashboard_guard import credentials_match, install_guard

USER, PASSWORD = "operator", "correct horse battery"
SAME_ORIGIN = "http://localhost"  # Flask's test client sends Host: localhost


def basic_auth(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def client() -> FlaskClient:
    """A logged-in client of an app with one page and one action behind the guard."""
    app = Flask(__name__)
    app.add_url_rule("/page", "page", lambda: "page")
    app.add_url_rule("/action", "action", lambda: "done", methods=["POST", "DELETE"])
    install_guard(app, USER, PASSWORD)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = basic_auth()
    return client


def test_never_installs_open() -> None:
    for user, password in [(USER, ""), ("", PASSWORD)]:
        with pytest.raises(ValueError, match="password"):
            install_guard(Flask(__name__), user, password)


@pytest.mark.parametrize("authorization", [
    "", basic_auth(password="wrong password!"), basic_auth(user="admin"),
    basic_auth(password=""), basic_auth(password=PASSWORD + "x"), f"Bearer {PASSWORD}",
    "Basic not-base64!",
], ids=["none", "wrong-password", "wrong-user", "empty-password", "longer-password", "bearer",
        "garbled"])
def test_wrong_or_missing_login_gets_401(client: FlaskClient, authorization: str) -> None:
    response = client.get("/page", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="rq-dashboard"'


def test_right_login_gets_the_page_with_anti_framing_headers(client: FlaskClient) -> None:
    response = client.get("/page")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "page")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_credentials_compare_non_ascii_passwords() -> None:
    auth = Authorization("basic", {"username": USER, "password": "pässwörd-über"})
    assert credentials_match(auth, USER, "pässwörd-über")
    assert not credentials_match(auth, USER, "passwort-uber")


CROSS_ORIGIN = {
    "other-site": {"Origin": "https://evil.example"},
    "other-port": {"Origin": "http://localhost:3000"},
    "host-prefix": {"Origin": "http://localhost.evil.example"},
    "null-origin": {"Origin": "null"},
    "other-scheme": {"Origin": "ftp://localhost"},
    "other-site-referer": {"Referer": "https://evil.example/page"},
    "sec-fetch-cross-site": {"Origin": SAME_ORIGIN, "Sec-Fetch-Site": "cross-site"},
    "sec-fetch-same-site": {"Origin": SAME_ORIGIN, "Sec-Fetch-Site": "same-site"},
    "no-origin-at-all": {},
}
SAME_ORIGIN_HEADERS = {
    "origin": {"Origin": SAME_ORIGIN},
    "origin-upper-case": {"Origin": SAME_ORIGIN.upper()},
    "referer": {"Referer": f"{SAME_ORIGIN}/0/view/jobs/pipeline/failed/8/asc/1"},
    "origin-and-sec-fetch": {"Origin": SAME_ORIGIN, "Sec-Fetch-Site": "same-origin"},
}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("headers", CROSS_ORIGIN.values(), ids=CROSS_ORIGIN.keys())
def test_cross_origin_action_gets_403_even_logged_in(
        client: FlaskClient, headers: dict[str, str], method: str) -> None:
    assert client.open("/action", method=method, headers=headers).status_code == 403


@pytest.mark.parametrize("headers", SAME_ORIGIN_HEADERS.values(), ids=SAME_ORIGIN_HEADERS.keys())
def test_same_origin_action_works(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post("/action", headers=headers)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "done")


def test_same_origin_behind_another_host_name(client: FlaskClient) -> None:
    """An SSH tunnel on another local port, or a proxy passing Host on: the Host decides."""
    headers = {"Host": "dash.internal:8443", "Origin": "https://dash.internal:8443"}
    assert client.post("/action", headers=headers).status_code == 200


def test_pages_need_no_origin(client: FlaskClient) -> None:
    """Reading is not guarded by origin: a typed URL or a bookmark sends no Origin."""
    headers = {"Sec-Fetch-Site": "cross-site"}
    assert client.get("/page", headers=headers).status_code == 200
