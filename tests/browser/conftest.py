"""The page at / in a real headless Chromium (Debian's chromium + chromedriver, via Selenium)
against the real service: redis-server, two `python -m queues.worker`, hypercorn as Procfile.
Without a Chromium the tests skip with one reason line; under CI=true they fail instead."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

from tests.groundtruth.workout import ClipSpec, write_clip
from tests.integration.http import Client, running_service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "apt-get install chromium chromium-driver"
# Its own Redis database: the integration stack (db 1) may still be running in the same
# pytest session, and its workers must not take this stack's jobs.
REDIS_DB = 4
DESKTOP = (1280, 900)
PHONE = (360, 740)

_saved: list[Path] = []  # screenshots written by this run, listed in the terminal summary


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)  # real processes: not for `make test-fast`


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _saved:
        terminalreporter.section("browser test artifacts")
        terminalreporter.write_line(f"{len(_saved)} screenshots in {artifacts_dir()}:")
        for path in sorted(_saved):
            terminalreporter.write_line(f"  {path.name}")


def missing_browser() -> str | None:
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            return f"browser tests skipped: {exe} not found; {INSTALL_HINT}"
    return None


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_module_without_browser() -> None:
    """Called at the top of each browser test module: one skip line in -rs for the module
    rather than one per test. Under CI the module is collected and every test fails."""
    reason = missing_browser()
    if reason and not under_ci():
        pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="session", autouse=True)
def _need_browser() -> None:
    """CI must not skip them silently: without a browser each test fails with the reason."""
    reason = missing_browser()
    if reason:
        pytest.fail(reason.replace("skipped", "cannot run under CI"), pytrace=False)


def artifacts_dir() -> Path:
    return Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "artifacts" / "browser")


@dataclass
class Stack:
    client: Client
    media_root: Path

    @property
    def base_url(self) -> str:
        return self.client.base_url


@pytest.fixture(scope="session")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The service as the Procfile runs it, on a Redis database of its own."""
    media = tmp_path_factory.mktemp("browser-media")
    env = {"REDIS_URL": redis_server.rsplit("/", 1)[0] + f"/{REDIS_DB}",
           "MEDIA_ROOT": str(media), "MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
           "CANCEL_GRACE": "1.5", "ANALYSIS_LONG_SIDE": "128",
           "METRICS_PORT": "0"}  # another stack in this session may hold a metrics port
    with running_service(env, tmp_path_factory.mktemp("browser-logs")) as running:
        yield Stack(running.client, media)


def start_chromium(profile: Path, size: tuple[int, int]) -> webdriver.Chrome:
    """Debian's chromium and chromedriver by path: Selenium Manager never downloads."""
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox",  # CI runs as root
                f"--window-size={size[0]},{size[1]}", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One desktop-sized Chromium for the session (1280x900); each test loads the page."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"), DESKTOP)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """A 360x740 phone: mobile emulation, so the page's meta viewport decides the layout."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-phone"), PHONE)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshot() -> Callable[[webdriver.Chrome, str], Path]:
    """Save the whole page (beyond the viewport) as <artifacts>/<name>.png."""
    folder = artifacts_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("[0-9][0-9]-*.png"):  # a previous run's: not this run's states
        stale.unlink()

    def save(driver: webdriver.Chrome, name: str) -> Path:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
        path = folder / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        if path not in _saved:
            _saved.append(path)
        return path

    return save


@pytest.fixture(scope="session")
def clips(video_factory: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Path]:
    """The uploads: a short clip with audio, a long one, a text file named .mp4, squats."""
    bad = tmp_path_factory.mktemp("bad") / "notes.mp4"
    bad.write_text("these are meeting notes, not a video\n" * 20)
    # 25 s, silent: two sets of five squats with a rest between (tests/groundtruth)
    squats = bad.parent / "squats.mp4"
    write_clip(ClipSpec("browser-squats", "clean", "squat", 1, width=320, height=180,
                        tempo=(1.0, 1.6), max_active=14, max_rest=8), squats)
    return {"small": video_factory("browser-small", seconds=6, size="320x240"),
            # long enough at 640x360 to still be processing when Cancel is clicked
            "long": video_factory("browser-long", seconds=60, size="640x360", fps=30),
            "bad": bad, "squats": squats}
