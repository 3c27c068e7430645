"""Serves rq-dashboard on our Redis (``python -m queues.dashboard``) behind a login, with a
per-app fix for rq-dashboard 0.9.0's job page, which answers 500 for any job with dependencies
under rq >= 2.6. Imports only rq, rq-dashboard and flask: never ``api`` or ``stages``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import flask
import rq_dashboard  # type: ignore[import-untyped]
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq_dashboard import web as upstream  # type: ignore[import-untyped]

from queues.dashboard_guard import install_guard

JOB_INFO_ENDPOINT = "rq_dashboard.job_info"  # the blueprint's /<n>/data/job/<id>.json view
MIN_PASSWORD_LENGTH = 12  # basic auth has no lockout: the password alone resists guessing


class DashboardSettingsError(ValueError):
    """A DASHBOARD_* variable has a value the dashboard cannot safely start with."""


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard process needs, read from the environment once, valid once built."""

    redis_url: str = "redis://localhost:6379/0"
    host: str = "127.0.0.1"  # operators come through an SSH tunnel or a private network
    port: int = 9181
    user: str = "operator"  # HTTP basic auth user name
    password: str = field(default="", repr=False)  # required: no default, never in a repr

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardSettings:
        env = os.environ if environ is None else environ
        return cls(redis_url=env.get("REDIS_URL") or cls.redis_url,
                   host=env.get("DASHBOARD_HOST") or cls.host,
                   port=_parse_port(env.get("DASHBOARD_PORT") or str(cls.port)),
                   user=env.get("DASHBOARD_USER") or cls.user,
                   password=env.get("DASHBOARD_PASSWORD") or "")

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise DashboardSettingsError(f"DASHBOARD_PORT={self.port} is not a TCP port")
        if not self.user or ":" in self.user:  # basic auth splits user from password at ":"
            raise DashboardSettingsError("DASHBOARD_USER must be non-empty and without ':'")
        self._check_password()

    def _check_password(self) -> None:
        # Required on loopback too: loopback is shared by every local user and process, and
        # DNS rebinding lets any web page the operator opens reach a tunnelled localhost.
        if not self.password:
            raise DashboardSettingsError(
                f"DASHBOARD_PASSWORD is not set: the dashboard shows session ids and can "
                f"requeue and delete jobs, so it never runs without a login (would bind "
                f"{self.host}:{self.port}). Set DASHBOARD_PASSWORD (at least "
                f"{MIN_PASSWORD_LENGTH} characters) and optionally DASHBOARD_USER.")
        if len(self.password) < MIN_PASSWORD_LENGTH:
            raise DashboardSettingsError(
                f"DASHBOARD_PASSWORD is shorter than {MIN_PASSWORD_LENGTH} characters")


def _parse_port(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise DashboardSettingsError(f"DASHBOARD_PORT={raw!r} is not a TCP port") from None


def create_dashboard_app(settings: DashboardSettings) -> flask.Flask:
    """rq-dashboard's blueprint at the root of a new app, behind a login, with the fix."""
    # The templates link url_for("static"): the app's own static route must serve their files.
    app = flask.Flask(__name__, static_folder=rq_dashboard.blueprint.static_folder)
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    install_guard(app, settings.user, settings.password)
    app.register_blueprint(rq_dashboard.blueprint)
    upstream.setup_rq_connection(app)
    if JOB_INFO_ENDPOINT not in app.view_functions:
        raise RuntimeError(f"rq-dashboard no longer has {JOB_INFO_ENDPOINT}: revisit this shim")
    # Why: rq >= 2.6 returns Job.dependency_ids as str and rq-dashboard 0.9.0 calls .decode()
    # on each (web.py job_info), so every chained job's page is blank (its JSON answers 500).
    # Replacing the view in this app alone leaves rq, rq_dashboard's module and any other app
    # untouched. Delete this shim once an rq-dashboard release includes the upstream fix
    # (issue 522, PR 530): test_upstream_job_info_still_breaks_on_chained_jobs then fails.
    app.view_functions[JOB_INFO_ENDPOINT] = job_info
    return app


def as_job_id(dependency_id: str | bytes) -> str:
    """A dependency id as rq < 2.6 (bytes, maybe ``rq:job:``-prefixed) or >= 2.6 (str) gives it."""
    text = dependency_id.decode() if isinstance(dependency_id, bytes) else dependency_id
    return text.split(":")[-1].strip()


@upstream.jsonify
def job_info(instance_number: int, job_id: str) -> dict[str, object]:
    """rq-dashboard 0.9.0's ``job_info`` view with dependency ids read through ``as_job_id``."""
    app = flask.current_app
    connection: Redis = app.redis_conn  # type: ignore[attr-defined]
    job = Job.fetch(job_id, serializer=upstream.config.serializer, connection=connection)
    latest_result = job.latest_result()
    json_encoder = app.config.get("RQ_DASHBOARD_JSON_ENCODER", json.JSONEncoder)
    info: dict[str, object] = dict(
        id=job.id,
        created_at=upstream.serialize_date(job.created_at),
        enqueued_at=upstream.serialize_date(job.enqueued_at),
        started_at=upstream.serialize_date(job.started_at),
        ended_at=upstream.serialize_date(job.ended_at),
        origin=job.origin,
        status=job.get_status(),
        result=job.return_value(),
        exc_info=latest_result.exc_string if latest_result else None,
        description=upstream.format_job_description(job),
        metadata=json.dumps(job.get_meta(), cls=json_encoder),
    )
    dependency_ids = [as_job_id(dependency_id) for dependency_id in job.dependency_ids]
    if dependency_ids:
        info["depends_on"] = dependency_ids
        info["depends_on_status"] = [_job_presence(i, connection) for i in dependency_ids]
    return info


def _job_presence(job_id: str, connection: Redis) -> str:
    """'active' while the job's hash exists, 'expired' once Redis dropped it (upstream's words)."""
    try:
        Job.fetch(job_id, serializer=upstream.config.serializer, connection=connection)
    except NoSuchJobError:
        return "expired"
    return "active"


def main() -> None:
    try:
        settings = DashboardSettings.from_env()
    except DashboardSettingsError as error:
        sys.exit(f"queues.dashboard: {error}")  # the message on stderr, exit status 1
    create_dashboard_app(settings).run(host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
