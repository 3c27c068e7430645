"""A streaming S3 upload holding at most one part in memory: one PUT when small, else multipart.

Checksums follow what boto3's own upload_file does (CRC32 per part, named when the upload
starts), so both paths behave alike on AWS and on S3-compatible stores.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stages.blobs.base import WriterBase

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 refuses smaller parts, except the last one


class S3BlobWriter(WriterBase):
    """Buffers one part; each full part is sent as it fills, the rest at commit()."""

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        super().__init__()
        self._client = client
        self._target = {"Bucket": bucket, "Key": key}
        self._part_size = part_size
        self._checksum = checksum_args(client)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a write bigger than a part is cut, so the buffer never outgrows one
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self._part_size:
                self._send_part()

    def _commit(self) -> None:
        if self._upload_id is None:  # it all fit in one part: one PUT, nothing to clean up
            self._client.put_object(**self._target, Body=self._buffer)
            return
        if self._buffer:
            self._send_part()
        self._client.complete_multipart_upload(
            **self._target, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})

    def _abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            abort_upload(self._client, self._target["Bucket"], self._target["Key"],
                         self._upload_id)

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                **self._target, **self._checksum)["UploadId"]
        number = len(self._parts) + 1
        # The bytearray goes out as it is (no copy); a new one is made, not cleared, as
        # botocore may still hold this one for a retry until upload_part returns.
        response = self._client.upload_part(**self._target, UploadId=self._upload_id,
                                            PartNumber=number, Body=self._buffer,
                                            **self._checksum)
        self._buffer = bytearray()
        part = {"ETag": response["ETag"], "PartNumber": number}
        member = f"Checksum{self._checksum.get('ChecksumAlgorithm')}"
        if member in response:
            part[member] = response[member]  # an upload that named one must list them
        self._parts.append(part)


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
