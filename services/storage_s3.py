"""Media on S3 or any S3-compatible store (MinIO, moto), behind the `Storage` interface of
`services/storage.py` (docs/deployment.md#media-on-s3, docs/creators.md#vault-and-media).

The browser posts the file straight to the bucket with a pre-signed POST whose policy accepts
only that key, that content type and 1..max_bytes, for `storage.UPLOAD_SECONDS`; files are read
back through short-lived pre-signed GET URLs, so the bucket stays private.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import Flask

from services.storage import (
    COPY_CHUNK,
    PART_BYTES,
    UPLOAD_SECONDS,
    LinkCache,
    ObjectInfo,
    Part,
    link_expiry,
)

_EXTENSION = "amora_s3_client"
_client_lock = threading.Lock()
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_UPLOAD = {"404", "NoSuchUpload"}
# Whole files up and down in parts, a few at a time: memory stays at a few parts whatever the
# file's size.
_TRANSFER = TransferConfig(
    multipart_threshold=PART_BYTES,
    multipart_chunksize=PART_BYTES,
    max_concurrency=4,
    io_chunksize=COPY_CHUNK,
)
_links = LinkCache()


def s3_origin(config: Mapping[str, Any]) -> str | None:
    """The origin browsers talk to for uploads and signed images (for the CSP), or None when S3
    is not configured. It must match the URLs the client signs, see `_client_config`."""
    bucket = config.get("S3_BUCKET")
    if not bucket:
        return None
    endpoint = config.get("S3_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        return f"{parts.scheme}://{parts.netloc}"
    return f"https://{bucket}.s3.{config['S3_REGION']}.amazonaws.com"


def _client_config(endpoint: str | None) -> Config:
    if endpoint:
        # MinIO and moto serve buckets under a path, not as sub-domains.
        return Config(signature_version="s3v4", s3={"addressing_style": "path"})
    # Without these botocore signs against the global bucket.s3.amazonaws.com, which is not the
    # origin the CSP allows and, outside us-east-1, answers a browser's POST with a redirect.
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
    )


def _client(app: Flask) -> Any:
    """One boto3 client per app (boto3 clients are thread-safe; creating one is not cheap)."""
    client = app.extensions.get(_EXTENSION)
    if client is None:
        with _client_lock:
            client = app.extensions.get(_EXTENSION)
            if client is None:
                config = app.config
                # A session of its own: boto3's default session is not thread-safe.
                client = boto3.session.Session().client(
                    "s3",
                    region_name=config["S3_REGION"],
                    endpoint_url=config["S3_ENDPOINT_URL"] or None,
                    # None for both = boto3's default credential chain (env, profile, IAM role).
                    aws_access_key_id=config["S3_ACCESS_KEY_ID"] or None,
                    aws_secret_access_key=config["S3_SECRET_ACCESS_KEY"] or None,
                    config=_client_config(config["S3_ENDPOINT_URL"]),
                )
                app.extensions[_EXTENSION] = client
    return client


class S3Storage:
    """Objects in one private bucket; keys are the media keys as they are."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def for_app(cls, app: Flask) -> S3Storage:
        return cls(_client(app), app.config["S3_BUCKET"])

    def presigned_post(self, key: str, content_type: str, max_bytes: int) -> dict:
        # boto3 adds the exact-key and bucket conditions itself.
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=UPLOAD_SECONDS,
        )
        return {"url": post["url"], "fields": post["fields"]}

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise
        return ObjectInfo(
            size=response["ContentLength"],
            content_type=response.get("ContentType", "application/octet-stream"),
        )

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        with response["Body"] as body:
            return body.read()

    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)  # no error if already gone

    def signed_url(self, key: str, seconds: int) -> str:
        """A pre-signed GET that expires at `link_expiry(seconds)`: the same link for every
        page built within one window (the browser's cache serves it)."""
        now = time.time()
        expires = link_expiry(seconds, now)
        return _links.get(
            (self.client.meta.endpoint_url, self.bucket, key, expires),
            lambda: self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=max(1, expires - int(now)),
            ),
        )

    def download(self, key: str, directory: Path) -> Path:
        """The object copied to a file in `directory`, streamed in parts (never whole in
        memory)."""
        target = directory / key.rsplit("/", 1)[-1]
        self.client.download_file(self.bucket, key, str(target), Config=_TRANSFER)
        return target

    def write_file(self, key: str, path: Path, content_type: str) -> None:
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
        )

    # --- multipart: S3's own, each part a pre-signed PUT ---

    def start_multipart(self, key: str, content_type: str) -> str:
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )
        return response["UploadId"]

    def part_url(self, key: str, upload_id: str, number: int, size: int) -> str:
        """A pre-signed UploadPart whose signature covers the part's length: S3 refuses a body
        of any other size (a part could otherwise be up to 5 GiB)."""
        return self.client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": size,
            },
            ExpiresIn=UPLOAD_SECONDS,
        )

    def list_parts(self, key: str, upload_id: str) -> list[Part] | None:
        parts: list[Part] = []
        marker = 0
        while True:
            try:
                response = self.client.list_parts(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _NO_UPLOAD:
                    return None
                raise
            for part in response.get("Parts", []):
                parts.append(Part(part["PartNumber"], part["Size"], part["ETag"]))
            if not response.get("IsTruncated"):
                return parts
            marker = response["NextPartNumberMarker"]

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
            },
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NO_UPLOAD:
                raise
