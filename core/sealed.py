"""Envelope encryption for files that must never be readable at rest: identity documents,
selfies, co-performers' releases (the Identity issue's documents).

Each file gets a random 256-bit data key of its own and is encrypted with AES-256-GCM under
it; the data key is then wrapped (AES-256-GCM again) by the current master key of a `Keyring`,
whose id goes with the wrapped key. The sealed file can sit in any storage; the wrapped key is
kept with the file's row. Both are bound to a `context` (what the file is, e.g.
`b"identity-document:42"`): a wrapped key or a file moved to another row does not open.

Rotating the master key means adding a new current key to the keyring and calling `rewrap` on
each wrapped data key: the files themselves are not read or rewritten. An old master key can
leave the keyring once nothing is wrapped by it.

Nothing here touches the database or storage: callers hand bytes in and get bytes out.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"AMS1"  # a sealed file's first bytes: the format, should it ever change
NONCE_BYTES = 12  # AES-GCM's standard nonce; random per encryption (a key seals once)
KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class SealError(Exception):
    """A sealed file or wrapped key that does not open: wrong key, wrong context, unknown
    master key id, or bytes changed."""


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; `current` wraps new data keys, any of them unwraps."""

    current: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current master key is not in the keyring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id) or len(key) != KEY_BYTES:
                raise ValueError(f"master key {key_id!r}: an id of [A-Za-z0-9_-] and 32 bytes")

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """`"id:base64,id:base64,…"` (the first is current), as configuration holds it."""
        keys: dict[str, bytes] = {}
        current = None
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key_id, _, encoded = item.partition(":")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"master key {key_id!r} is not base64") from None
            if key_id in keys:
                raise ValueError(f"master key {key_id!r} is listed twice")
            keys[key_id] = key
            current = current or key_id
        if current is None:
            raise ValueError("no master key")
        return cls(current, keys)

    @staticmethod
    def new_key() -> str:
        """A fresh master key, base64, for an operator's configuration."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def seal(plaintext: bytes, keyring: Keyring, *, context: bytes) -> tuple[bytes, str]:
    """The sealed file and its wrapped data key."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    sealed = MAGIC + nonce + AESGCM(data_key).encrypt(nonce, plaintext, context)
    return sealed, wrap(data_key, keyring, context=context)


def open_sealed(sealed: bytes, wrapped: str, keyring: Keyring, *, context: bytes) -> bytes:
    """The plaintext of a sealed file, or SealError."""
    data_key = unwrap(wrapped, keyring, context=context)
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE_BYTES + 16:
        raise SealError("not a sealed file")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], context)
    except InvalidTag:
        raise SealError("the file does not open with its key and context") from None


def wrap(data_key: bytes, keyring: Keyring, *, context: bytes) -> str:
    """`"<master key id>:<base64 of nonce and wrapped key>"`."""
    nonce = os.urandom(NONCE_BYTES)
    key_id = keyring.current
    box = AESGCM(keyring.keys[key_id]).encrypt(nonce, data_key, _bound(key_id, context))
    return f"{key_id}:{base64.b64encode(nonce + box).decode()}"


def unwrap(wrapped: str, keyring: Keyring, *, context: bytes) -> bytes:
    key_id, _, encoded = (wrapped or "").partition(":")
    master = keyring.keys.get(key_id)
    if master is None:
        raise SealError(f"no master key {key_id!r} in the keyring")
    try:
        raw = base64.b64decode(encoded, validate=True)
        return AESGCM(master).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(key_id, context))
    except (binascii.Error, ValueError, InvalidTag):
        raise SealError("the data key does not unwrap with its master key and context") from None


def rewrap(wrapped: str, keyring: Keyring, *, context: bytes) -> str:
    """The same data key wrapped by the keyring's current master key (as it was, when it
    already is): rotation without reading the file."""
    if wrapped.partition(":")[0] == keyring.current:
        return wrapped
    return wrap(unwrap(wrapped, keyring, context=context), keyring, context=context)


def _bound(key_id: str, context: bytes) -> bytes:
    return key_id.encode() + b"\x00" + context
