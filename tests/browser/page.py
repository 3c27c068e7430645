"""Driving the page by its DOM contract (/tmp/issue12/PAGE_CONTRACT.md): ids, not layout."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import Stack

T = TypeVar("T")
API = "/api/v1/video"
Shot = Callable[[Chrome, str], Path]  # the screenshot fixture
TERMINAL = ("completed", "failed", "cancelled")

# Samples the progress elements every 10 ms into window.__samples, keeping only changes:
# a loopback upload or a short stage can be over between two WebDriver round trips.
RECORDER = """
window.__samples = [];
let last = '';
window.__recorder = setInterval(() => {
  const up = document.getElementById('upload-progress');
  const overall = document.getElementById('overall-progress');
  const stages = {};
  for (const li of document.querySelectorAll('#stages li[data-stage]')) {
    const bar = li.querySelector('progress');
    stages[li.dataset.stage] = bar ? bar.value : null;
  }
  const status = document.getElementById('session-status');
  const sample = {upload: up ? up.value / (up.max || 1) : null,
                  overall: overall ? overall.value : null, stages,
                  status: status ? status.textContent.trim().toLowerCase() : null};
  const key = JSON.stringify(sample);
  if (key !== last) { window.__samples.push(sample); last = key; }
}, 10);
"""


def wait_for(what: Callable[[], T | None], timeout: float = 60, message: str = "",
             driver: Chrome | None = None) -> T:
    """Poll until ``what()`` is truthy; on timeout say what and show the browser console."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = what()
        except WebDriverException:
            value = None  # the element is not there yet or was just replaced
        if value:
            return value
        if time.monotonic() > deadline:
            console = console_lines(driver) if driver else []
            raise AssertionError(f"timed out after {timeout}s: {message}\n" + "\n".join(console))
        time.sleep(0.05)


def console_lines(driver: Chrome) -> list[str]:
    try:
        return [f"console {e['level']}: {e['message']}" for e in driver.get_log("browser")]
    except WebDriverException:
        return []


def by_id(driver: Chrome, name: str) -> WebElement:
    return driver.find_element(By.ID, name)


def text(driver: Chrome, name: str) -> str:
    found = driver.find_elements(By.ID, name)
    return found[0].text.strip() if found else ""


def status(driver: Chrome) -> str:
    return text(driver, "session-status").lower()


def load(driver: Chrome, base_url: str, query: str = "") -> None:
    driver.get(base_url + "/" + query)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete",
             10, "page load", driver)


def choose_upload(driver: Chrome, video: Path, analysis: str = "all",
                  target_duration: str | None = None, max_highlights: str | None = None,
                  render: bool = True) -> None:
    """Fill the upload form (the file through the real file input) without submitting."""
    by_id(driver, "file").send_keys(str(video))
    Select(by_id(driver, "analysis")).select_by_value(analysis)
    for name, value in (("target-duration", target_duration), ("max-highlights", max_highlights)):
        if value is not None:
            field = by_id(driver, name)
            field.clear()
            field.send_keys(value)
    box = by_id(driver, "render")
    if box.is_selected() != render:
        box.click()


def throttle_upload(driver: Chrome, bytes_per_second: int | None) -> None:
    """DevTools network throttling of uploads only (None: off), so a loopback upload of a
    small clip takes long enough to show its progress bar and to be aborted."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": bytes_per_second or -1})


def upload_fraction(driver: Chrome) -> float:
    return float(driver.execute_script(
        "const p = document.getElementById('upload-progress');"
        "return p ? p.value / (p.max || 1) : 0;"))


def submit(driver: Chrome, record: bool = False) -> None:
    if record:
        driver.execute_script(RECORDER)
    by_id(driver, "upload-button").click()


def samples(driver: Chrome) -> list[dict[str, Any]]:
    return driver.execute_script("clearInterval(window.__recorder); return window.__samples;")


def session_id(driver: Chrome, timeout: float = 30) -> str:
    return wait_for(lambda: text(driver, "session-id"), timeout, "#session-id shown", driver)


def wait_status(driver: Chrome, wanted: tuple[str, ...], timeout: float = 60) -> str:
    return wait_for(lambda: next((s for s in wanted if s in status(driver)), None), timeout,
                    f"#session-status one of {wanted}", driver)


def click(driver: Chrome, name: str) -> None:
    by_id(driver, name).click()
    try:  # a page may confirm() before a destructive action: answer yes
        driver.switch_to.alert.accept()
    except NoAlertPresentException:
        pass


def reel_state(driver: Chrome) -> dict[str, Any]:
    return driver.execute_script(
        "const v = document.getElementById('reel');"
        "return v ? {readyState: v.readyState, duration: v.duration, src: v.currentSrc,"
        " error: v.error && v.error.code, time: v.currentTime, paused: v.paused} : null;")


def play_reel(driver: Chrome) -> float:
    """Start the reel (muted) and return how far it played within 5 s."""
    return float(driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const v = document.getElementById('reel');
        v.muted = true;
        const t0 = v.currentTime;
        const stop = () => { v.pause(); done(v.currentTime - t0); };
        v.play().catch(() => done(-1));
        setTimeout(stop, 5000);
        v.addEventListener('timeupdate', () => { if (v.currentTime - t0 > 0.2) stop(); });
    """))


def no_horizontal_scroll(driver: Chrome) -> dict[str, int]:
    return driver.execute_script(
        "return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth};")


def unlabelled_controls(driver: Chrome) -> list[str]:
    """Form controls with neither a <label>, aria-label nor aria-labelledby; buttons' text."""
    return driver.execute_script("""
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea, button')) {
          if (el.type === 'hidden') continue;
          const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby')
            || (el.tagName === 'BUTTON' && el.textContent.trim());
          if (!named) out.push(el.id || el.outerHTML.slice(0, 80));
        }
        return out;
    """)


def api_results(stack: Stack, sid: str) -> dict[str, Any]:
    reply = stack.client.get(f"{API}/results/{sid}")
    assert reply.status == 200, reply.body
    return reply.json()
