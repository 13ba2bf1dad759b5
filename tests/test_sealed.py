"""core/sealed.py: envelope encryption of documents (a data key per file, wrapped by a master
key), rotation by re-wrapping, and every way a sealed file refuses to open."""

from __future__ import annotations

import base64
import os

import pytest

from core import sealed
from core.sealed import Keyring, SealError

DOCUMENT = b"%PDF-1.7 passport of Luna Example, number X1234567" + os.urandom(2000)
CONTEXT = b"identity-document:42"


def keyring(*ids: str) -> Keyring:
    return Keyring.parse(",".join(f"{key_id}:{Keyring.new_key()}" for key_id in ids))


def test_what_is_stored_is_not_the_document_and_opens_only_with_its_key():
    keys = keyring("k1")
    box, wrapped = sealed.seal(DOCUMENT, keys, context=CONTEXT)
    assert DOCUMENT not in box and b"passport" not in box and b"Luna" not in box
    assert box.startswith(sealed.MAGIC) and len(box) == len(DOCUMENT) + 4 + 12 + 16
    assert wrapped.startswith("k1:")
    assert sealed.open_sealed(box, wrapped, keys, context=CONTEXT) == DOCUMENT
    # Another keyring with the same key id holds another key: nothing opens.
    with pytest.raises(SealError):
        sealed.open_sealed(box, wrapped, keyring("k1"), context=CONTEXT)
    # Each file has its own data key: the same document sealed twice shares nothing.
    again, wrapped_again = sealed.seal(DOCUMENT, keys, context=CONTEXT)
    assert again != box and wrapped_again != wrapped


@pytest.mark.parametrize("what", ["context", "file", "wrapped key", "key id", "not sealed"])
def test_a_changed_or_moved_file_does_not_open(what):
    keys = keyring("k1")
    box, wrapped = sealed.seal(DOCUMENT, keys, context=CONTEXT)
    context = CONTEXT
    if what == "context":  # the file and key moved to another row
        context = b"identity-document:43"
    elif what == "file":
        box = box[:-1] + bytes([box[-1] ^ 1])
    elif what == "wrapped key":
        raw = bytearray(base64.b64decode(wrapped.split(":", 1)[1]))
        raw[-1] ^= 1
        wrapped = "k1:" + base64.b64encode(bytes(raw)).decode()
    elif what == "key id":
        wrapped = "k9:" + wrapped.split(":", 1)[1]
    else:
        box = DOCUMENT
    with pytest.raises(SealError):
        sealed.open_sealed(box, wrapped, keys, context=context)


def test_rotation_rewraps_the_data_key_and_leaves_the_file_alone():
    old = keyring("k1")
    box, wrapped = sealed.seal(DOCUMENT, old, context=CONTEXT)
    new_key = Keyring.new_key()
    old_key = base64.b64encode(old.keys["k1"]).decode()
    rotated = Keyring.parse(f"k2:{new_key},k1:{old_key}")  # k2 is current, k1 still opens
    assert sealed.open_sealed(box, wrapped, rotated, context=CONTEXT) == DOCUMENT
    rewrapped = sealed.rewrap(wrapped, rotated, context=CONTEXT)
    assert rewrapped.startswith("k2:")
    assert sealed.rewrap(rewrapped, rotated, context=CONTEXT) == rewrapped  # done already
    only_new = Keyring.parse(f"k2:{new_key}")  # k1 retired once nothing uses it
    assert sealed.open_sealed(box, rewrapped, only_new, context=CONTEXT) == DOCUMENT
    with pytest.raises(SealError, match="no master key 'k1'"):
        sealed.open_sealed(box, wrapped, only_new, context=CONTEXT)


@pytest.mark.parametrize(
    "text",
    ["", "k1", "k1:not-base64!", f"k1:{base64.b64encode(b'short').decode()}",
     f"bad id:{Keyring.new_key()}", f"k1:{Keyring.new_key()},k1:{Keyring.new_key()}"],
    ids=["empty", "no key", "not base64", "short key", "bad id", "twice"],
)  # fmt: skip
def test_a_keyring_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        Keyring.parse(text)
