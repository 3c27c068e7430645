"""One settings object per process, read from the environment once and validated."""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from queues.destinations import DestinationRefused, parse_url
from stages.options import AnalysisOptions

WEBHOOK_SECRET_PREFIX = "whsec_"  # Standard Webhooks' form of a signing key
MAX_WEBHOOK_RETRIES = 30  # bounds a delivery's attempts (and its record) whatever is set


class SettingsError(ValueError):
    """An environment variable has a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; the README's configuration table mirrors this class."""

    redis_url: str = ""  # empty: the dev launcher starts an embedded redis-server
    media_root: Path = Path("./var/media")  # the store when STORAGE_URL is unset; else scratch
    storage_url: str = ""  # a directory, or s3://bucket/prefix (credentials: AWS_* variables)
    queue_name: str = "pipeline"  # RQ queue every stage job goes to
    fair_scheduling: bool = True  # a started session's next stages go to the queue's front
    max_upload_bytes: int = 1024 * 1024 * 1024  # uploads above this get 413 while streaming
    max_video_seconds: float = 900.0  # longer videos are refused (422)
    max_picture_side: int = 4096  # pictures wider or taller than this (pixels) are refused
    max_frame_rate: float = 240.0  # videos with more frames per second are refused (422)
    max_streams: int = 16  # files with more streams (tracks of any kind) are refused (422)
    session_ttl: int = 24 * 3600  # a session and its files live this long after it ends
    keep_intermediates: bool = False  # keep the upload and stage files until expiry too
    tombstone_ttl: int = 7 * 24 * 3600  # how long a deleted id answers 410 before 404
    idempotency_ttl: int = 24 * 3600  # an upload's Idempotency-Key answers retries this long
    upload_stale_seconds: int = 3600  # a workspace with no session this old is swept
    sweep_interval: float = 60.0  # seconds between sweeps (one sweeper at a time)
    stage_timeout: int = 3600  # RQ job timeout of one stage, seconds
    cancel_grace: float = 1.5  # then a still-running stage is hard-stopped (contract: < 2 s)
    max_attempts: int = 3  # a stage whose attempt dies this often fails (worker_lost / OOM)
    lease_seconds: float = 10.0  # a running stage not heard of this long counts as abandoned
    shutdown_grace: float = 10.0  # on SIGTERM a stage must stop within this, or is killed
    redis_timeout: float = 0.4  # web: a Redis call not answered within this gets 503
    upload_idle_timeout: float = 60.0  # an upload that sends nothing this long gets 408
    upload_deadline: float = 3600.0  # one upload body must arrive within this (else 408)
    upload_min_rate: int = 8192  # bytes/s an upload must average per idle-timeout window
    legacy_timeout: float = 300.0  # synchronous endpoints answer 504 after this
    poll_interval: int = 1  # Retry-After sent while a session runs
    sse_heartbeat: float = 15.0  # seconds between keep-alive comments on an idle event stream
    cors_origins: tuple[str, ...] = ()  # allowed frontend origins; "*" for any
    webhook_url: str = ""  # callback of sessions whose upload names none ("": none)
    webhook_secret: str = ""  # whsec_ + base64 key signing webhooks; "": webhooks are off
    webhook_allow_private: bool = False  # callbacks may go to loopback/private addresses
    webhook_timeout: float = 5.0  # seconds a delivery may take to connect, then to answer
    # seconds between a webhook's attempts (one more attempt than entries)
    webhook_retry_delays: tuple[int, ...] = (10, 60, 300, 1800, 3600, 7200, 14400, 28800)
    default_target_duration: float = 30.0
    default_max_highlights: int = 5
    analysis_long_side: int = 160
    analysis_max_fps: float = 30.0
    render_max_height: int = 720
    render_crossfade: float = 0.0  # seconds; shortens the reel by this much per join
    workers: int = 2  # worker processes the dev launcher starts
    worker_nice: int = 10  # workers and their ffmpeg run this much below the web's CPU priority
    port: int = 8000
    metrics_port: int = 0  # Prometheus metrics served by the web on this port; 0: off
    metrics_host: str = "127.0.0.1"  # address the metrics port binds (not public)
    log_format: str = "text"  # "json": one JSON object per line (production)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, cls.__dataclass_fields__[f.name].default)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        positive = ("max_upload_bytes", "upload_idle_timeout", "max_video_seconds",
                    "max_picture_side", "max_frame_rate", "max_streams",
                    "max_attempts", "lease_seconds", "shutdown_grace", "redis_timeout",
                    "session_ttl", "tombstone_ttl", "idempotency_ttl", "sweep_interval",
                    "stage_timeout", "legacy_timeout", "poll_interval", "sse_heartbeat",
                    "default_target_duration", "default_max_highlights", "analysis_long_side",
                    "analysis_max_fps", "render_max_height", "workers")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name.upper()} must be positive")
        if not 0 < self.cancel_grace < 2:
            raise SettingsError("CANCEL_GRACE must be between 0 and 2 seconds")
        if not 0 <= self.worker_nice <= 19:
            raise SettingsError("WORKER_NICE must be between 0 (the web's priority) and 19")
        if not self.shutdown_grace < 30:
            raise SettingsError("SHUTDOWN_GRACE must stay below the platform's 30 s SIGKILL")
        if self.render_crossfade < 0:
            raise SettingsError("RENDER_CROSSFADE must be 0 or more")
        if not self.upload_deadline > self.upload_idle_timeout:  # also refuses nan
            raise SettingsError("UPLOAD_DEADLINE must exceed UPLOAD_IDLE_TIMEOUT")
        if self.upload_min_rate < 0:
            raise SettingsError("UPLOAD_MIN_RATE must be 0 (off) or more bytes per second")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("METRICS_PORT must be 0 (off) or a port number")
        if self.log_format not in ("text", "json"):
            raise SettingsError("LOG_FORMAT must be 'text' or 'json'")
        self._validate_webhooks()

    def _validate_webhooks(self) -> None:
        if self.webhook_secret:
            key = self.webhook_secret.removeprefix(WEBHOOK_SECRET_PREFIX)
            try:
                size = len(base64.b64decode(key + "=" * (-len(key) % 4), validate=True))
            except ValueError:
                size = 0
            if key == self.webhook_secret or not 24 <= size <= 64:
                raise SettingsError("WEBHOOK_SECRET must be 'whsec_' then 24 to 64 bytes in "
                                    "base64, e.g. 'whsec_' + `openssl rand -base64 32`")
        if self.webhook_url:
            if not self.webhook_secret:
                raise SettingsError("WEBHOOK_URL needs WEBHOOK_SECRET (webhooks are signed)")
            try:
                parse_url(self.webhook_url)
            except DestinationRefused as refused:
                raise SettingsError(f"WEBHOOK_URL: {refused}") from None
        if not self.webhook_timeout > 0:  # also refuses nan
            raise SettingsError("WEBHOOK_TIMEOUT must be positive")
        if any(delay < 0 for delay in self.webhook_retry_delays) or \
                len(self.webhook_retry_delays) > MAX_WEBHOOK_RETRIES:
            raise SettingsError(f"WEBHOOK_RETRY_DELAYS must be at most {MAX_WEBHOOK_RETRIES} "
                                "whole numbers of seconds, 0 or more")

    @property
    def webhook_queue(self) -> str:
        """RQ queue of webhook deliveries (workers take it before the stages' queue)."""
        return webhook_queue_name(self.queue_name)

    @property
    def repair_interval(self) -> float:
        """Seconds between repair passes: a lost stage is requeued within lease + this."""
        return self.lease_seconds / 4

    def analysis_options(self, **overrides: object) -> AnalysisOptions:
        """Options for one session: server defaults, then what the request asked."""
        base: dict[str, object] = dict(target_duration=self.default_target_duration,
                    max_highlights=self.default_max_highlights,
                    analysis_long_side=self.analysis_long_side,
                    analysis_max_fps=self.analysis_max_fps,
                    render_max_height=self.render_max_height,
                    crossfade=self.render_crossfade,
                    max_video_seconds=self.max_video_seconds,
                    max_picture_side=self.max_picture_side,
                    max_frame_rate=self.max_frame_rate,
                    max_streams=self.max_streams)
        base.update(overrides)
        return AnalysisOptions(**base)  # type: ignore[arg-type]


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            parts = tuple(part.strip() for part in raw.split(",") if part.strip())
            return tuple(int(p) for p in parts) if default and isinstance(default[0], int) \
                else parts
        return raw
    except ValueError:
        raise SettingsError(f"{name.upper()}={raw!r} is not a valid value") from None


def webhook_queue_name(queue_name: str) -> str:
    """The webhooks' RQ queue beside the stages' queue ``queue_name``."""
    return f"{queue_name}-webhooks"


@functools.cache
def process_settings() -> Settings:
    """The settings of this process (worker side), read once."""
    return Settings.from_env()
