"""Idempotent uploads (IETF draft "The Idempotency-Key HTTP Header Field"): a retried
upload with the same key gets the first session back instead of a second one.

A key's record in Redis is first a short-lived claim, kept alive while its upload is being
received (a crashed web process frees it within a minute or two), then the first answer:
the request's fingerprint and the 202 body, kept IDEMPOTENCY_TTL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from werkzeug.datastructures import Headers

from api.errors import BadIdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused
from queues import keys

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
CLAIM_MARGIN = 30  # seconds a claim outlives the upload's idle timeout without a refresh
REFRESH_EVERY = 10.0  # seconds between refreshes of a claim while its body arrives

# KEYS[1] the record. ARGV: the claim's value, then the new value ("" deletes) and its TTL.
_REPLACE_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1
"""
# KEYS[1] the record. ARGV: the claim's value, its TTL.
_REFRESH_CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


def parse_key(headers: Headers) -> str | None:
    """The request's key (None: the header is absent); 400 when it cannot be one."""
    key = headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS or not all(" " <= c <= "~" for c in key):
        raise BadIdempotencyKey(f"The {HEADER} header must be 1 to {MAX_KEY_CHARS} printable "
                                "ASCII characters, e.g. a UUID.")
    return key


def fingerprint(file_sha256: str, fields: Mapping[str, str]) -> str:
    """What makes two uploads the same request: the file's bytes and every form field."""
    return hashlib.sha256(json.dumps([file_sha256, sorted(fields.items())]).encode()).hexdigest()


@dataclass(frozen=True)
class FirstAnswer:
    fingerprint: str
    body: dict[str, Any]


class IdempotencySlot:
    """One key: claimed by this request, or answered before (``first`` is set)."""

    def __init__(self, client: redis.asyncio.Redis, key: str, claim: str,
                 first: FirstAnswer | None, claim_ttl: int, answer_ttl: int) -> None:
        self.client = client
        self.redis_key = keys.idempotency_key(hashlib.sha256(key.encode()).hexdigest())
        self.claim = claim
        self.first = first
        self.claim_ttl = claim_ttl
        self.answer_ttl = answer_ttl

    @classmethod
    async def open(cls, client: redis.asyncio.Redis, key: str, claim_ttl: int,
                   answer_ttl: int) -> IdempotencySlot:
        """Claim the key, or load its first answer; 409 while another request holds it."""
        slot = cls(client, key, json.dumps({"claim": secrets.token_hex(16)}), None,
                   claim_ttl, answer_ttl)
        for _ in range(3):  # a record may expire between the SET and the GET
            if await client.set(slot.redis_key, slot.claim, nx=True, ex=claim_ttl):
                return slot
            raw = await client.get(slot.redis_key)
            if raw is None:
                continue
            record = json.loads(raw)
            if "claim" in record:
                raise IdempotencyKeyInUse(f"An upload with this {HEADER} is still in progress; "
                                          "retry once it has finished.")
            slot.first = FirstAnswer(record["fingerprint"], record["body"])
            return slot
        raise IdempotencyKeyInUse(f"An upload with this {HEADER} is being recorded; retry.")

    async def refreshed(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """``body``, keeping the claim alive while it arrives."""
        last = time.monotonic()
        async for chunk in body:
            if time.monotonic() - last >= REFRESH_EVERY:
                last = time.monotonic()
                await self.refresh()
            yield chunk

    async def refresh(self) -> None:
        """Keep this request's claim for another ``claim_ttl`` seconds."""
        if self.first is None:
            await self.client.eval(_REFRESH_CLAIM, 1, self.redis_key, self.claim, self.claim_ttl)

    def check_same(self, request_fingerprint: str) -> None:
        """422 unless this request is the one first answered under the key."""
        assert self.first is not None
        if request_fingerprint != self.first.fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was already used for a different upload (another file or "
                "other options); use a new key for a new upload.")

    async def answer(self, request_fingerprint: str, body: dict[str, Any]) -> None:
        """Keep the first answer for later retries."""
        record = json.dumps({"fingerprint": request_fingerprint, "body": body})
        await self.client.eval(_REPLACE_CLAIM, 1, self.redis_key, self.claim, record,
                               self.answer_ttl)

    async def release(self) -> None:
        """The first request failed: a retry with the key may start again."""
        await self.client.eval(_REPLACE_CLAIM, 1, self.redis_key, self.claim, "", 0)
