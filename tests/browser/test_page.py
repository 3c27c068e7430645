"""The page at / in headless Chromium against the real service: labelled controls, abort,
cancel, delete, a bad file, resume on reload, a 360 px phone. Screenshots of each state."""

from __future__ import annotations

import time
from pathlib import Path

from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.browser.conftest import Stack, skip_module_without_browser
from tests.browser.page import (
    API,
    TERMINAL,
    Shot,
    by_id,
    choose_upload,
    click,
    load,
    no_horizontal_scroll,
    reel_state,
    session_id,
    submit,
    text,
    throttle_upload,
    unlabelled_controls,
    upload_fraction,
    wait_for,
    wait_status,
)

skip_module_without_browser()


def test_page_loads_with_labelled_controls_from_our_origin(browser: Chrome, stack: Stack,
                                                          screenshot: Shot) -> None:
    load(browser, stack.base_url)
    for name in ("upload-form", "file", "drop-zone", "analysis", "target-duration",
                 "max-highlights", "render", "upload-button"):
        assert browser.find_elements(By.ID, name), f"#{name} missing"
    assert by_id(browser, "upload-button").is_displayed()
    assert by_id(browser, "render").is_selected(), "render is checked by default"
    assert by_id(browser, "file").get_attribute("accept") == "video/*"
    assert unlabelled_controls(browser) == []
    assert not by_id(browser, "results").is_displayed()
    assert not text(browser, "error")
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);")
    assert [u for u in loaded if not u.startswith(stack.base_url)] == [], "no CDN"
    screenshot(browser, "01-start")


def test_abort_an_upload_in_flight(browser: Chrome, stack: Stack, clips: dict[str, Path],
                                   screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["small"], "highlights")
    throttle_upload(browser, 100_000)
    try:
        submit(browser)
        wait_for(lambda: 0 < upload_fraction(browser) < 0.5, 10, "upload started", browser)
        click(browser, "abort-upload")
        aborted_at = upload_fraction(browser)
        time.sleep(1)  # were the XHR still going, the bar would move on
        assert upload_fraction(browser) in (aborted_at, 0)
        assert not text(browser, "session-id")
        assert text(browser, "notice") or text(browser, "error"), "the person is told"
        wait_for(lambda: by_id(browser, "upload-button").is_enabled(), 5, "form usable", browser)
        screenshot(browser, "06-aborted")
    finally:
        throttle_upload(browser, None)


def test_cancel_a_running_upload(browser: Chrome, stack: Stack, clips: dict[str, Path],
                                 screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["long"], "highlights")
    submit(browser)
    sid = session_id(browser)
    wait_status(browser, ("queued", "processing"), 30)
    wait_for(lambda: by_id(browser, "cancel-button").is_enabled(), 10, "Cancel enabled", browser)
    screenshot(browser, "07-running")
    click(browser, "cancel-button")
    wait_status(browser, ("cancelled",), 15)
    wait_for(lambda: "cancelled" in text(browser, "notice").lower(), 5, "#notice", browser)
    assert not by_id(browser, "cancel-button").is_enabled()
    assert stack.client.get(f"{API}/status/{sid}").json()["status"] == "cancelled"
    screenshot(browser, "08-cancelled")


def test_delete_says_so_and_the_session_is_gone(browser: Chrome, stack: Stack,
                                                clips: dict[str, Path],
                                                screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["small"], "highlights", render=False)
    submit(browser)
    sid = session_id(browser)
    wait_status(browser, TERMINAL, 60)
    click(browser, "delete-button")
    wait_for(lambda: "deleted" in text(browser, "notice").lower(), 10, "#notice", browser)
    assert stack.client.get(f"{API}/status/{sid}").status == 410
    screenshot(browser, "09-deleted")


def test_bad_file_shows_the_problem_detail(browser: Chrome, stack: Stack,
                                           clips: dict[str, Path], screenshot: Shot) -> None:
    expected = stack.client.upload(f"{API}/upload", clips["bad"], filename="notes.mp4")
    assert expected.status in (415, 422), expected.body
    load(browser, stack.base_url)
    choose_upload(browser, clips["bad"], "highlights")
    submit(browser)
    wait_for(lambda: by_id(browser, "error").is_displayed() and text(browser, "error"), 15,
             "#error shown", browser)
    assert expected.json()["detail"] in text(browser, "error")
    assert by_id(browser, "error").get_attribute("role") == "alert"
    assert not text(browser, "session-id")
    screenshot(browser, "10-bad-file")


def test_reload_with_session_in_the_url_resumes(browser: Chrome, stack: Stack,
                                                clips: dict[str, Path],
                                                screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["small"], "highlights", target_duration="3")
    submit(browser)
    sid = session_id(browser)
    assert f"session={sid}" in browser.current_url
    browser.refresh()  # mid-processing or not: the page picks the session up from the URL
    wait_for(lambda: text(browser, "session-id") == sid, 15, "same session after reload",
             browser)
    wait_status(browser, ("completed",), 60)
    wait_for(lambda: by_id(browser, "results").is_displayed(), 10, "#results shown", browser)
    wait_for(lambda: (s := reel_state(browser)) and s["readyState"] >= 1, 15, "reel", browser)
    screenshot(browser, "11-resumed")


def test_phone_width_has_no_horizontal_scroll(phone: Chrome, stack: Stack,
                                              clips: dict[str, Path], screenshot: Shot) -> None:
    load(phone, stack.base_url)
    size = no_horizontal_scroll(phone)
    assert size["inner"] == 360, f"meta viewport width=device-width missing: {size}"
    assert size["scroll"] <= size["inner"], size
    screenshot(phone, "12-phone-start")
    reply = stack.client.upload(f"{API}/upload", clips["small"], analysis="all",
                                target_duration="3")
    assert reply.status == 202, reply.body
    sid = reply.json()["session_id"]
    assert stack.client.wait(sid)[-1]["status"] == "completed"
    load(phone, stack.base_url, f"?session={sid}")
    wait_status(phone, ("completed",), 30)
    wait_for(lambda: by_id(phone, "results").is_displayed(), 10, "#results shown", phone)
    size = no_horizontal_scroll(phone)
    assert size["scroll"] <= size["inner"], size
    screenshot(phone, "13-phone-results")
