"""Results in the page: upload progress, per-stage progress, a playable reel, highlight
segments on a timeline, the workout as a table of sets and a plot of reps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.browser.conftest import Stack, skip_module_without_browser
from tests.browser.page import (
    TERMINAL,
    Shot,
    api_results,
    by_id,
    choose_upload,
    load,
    play_reel,
    reel_state,
    samples,
    session_id,
    status,
    submit,
    text,
    throttle_upload,
    upload_fraction,
    wait_for,
    wait_status,
)

skip_module_without_browser()


def test_upload_progress_then_results_with_playable_reel(browser: Chrome, stack: Stack,
                                                        clips: dict[str, Path],
                                                        screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["small"], "all", target_duration="3", max_highlights="3")
    throttle_upload(browser, 400_000)  # ~1.5 s for the 0.6 MB clip: the bar has to move
    try:
        submit(browser, record=True)
        wait_for(lambda: 0.2 < upload_fraction(browser) < 0.9, 10, "upload half-way", browser)
        assert by_id(browser, "upload-percent").text.strip().endswith("%")
        screenshot(browser, "02-uploading")
        sid = session_id(browser)
    finally:
        throttle_upload(browser, None)
    screenshot(browser, "03-processing")
    assert f"session={sid}" in browser.current_url  # history.replaceState after the 202
    wait_status(browser, TERMINAL, 90)
    assert status(browser) == "completed", text(browser, "error")
    seen = samples(browser)
    uploads = sorted({s["upload"] for s in seen if s["upload"] is not None})
    assert len([u for u in uploads if 0 < u < 1]) >= 3 and uploads[-1] >= 0.99, uploads
    per_stage: dict[str, set[float]] = {}
    for sample in seen:
        for name, value in sample["stages"].items():
            per_stage.setdefault(name, set()).add(value)
    assert set(per_stage) >= {"decode", "score", "select", "render", "workout"}, per_stage
    assert any(len(values) > 1 for values in per_stage.values()), f"no stage moved: {seen}"
    assert max(s["overall"] or 0 for s in seen) == 100

    results = api_results(stack, sid)
    wait_for(lambda: by_id(browser, "results").is_displayed(), 10, "#results shown", browser)
    state = wait_for(lambda: (s := reel_state(browser)) and s["readyState"] >= 1 and s,
                     15, "reel metadata loaded", browser)
    assert state["duration"] > 0 and state["error"] is None, state
    assert abs(state["duration"] - results["reel"]["duration"]) < 0.5
    assert state["src"].endswith(results["reel"]["url"])
    assert play_reel(browser) > 0, "the reel plays"
    screenshot(browser, "04-completed")

    segments = browser.find_elements(By.CSS_SELECTOR, "#timeline button.segment")
    highlights = results["highlights"]
    assert len(segments) == len(highlights) >= 1
    for button, high in zip(segments, highlights, strict=True):
        assert float(button.get_attribute("data-start")) == pytest.approx(high["start"], abs=0.05)
        assert float(button.get_attribute("data-end")) == pytest.approx(high["end"], abs=0.05)
        assert button.get_attribute("aria-label").startswith("Highlight ")
    # clicking the last segment seeks the reel to where that segment starts in the reel
    browser.execute_script("const v = document.getElementById('reel');"
                           "v.currentTime = v.duration * 0.9;")
    segments[-1].click()
    before = sum(h["end"] - h["start"] for h in highlights[:-1])
    wait_for(lambda: abs(reel_state(browser)["time"] - before) < 0.6, 5,
             f"reel at {before:.2f}s after the segment click", browser)

    workout = results["workout"]
    assert workout is not None
    assert str(workout["total_reps"]) in text(browser, "workout-summary")
    assert_workout_shown(browser, workout)


def assert_workout_shown(driver: Chrome, workout: dict[str, Any]) -> None:
    summary = text(driver, "workout-summary")
    assert str(workout["total_reps"]) in summary, summary
    rows = driver.find_elements(By.CSS_SELECTOR, "table#sets tbody tr")
    assert len(rows) == len(workout["sets"])
    for row, found in zip(rows, workout["sets"], strict=True):
        cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "td, th")]
        assert str(found["reps"]) in cells, cells
    marks = driver.find_elements(By.CSS_SELECTOR, "svg#reps-plot .rep-mark")
    assert len(marks) == sum(len(s["rep_times"]) for s in workout["sets"])


def test_workout_table_and_rep_plot(browser: Chrome, stack: Stack, clips: dict[str, Path],
                                    screenshot: Shot) -> None:
    load(browser, stack.base_url)
    choose_upload(browser, clips["squats"], "workout")
    submit(browser)
    sid = session_id(browser)
    wait_status(browser, TERMINAL, 60)
    assert status(browser) == "completed", text(browser, "error")
    workout = api_results(stack, sid)["workout"]
    assert len(workout["sets"]) == 2 and workout["total_reps"] >= 8  # truth: 2 sets of 5
    wait_for(lambda: by_id(browser, "sets").is_displayed(), 10, "table#sets shown", browser)
    assert by_id(browser, "reps-plot").is_displayed()
    assert_workout_shown(browser, workout)
    screenshot(browser, "05-workout")
