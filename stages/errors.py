"""Typed failures raised by stages; the runner turns them into problem objects."""


class StageError(Exception):
    """Root of every expected stage failure (never retried)."""

    type = "about:blank"
    title = "Analysis failed"
    code = "stage_error"
    status = 422  # HTTP status when this error answers a request

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnreadableVideo(StageError):
    """The file is not a video we can decode (text, image, audio-only, truncated, empty)."""

    type = "/problems/unreadable-video"
    title = "Unreadable video"
    code = "unreadable_video"


class VideoTooLong(StageError):
    """The video is longer than the server accepts."""

    type = "/problems/video-too-long"
    title = "Video too long"
    code = "video_too_long"


class PictureTooLarge(StageError):
    """The video's picture is bigger than the server decodes."""

    type = "/problems/picture-too-large"
    title = "Picture too large"
    code = "picture_too_large"


class FrameRateTooHigh(StageError):
    """The video has more frames per second than the server decodes."""

    type = "/problems/frame-rate-too-high"
    title = "Frame rate too high"
    code = "frame_rate_too_high"


class TooManyStreams(StageError):
    """The file holds more streams (tracks) than the server accepts."""

    type = "/problems/too-many-streams"
    title = "Too many streams"
    code = "too_many_streams"


class RenderFailed(StageError):
    """ffmpeg could not produce the highlight reel."""

    type = "/problems/render-failed"
    title = "Rendering failed"
    code = "render_failed"
    status = 500


class MissingInput(StageError):
    """A stage ran before the stage that produces its input (a graph bug)."""

    type = "/problems/missing-input"
    title = "Missing stage input"
    code = "missing_input"
    status = 500


class StageStopped(Exception):
    """Raised by ``ctx.progress`` when the stage must stop now; not a failure of the stage.
    Stages let it through untouched (never wrap it, never fall back to another decoder)."""


class StageCancelled(StageStopped):
    """The session was cancelled (or ended, or deleted)."""


class StageInterrupted(StageStopped):
    """The process is shutting down (SIGTERM): the stage is handed back to run again."""


class StageSuperseded(StageStopped):
    """This attempt was given up on (its lease ran out); a newer attempt owns the stage."""
