"""A streaming S3 upload holding at most two parts in memory: one PUT when small, else
multipart, with one part on its way while the next fills (the writer is fed by a request
that is still arriving: sending a part must not stop reading it).

Checksums follow what boto3's own upload_file does (CRC32 per part, named when the upload
starts), so both paths behave alike on AWS and on S3-compatible stores.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from stages.blobs.base import WriterBase

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses smaller parts, except the last one


class S3BlobWriter(WriterBase):
    """Buffers one part; each full part is sent (in a thread) as it fills, the rest at
    commit(). A part waits for the one before it, so two at most are held."""

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        super().__init__()
        self._client = client
        self._target = {"Bucket": bucket, "Key": key}
        self._part_size = part_size
        self._checksum = checksum_args(client)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._in_flight: Future[dict[str, Any]] | None = None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a write bigger than a part is cut, so the buffer never outgrows one
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._part_size:
                self._send_part()

    def _commit(self) -> None:
        try:
            if self._upload_id is None:  # it all fit in one part: one PUT, nothing to clean up
                self._client.put_object(**self._target, Body=self._buffer)
                return
            if self._buffer:
                self._send_part()
            self._settle()
            self._client.complete_multipart_upload(
                **self._target, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts})
        finally:
            self._sender.shutdown(wait=False)

    def _abort(self) -> None:
        self._buffer = bytearray()
        try:
            self._settle()
        except Exception:  # a part that failed: the whole upload goes anyway
            pass
        self._sender.shutdown(wait=False)
        if self._upload_id is not None:
            abort_upload(self._client, self._target["Bucket"], self._target["Key"],
                         self._upload_id)

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                **self._target, **self._checksum)["UploadId"]
        self._settle()  # the part before this one has arrived (or its error is raised here)
        number = len(self._parts) + 1
        # The bytearray goes out as it is (no copy); a new one is made, not cleared, as
        # botocore holds this one until upload_part returns.
        self._in_flight = self._sender.submit(self._upload_part, number, self._buffer)
        self._buffer = bytearray()

    def _upload_part(self, number: int, body: bytearray) -> dict[str, Any]:
        response = self._client.upload_part(**self._target, UploadId=self._upload_id,
                                            PartNumber=number, Body=body, **self._checksum)
        part = {"ETag": response["ETag"], "PartNumber": number}
        member = f"Checksum{self._checksum.get('ChecksumAlgorithm')}"
        if member in response:
            part[member] = response[member]  # an upload that named one must list them
        return part

    def _settle(self) -> None:
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            self._parts.append(future.result())


def checksum_args(client: Any) -> dict[str, str]:
    """``ChecksumAlgorithm`` for multipart calls, as s3transfer sets it.

    botocore (>= 1.36) adds a CRC32 to every part unless the client is configured
    "when_required"; AWS then refuses the parts of an upload that did not name it.
    """
    mode = getattr(client.meta.config, "request_checksum_calculation", None)
    return {"ChecksumAlgorithm": "CRC32"} if mode == "when_supported" else {}


def abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload; one already gone (swept, or aborted twice) is fine."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as error:
        if error_code(error) != "NoSuchUpload":
            raise


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
