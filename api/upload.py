"""Streams a multipart upload straight into a session workspace, enforcing the size limit
and the pace (api.pace).

The body is parsed incrementally (werkzeug's sans-IO decoder) so a large video never sits
in memory; the client's filename is ignored: the file is always stored as ``source``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, Callable

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from api.errors import BadRequest, PayloadTooLarge, UnsupportedVideo
from api.pace import UploadLimits, UploadPace
from stages.workspace import SOURCE, UploadFile, Workspace

FILE_PARTS = ("file", "video")  # accepted names of the video part
MAX_FIELD_BYTES = 1024  # form fields are small options
MAX_FIELDS = 32
FEED_BYTES = 256 * 1024  # decoder input slice
MULTIPART_OVERHEAD = 1024 * 1024  # form fields and boundaries around the video part

FieldCheck = Callable[[dict[str, str]], object]


class _Receiver:
    """Handles decoder events: the video part to disk, small fields to a dict."""

    def __init__(self, workspace: Workspace, max_bytes: int, check_fields: FieldCheck,
                 file_hash: hashlib._Hash | None) -> None:
        self.workspace = workspace
        self.file_hash = file_hash
        self.max_bytes = max_bytes
        self.check_fields = check_fields
        self.fields: dict[str, str] = {}
        self.size = 0
        self.file: UploadFile | None = None
        self.got_file = False
        self._part: str | None = None  # "file", "field:<name>" or "skip"
        self._field_buffer = bytearray()

    async def handle(self, event: object) -> None:
        if isinstance(event, File):
            await self._file_part(event)
        elif isinstance(event, Field):
            if event.name in FILE_PARTS:
                raise BadRequest(f"The '{event.name}' part holds no file: send the video as a "
                                 "file upload (e.g. curl -F file=@video.mp4).")
            if len(self.fields) >= MAX_FIELDS:
                raise BadRequest("Too many form fields.")
            self._part = f"field:{event.name}"
            self._field_buffer.clear()
        elif isinstance(event, Data):
            await self._data(event)

    async def _file_part(self, event: File) -> None:
        if event.name in FILE_PARTS and not self.got_file and event.filename != "":
            self.got_file = True
            self._part = "file"
            self.file = await asyncio.to_thread(self.workspace.open_upload)
        else:  # another file, or a form's empty file input (no file chosen)
            self._part = "skip"

    async def _data(self, event: Data) -> None:
        if self._part == "file":
            self.size += len(event.data)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"The video is larger than the limit of {self.max_bytes // (1024 * 1024)} MiB.")
            await asyncio.to_thread(self._write, event.data, not event.more_data)
        elif self._part and self._part.startswith("field:"):
            self._field_buffer.extend(event.data)
            if len(self._field_buffer) > MAX_FIELD_BYTES:
                raise BadRequest("A form field is too long.")
            if not event.more_data:
                name = self._part.removeprefix("field:")
                # verbatim: api.options refuses what it cannot read rather than trimming it
                self.fields[name] = self._field_buffer.decode("utf-8", errors="replace")
                self.check_fields(self.fields)  # a bad option fails before the video arrives

    def _write(self, data: bytes, last: bool) -> None:
        assert self.file is not None
        self.file.write(data)
        if self.file_hash is not None:
            self.file_hash.update(data)
        if last:
            self.file.close()

    async def close(self) -> None:
        if self.file is not None and not self.file.closed:
            await asyncio.to_thread(self.file.close)


async def receive_upload(content_type: str | None, body: AsyncIterable[bytes],
                         workspace: Workspace, limits: UploadLimits,
                         check_fields: FieldCheck,
                         file_hash: hashlib._Hash | None = None) -> dict[str, str]:
    """Write the video part to ``workspace`` as SOURCE; return the other form fields.

    ``check_fields`` sees the fields as they arrive and raises on a bad one; ``file_hash``,
    if given, is updated with the video's bytes.
    """
    mimetype, params = parse_options_header(content_type or "")
    boundary = params.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        raise BadRequest("Send the video as multipart/form-data in a part named 'file'.")
    decoder = MultipartDecoder(boundary.encode(), max_parts=MAX_FIELDS + len(FILE_PARTS))
    receiver = _Receiver(workspace, limits.max_bytes, check_fields, file_hash)
    total, limit = 0, limits.max_bytes + MULTIPART_OVERHEAD  # every part counts, not just video
    pace = UploadPace(limits)
    chunks = aiter(body)
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), pace.wait_budget())
            except StopAsyncIteration:
                decoder.receive_data(None)
                await _drain(decoder, receiver)
                break
            except TimeoutError:
                raise pace.nothing_arrived() from None
            pace.received(len(chunk))
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge("The upload exceeds the server's size limit.")
            if await _feed(decoder, receiver, chunk):
                break
    except ValueError:  # the decoder's way of saying the body is malformed
        raise BadRequest("The multipart body is malformed.") from None
    finally:
        await receiver.close()
    if not receiver.got_file:
        raise BadRequest("No video in the request: send it in a form part named 'file'.")
    if receiver.size == 0:
        raise UnsupportedVideo("The uploaded file is empty.")
    await asyncio.to_thread(workspace.commit, SOURCE)
    return receiver.fields


async def _feed(decoder: MultipartDecoder, receiver: _Receiver, chunk: bytes) -> bool:
    """Feed a body chunk in slices, so the decoder never buffers more than one slice."""
    view = memoryview(chunk)
    for offset in range(0, len(view), FEED_BYTES):
        decoder.receive_data(bytes(view[offset:offset + FEED_BYTES]))
        if await _drain(decoder, receiver):
            return True
    return False


async def _drain(decoder: MultipartDecoder, receiver: _Receiver) -> bool:
    """Handle every complete event; True once the closing boundary was seen."""
    while True:
        event = decoder.next_event()
        if isinstance(event, NeedData):
            return False
        if isinstance(event, Epilogue):
            return True
        await receiver.handle(event)
