"""The page people use (api.routes.page): GET / and its two files, served from api/page/ by
a fixed list of names, loading nothing from another host. How it behaves in a browser is
tested in Chromium (tests/integration); here, what the server sends."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from quart.testing import QuartClient

from api.openapi import document
from tests.api.test_upload import assert_problem

PAGE_DIR = Path(__file__).resolve().parents[2] / "api" / "page"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# The ids the browser tests rely on (/tmp/issue12/PAGE_CONTRACT.md).
CONTRACT_IDS = {
    "upload-form", "file", "drop-zone", "analysis", "target-duration", "max-highlights",
    "render", "upload-button", "upload-progress", "upload-percent", "abort-upload",
    "session-id", "session-status", "stages", "overall-progress", "cancel-button",
    "delete-button", "results", "reel", "no-reel", "timeline", "workout-summary", "sets",
    "reps-plot", "error", "notice",
}
OTHER_HOST = re.compile(r"https?://|(?<![:\w])//[a-z0-9]", re.IGNORECASE)


class _Page(HTMLParser):
    """The page's elements by id, the URLs it loads, and the ids its labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.loads: list[str] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.elements[str(found["id"])] = (tag, found)
        if tag == "script" and found.get("src"):
            self.loads.append(str(found["src"]))
        if tag == "link" and found.get("href") != "data:,":  # "data:,": no favicon request
            self.loads.append(str(found["href"]))
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))


async def page(client: QuartClient) -> tuple[str, _Page]:
    response = await client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = (await response.get_data()).decode()
    parser = _Page()
    parser.feed(html)
    return html, parser


async def test_the_page_is_html_that_loads_only_our_files(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    html, parser = await page(client)
    assert html == (PAGE_DIR / "index.html").read_text()
    assert not OTHER_HOST.search(html)  # no CDN, no other host, no protocol-relative URL
    assert sorted(parser.loads) == ["/page/app.css", "/page/app.js"]
    for url in parser.loads:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert await asset.get_data() == (PAGE_DIR / url.rsplit("/", 1)[-1]).read_bytes()


async def test_the_page_has_the_contract_elements_labelled(client: QuartClient) -> None:
    html, parser = await page(client)
    assert CONTRACT_IDS <= set(parser.elements), CONTRACT_IDS - set(parser.elements)
    assert 'name="viewport"' in html
    tags = {name: tag for name, (tag, _) in parser.elements.items()}
    assert tags["upload-progress"] == tags["overall-progress"] == "progress"
    assert tags["reel"] == "video" and tags["sets"] == "table" and tags["reps-plot"] == "svg"
    for name in ("upload-button", "abort-upload", "cancel-button", "delete-button"):
        assert tags[name] == "button"
    attrs = {name: found for name, (_, found) in parser.elements.items()}
    assert attrs["file"]["type"] == "file" and attrs["file"]["accept"] == "video/*"
    assert "checked" in attrs["render"] and attrs["upload-button"]["type"] == "submit"
    assert attrs["error"]["role"] == "alert" and attrs["notice"]["role"] == "status"
    controls = {name for name, (tag, found) in parser.elements.items()
                if tag in ("input", "select", "progress")}
    assert controls <= parser.labelled, controls - parser.labelled


@pytest.mark.parametrize(("name", "media"), sorted(ASSETS.items()))
async def test_each_asset_is_served_with_its_type(client: QuartClient, name: str,
                                                  media: str) -> None:
    response = await client.get(f"/page/{name}")
    assert response.status_code == 200 and response.mimetype == media
    assert response.mimetype_params.get("charset") == "utf-8"
    assert await response.get_data() == (PAGE_DIR / name).read_bytes()
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    again = await client.get(f"/page/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and await again.get_data() == b""
    head = await client.head(f"/page/{name}")  # the server (hypercorn) drops HEAD bodies
    assert head.status_code == 200 and head.mimetype == media


async def test_a_changed_copy_is_sent_again(client: QuartClient) -> None:
    response = await client.get("/", headers={"If-None-Match": '"an-old-version"'})
    assert response.status_code == 200 and await response.get_data()


@pytest.mark.parametrize("name", ["index.html", "nope.js", "APP.JS", "app.js.map", "app",
                                  "app.css.bak", "page.py"])
async def test_unknown_assets_are_404_problems(client: QuartClient, name: str) -> None:
    body = await assert_problem(await client.get(f"/page/{name}"), 404)
    assert body["code"] == "not_found"


@pytest.mark.parametrize("path", [
    "/page/../__init__.py", "/page/..%2F__init__.py", "/page/..%2froutes%2fpage.py",
    "/page/%2e%2e%2f%2e%2e%2fpyproject.toml", "/page/%2e%2e", "/page/..", "/page/.",
    "/page/app.js%00", "/page/%2Fetc%2Fpasswd", "/page//app.js", "/page/", "/page",
    "/page/page/app.js", "/index.html",
])
async def test_no_path_reaches_another_file(client: QuartClient, path: str) -> None:
    response = await client.get(path)
    await assert_problem(response, 404)


def test_the_script_talks_only_to_documented_routes() -> None:
    script = (PAGE_DIR / "app.js").read_text()
    hosts = set(re.findall(r"https?://[^\s\"'`]+", script))
    assert hosts <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "url(" not in (PAGE_DIR / "app.css").read_text()  # the style loads nothing
    used = set(re.findall(r"\$\{API\}/([a-z]+)", script))
    assert used == {"upload", "status", "events", "results", "cancel", "cleanup"}
    paths = document()["paths"]
    for route in used:
        assert any(p.startswith(f"/api/v1/video/{route}") for p in paths), route
