"""Settings come from the environment once, typed and validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.settings import Settings, SettingsError


def test_defaults_and_parsing() -> None:
    s = Settings.from_env({"MEDIA_ROOT": "/data", "SESSION_TTL": "60", "CORS_ORIGINS":
                           "https://a.example, https://b.example", "MAX_VIDEO_SECONDS": "12.5"})
    assert s.media_root == Path("/data") and s.session_ttl == 60
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.max_video_seconds == 12.5
    assert Settings.from_env({}).redis_url == ""


@pytest.mark.parametrize("env", [{"SESSION_TTL": "soon"}, {"WORKERS": "0"},
                                 {"MAX_UPLOAD_BYTES": "-1"}, {"UPLOAD_DEADLINE": "30"},
                                 {"UPLOAD_DEADLINE": "nan"}, {"UPLOAD_MIN_RATE": "-1"},
                                 {"UPLOAD_MIN_RATE": "8k"}])
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env)


def test_analysis_options_take_server_defaults() -> None:
    s = Settings.from_env({"DEFAULT_TARGET_DURATION": "12", "RENDER_MAX_HEIGHT": "480"})
    options = s.analysis_options(analysis="workout")
    assert options.target_duration == 12 and options.render_max_height == 480
    assert options.analysis == "workout"


def test_media_limits_reach_the_analysis_options() -> None:
    s = Settings.from_env({"MAX_PICTURE_SIDE": "1920", "MAX_FRAME_RATE": "60",
                           "MAX_STREAMS": "4"})
    options = s.analysis_options()
    assert (options.max_picture_side, options.max_frame_rate, options.max_streams) == \
        (1920, 60.0, 4)
    for name in ("MAX_PICTURE_SIDE", "MAX_FRAME_RATE", "MAX_STREAMS"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: "0"})
