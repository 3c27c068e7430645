"""Every Redis key this service writes, named in one place."""

PREFIX = "vs"

SESSIONS_BY_EXPIRY = f"{PREFIX}:sessions"  # zset: session id -> unix time it expires
ACTIVE_SESSIONS = f"{PREFIX}:active"  # set: sessions not ended yet (the sweeper checks them)
SWEEP_LOCK = f"{PREFIX}:sweep-lock"  # one sweeper at a time across workers
READY_PROBE = f"{PREFIX}:readyz"  # written by /readyz to prove Redis accepts writes
LEASES = f"{PREFIX}:leases"  # zset: "<session id>:<stage>" -> unix time its lease runs out
REPAIR_LOCK = f"{PREFIX}:repair-lock"  # one repairer (lost leases, stalled jobs) at a time
PURGE_AGAIN = f"{PREFIX}:purge-again"  # zset: deleted session id -> when; RQ records purged again
UPLOADS = f"{PREFIX}:uploads"  # zset: session id -> when the web began receiving its upload
EVENTS_MAXLEN = 200  # entries a session's event stream keeps (MAXLEN ~: maybe a few more)
EVENTS_KEPT_AFTER_END = 20  # entries kept once it ended: snapshots, the last is the end
PURGE_DELAY = 5.0  # seconds after a deletion when its RQ records are purged once more
WEBHOOK_OUTBOX = f"{PREFIX}:webhook-outbox"  # zset: session id -> when its pending webhook is due
# Counters workers and webs add to and the metrics port reads (queues.metrics); never expire.
METRICS_PREFIX = f"{PREFIX}:metrics:"  # no session's key: they outlive every session
METRICS_SESSIONS = f"{METRICS_PREFIX}sessions"  # hash: "<event>:<analysis>" -> sessions
METRICS_STAGE_SECONDS = f"{METRICS_PREFIX}stage-seconds"  # hash: "<stage>:<bucket|sum|count>"
METRICS_RETRIES = f"{METRICS_PREFIX}retries"  # hash: "<stage>:<reason>" -> attempts run again
METRICS_WEBHOOKS = f"{METRICS_PREFIX}webhooks"  # hash: "<outcome>" -> webhook attempts
METRICS_UPLOADS = f"{METRICS_PREFIX}uploads"  # hash: "bytes" / "<outcome>" -> received


def session_key(session_id: str) -> str:
    """Hash of one session: status, options, per-stage status/progress, job ids."""
    return f"{PREFIX}:session:{session_id}"


def events_key(session_id: str) -> str:
    """Stream of one session's events (status, stage, progress), read by GET .../events."""
    return f"{PREFIX}:events:{session_id}"


def wake_key(reader: str) -> str:
    """Stream a web process writes to wake its own event reader (a stream to read joined)."""
    return f"{PREFIX}:wake:{reader}"


def webhook_key(session_id: str) -> str:
    """Hash of a session's webhook delivery: state, attempts, next attempt time."""
    return f"{PREFIX}:webhook:{session_id}"


def tombstone_key(session_id: str) -> str:
    """Marks a deleted or expired session, so its routes answer 410 for a while."""
    return f"{PREFIX}:tomb:{session_id}"


# Extra seconds a session hash outlives its expires_at, so the sweeper (not Redis TTL)
# removes it and leaves the tombstone; the TTL is only the safety net.
KEY_TTL_MARGIN = 3600


def idempotency_key(key_digest: str) -> str:
    """An Idempotency-Key's record (by its SHA-256): a claim, then the first answer."""
    return f"{PREFIX}:idem:{key_digest}"
