"""Where media files live (docs/creators.md#vault-and-media): the storage interface every
backend implements, and `LocalStorage`, the embedded default under instance/media, which signs
its own upload policies and download links with the app's secret. `services/storage_s3.py`
implements the same interface on S3; `media.storage()` picks one from the configuration.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, urlencode

from flask import current_app, url_for

from core.errors import DomainError

UPLOAD_SECONDS = 600  # how long a pre-signed upload stays valid
URL_SECONDS = 3600  # how long a signed download link stays valid
URL_CACHE_SIZE = 20_000  # signed links kept for reuse within their window (a few MB)
# Large files (videos) go up in parts of this size, each with its own pre-signed URL: S3 wants
# at least 5 MiB a part (but the last) and at most 10,000 parts, so up to 78 GiB here.
PART_BYTES = 8 * 2**20
MAX_PARTS = 10_000
COPY_CHUNK = 2**20  # what a streamed copy holds in memory at once


def link_expiry(seconds: int, now: float | None = None) -> int:
    """When a download link asked for now, to last `seconds`, expires: rounded down to a
    window of a sixth of that. Every page built within one window links a file by the same
    URL, so the browser's cache serves it instead of fetching the photo again on every page,
    and a link lives between five sixths of `seconds` and `seconds`, never longer."""
    window = max(1, seconds // 6)
    return (int(time.time() if now is None else now) + seconds) // window * window


class LinkCache:
    """Signed links by (key, expiry): signing is the costly part of a page of photos. Emptied
    when full; a link is only ever reused until the expiry it carries."""

    def __init__(self) -> None:
        self._links: dict[tuple, str] = {}

    def get(self, key: tuple, make) -> str:
        link = self._links.get(key)
        if link is None:
            if len(self._links) >= URL_CACHE_SIZE:
                self._links.clear()
            link = self._links[key] = make()
        return link


@dataclass
class ObjectInfo:
    size: int
    content_type: str


@dataclass(frozen=True)
class Part:
    """One part of a multipart upload, as the store holds it."""

    number: int
    size: int
    etag: str


class Storage(Protocol):
    def presigned_post(self, key: str, content_type: str, max_bytes: int) -> dict: ...

    # Multipart uploads: started by the server, each part sent by the browser to its own
    # pre-signed URL, the parts listed by the server (to resume, and to finish without trusting
    # the browser's word), then joined into the object at `key`, or given up.
    def start_multipart(self, key: str, content_type: str) -> str: ...

    def part_url(self, key: str, upload_id: str, number: int, size: int) -> str: ...

    def list_parts(self, key: str, upload_id: str) -> list[Part] | None: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def download(self, key: str, directory: Path) -> Path: ...

    def write_file(self, key: str, path: Path, content_type: str) -> None: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def signed_url(self, key: str, seconds: int) -> str: ...


def _sign(payload: str) -> str:
    return hmac.new(
        _signing_key(current_app.config["SECRET_KEY"]), payload.encode(), "sha256"
    ).hexdigest()


@functools.lru_cache(maxsize=8)
def _signing_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"amora local media", hashlib.sha256).digest()


_local_links = LinkCache()


class LocalStorage:
    """Files under instance/media, with an upload endpoint that honours signed policies."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise DomainError("Invalid media key.")
        return path

    def presigned_post(self, key: str, content_type: str, max_bytes: int) -> dict:
        policy = base64.urlsafe_b64encode(
            json.dumps(
                {
                    "key": key,
                    "content_type": content_type,
                    "max_bytes": max_bytes,
                    "expires": int(time.time()) + UPLOAD_SECONDS,
                }
            ).encode()
        ).decode()
        return {
            "url": url_for("media.upload"),
            "fields": {
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                "signature": _sign(policy),
            },
        }

    @staticmethod
    def check_policy(policy: str, signature: str) -> dict:
        if not hmac.compare_digest(_sign(policy).encode(), (signature or "").encode()):
            raise DomainError("The upload form is not valid.")
        data = json.loads(base64.urlsafe_b64decode(policy.encode()))
        if data["expires"] < time.time():
            raise DomainError("The upload form has expired; try again.")
        return data

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        meta = path.with_name(path.name + ".meta.json")
        if not path.exists() or not meta.exists():
            return None
        return ObjectInfo(
            size=path.stat().st_size, content_type=json.loads(meta.read_text())["content_type"]
        )

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def write(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.with_name(path.name + ".meta.json").write_text(
            json.dumps({"content_type": content_type})
        )

    def delete(self, key: str) -> None:
        path = self._path(key)
        for candidate in (path, path.with_name(path.name + ".meta.json")):
            candidate.unlink(missing_ok=True)

    def download(self, key: str, directory: Path) -> Path:
        """A path to read the object from: on local disk, the file itself (no copy)."""
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def write_file(self, key: str, path: Path, content_type: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)  # readers never see half a file
        target.with_name(target.name + ".meta.json").write_text(
            json.dumps({"content_type": content_type})
        )

    # --- multipart: parts under .multipart/<upload id>/, joined into the file at the end ---

    def _upload_dir(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id or ""):
            raise DomainError("There is no such upload.")
        return self.root / ".multipart" / upload_id

    def _upload_of(self, key: str, upload_id: str) -> Path:
        """The parts' directory of `upload_id`, which must be the upload of `key`."""
        directory = self._upload_dir(upload_id)
        try:
            started = json.loads((directory / "upload.json").read_text())
        except (OSError, ValueError):
            raise DomainError("There is no such upload.") from None
        if started.get("key") != key:
            raise DomainError("There is no such upload.")
        return directory

    def start_multipart(self, key: str, content_type: str) -> str:
        self._path(key)  # a key inside the root
        upload_id = secrets.token_hex(16)
        directory = self._upload_dir(upload_id)
        directory.mkdir(parents=True)
        (directory / "upload.json").write_text(
            json.dumps({"key": key, "content_type": content_type})
        )
        return upload_id

    def part_url(self, key: str, upload_id: str, number: int, size: int) -> str:
        """A signed PUT for part `number`, of exactly `size` bytes."""
        expires = int(time.time()) + UPLOAD_SECONDS
        query = urlencode(
            {
                "key": key,
                "upload": upload_id,
                "part": number,
                "size": size,
                "expires": expires,
                "sig": _sign(f"part:{key}:{upload_id}:{number}:{size}:{expires}"),
            }
        )
        return f"/media/part?{query}"

    @staticmethod
    def check_part_url(
        key: str, upload_id: str, number: int, size: int, expires: int, sig: str
    ) -> bool:
        return expires >= time.time() and hmac.compare_digest(
            _sign(f"part:{key}:{upload_id}:{number}:{size}:{expires}").encode(),
            (sig or "").encode(),
        )

    def write_part(
        self, key: str, upload_id: str, number: int, body: BinaryIO, size: int | None = None
    ) -> Part:
        """Store one part from `body` (at most PART_BYTES, and exactly `size` when given),
        replacing an earlier try of it."""
        if not 1 <= number <= MAX_PARTS:
            raise DomainError("There is no such part.")
        directory = self._upload_of(key, upload_id)
        target = directory / f"{number:05d}"
        partial = directory / f"{number:05d}.{secrets.token_hex(4)}.partial"
        digest = hashlib.md5(usedforsecurity=False)
        written = 0
        try:
            with partial.open("wb") as out:
                while chunk := body.read(COPY_CHUNK):
                    written += len(chunk)
                    if written > PART_BYTES:
                        raise DomainError("A part is larger than the upload allows.")
                    digest.update(chunk)
                    out.write(chunk)
            if size is not None and size != written:
                raise DomainError("The part is not the size it was signed for.")
            os.replace(partial, target)  # a part is there whole or not at all
        finally:
            partial.unlink(missing_ok=True)
        return Part(number, written, digest.hexdigest())

    def list_parts(self, key: str, upload_id: str) -> list[Part] | None:
        try:
            directory = self._upload_of(key, upload_id)
        except DomainError:
            return None
        parts = []
        for path in sorted(directory.glob("[0-9]" * 5)):
            parts.append(Part(int(path.name), path.stat().st_size, ""))
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        directory = self._upload_of(key, upload_id)
        content_type = json.loads((directory / "upload.json").read_text())["content_type"]
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as out:
            for part in parts:
                with (directory / f"{part.number:05d}").open("rb") as piece:
                    shutil.copyfileobj(piece, out, COPY_CHUNK)
        os.replace(partial, target)
        target.with_name(target.name + ".meta.json").write_text(
            json.dumps({"content_type": content_type})
        )
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            directory = self._upload_of(key, upload_id)
        except DomainError:
            return  # gone already
        shutil.rmtree(directory, ignore_errors=True)

    def signed_url(self, key: str, seconds: int) -> str:
        expires = link_expiry(seconds)
        secret = current_app.config["SECRET_KEY"]
        return _local_links.get((secret, key, expires), lambda: self._link(key, expires))

    @staticmethod
    def _link(key: str, expires: int) -> str:
        # Built by hand, not with url_for: jobs and services render links outside a request.
        query = urlencode({"expires": expires, "sig": _sign(f"{key}:{expires}")})
        return f"/media/file/{quote(key)}?{query}"

    @staticmethod
    def check_url(key: str, expires: int, sig: str) -> bool:
        return expires >= time.time() and hmac.compare_digest(
            _sign(f"{key}:{expires}").encode(), (sig or "").encode()
        )
