"""Settings come from the environment once, typed and validated."""

from __future__ import annotations

import base64
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


SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("env, message", [
    ({"WEBHOOK_SECRET": "c2VjcmV0"}, "whsec_"),
    ({"WEBHOOK_SECRET": "whsec_c2VjcmV0"}, "24 to 64 bytes"),  # 6 bytes
    ({"WEBHOOK_SECRET": "whsec_!!!notbase64!!!notbase64!!!notbase64"}, "base64"),
    ({"WEBHOOK_URL": "https://hooks.example/x"}, "needs WEBHOOK_SECRET"),
    ({"WEBHOOK_URL": "ftp://hooks.example/x", "WEBHOOK_SECRET": SECRET}, "http://"),
    ({"WEBHOOK_TIMEOUT": "0"}, "WEBHOOK_TIMEOUT"),
    ({"WEBHOOK_RETRY_DELAYS": "10,-1"}, "WEBHOOK_RETRY_DELAYS"),
    ({"WEBHOOK_RETRY_DELAYS": "1.5"}, "WEBHOOK_RETRY_DELAYS"),
])
def test_webhook_settings_are_validated(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_webhook_settings_from_env() -> None:
    settings = Settings.from_env({"WEBHOOK_SECRET": SECRET.rstrip("="), "WEBHOOK_URL":
                                  "https://hooks.example/x", "WEBHOOK_RETRY_DELAYS": "1, 2,3",
                                  "WEBHOOK_ALLOW_PRIVATE": "true", "QUEUE_NAME": "q"})
    assert settings.webhook_retry_delays == (1, 2, 3) and settings.webhook_allow_private
    assert settings.webhook_queue == "q-webhooks"
    assert Settings().webhook_retry_delays == (10, 60, 300, 1800, 3600, 7200, 14400, 28800)
