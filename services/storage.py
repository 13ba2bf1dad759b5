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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode

from flask import current_app, url_for

from core.errors import DomainError

UPLOAD_SECONDS = 600  # how long a pre-signed upload stays valid
URL_SECONDS = 3600  # how long a signed download link stays valid
URL_CACHE_SIZE = 20_000  # signed links kept for reuse within their window (a few MB)


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


class Storage(Protocol):
    def presigned_post(self, key: str, content_type: str, max_bytes: int) -> dict: ...

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
