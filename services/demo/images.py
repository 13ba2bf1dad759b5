"""Pictures for the demo world, drawn with Pillow (no real people), and stored the way an
upload is: written to media storage as an uploaded object, then run through the media job
(display size, thumbnail, blurred preview, a Photo row for profile photos)."""

from __future__ import annotations

import io
import random
import secrets

from PIL import Image, ImageColor, ImageDraw

from extensions import db
from models import MediaObject, MediaStatus, User
from services import media

SKIN = ["#f6d3b8", "#eab38f", "#d09467", "#a86f45", "#7d4f2e", "#5a3820"]
HAIR = ["#2b1d14", "#4a2f1d", "#7b4a26", "#b07a3c", "#d9b36c", "#8c8c8c", "#1c1c2a", "#9e3b2a"]
BACKDROPS = [
    ("#ffd6e0", "#c2185b"),
    ("#d7ecff", "#1f5fa8"),
    ("#dff5e6", "#1b7f4b"),
    ("#fff1cc", "#c77800"),
    ("#ece2ff", "#6a3fb5"),
    ("#ffe3d3", "#d1495b"),
    ("#d9f3f3", "#1f7a7a"),
]
CLOTHES = ["#263238", "#c2185b", "#1f5fa8", "#1b7f4b", "#f2f2f2", "#6a3fb5", "#d1495b", "#8d6e63"]
PORTRAIT = (480, 600)


def abstract(seed: str) -> bytes:
    """A colourful abstract picture (a creator's post), the same for the same seed."""
    rng = random.Random(seed)
    base = tuple(rng.randrange(40, 200) for _ in range(3))
    image = Image.new("RGB", (960, 720), base)
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y, r = rng.randrange(960), rng.randrange(720), rng.randrange(40, 260)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return _jpeg(image)


def portrait(seed: str) -> bytes:
    """A head-and-shoulders figure in flat colours (a dater's profile photo): skin, hair, its
    length, clothes and backdrop vary with the seed, the same for the same seed."""
    rng = random.Random(seed)
    width, height = PORTRAIT
    light, accent = BACKDROPS[rng.randrange(len(BACKDROPS))]
    image = Image.new("RGB", PORTRAIT, light)
    draw = ImageDraw.Draw(image)
    skin = rng.choice(SKIN)
    hair = rng.choice([h for h in HAIR if abs(_lightness(h) - _lightness(skin)) > 50])
    cx = width // 2 + rng.randint(-16, 16)
    head_w, head_h, top = rng.randint(176, 204), rng.randint(230, 250), rng.randint(92, 120)
    halo = head_h * 0.95
    middle = top + head_h // 2
    draw.ellipse((cx - halo, middle - halo, cx + halo, middle + halo), fill=accent)
    if rng.random() < 0.5:  # long hair, falling behind the shoulders
        draw.rounded_rectangle(
            (cx - head_w // 2 - 20, top + 50, cx + head_w // 2 + 20, top + head_h + 130),
            radius=70,
            fill=hair,
        )
    shoulders = top + head_h - 12
    clothes = rng.choice([c for c in CLOTHES if c != accent])
    draw.rectangle((cx - 36, top + head_h - 40, cx + 36, shoulders + 40), fill=skin)  # neck
    draw.ellipse((cx - 250, shoulders + 20, cx + 250, shoulders + 420), fill=clothes)
    draw.ellipse((cx - head_w // 2, top, cx + head_w // 2, top + head_h), fill=skin)
    draw.chord(  # hair on top of the head
        (cx - head_w // 2 - 10, top - 26, cx + head_w // 2 + 10, top + head_h * 0.7),
        180,
        360,
        fill=hair,
    )
    eyes_y = top + head_h * 11 // 20
    for side in (-1, 1):
        x = cx + side * head_w // 5
        draw.ellipse((x - 8, eyes_y - 8, x + 8, eyes_y + 8), fill="#2a2a2a")
    mouth_y = top + head_h * 3 // 4
    draw.arc((cx - 30, mouth_y - 20, cx + 30, mouth_y + 14), 20, 160, fill="#7a3b3b", width=6)
    return _jpeg(image)


def _lightness(colour: str) -> int:
    red, green, blue = ImageColor.getrgb(colour)[:3]
    return (299 * red + 587 * green + 114 * blue) // 1000


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def store_upload(owner: User, purpose: str, data: bytes) -> MediaObject:
    """`data` as if `owner` had uploaded it for `purpose` ("photo", "vault"), processed by the
    media job: a profile photo becomes one of the owner's photos."""
    key = f"u/{owner.id}/{purpose}/{secrets.token_hex(12)}.jpg"
    media.storage().write(key, data, "image/jpeg")
    obj = MediaObject(
        user_id=owner.id,
        purpose=purpose,
        key=key,
        content_type="image/jpeg",
        max_bytes=media.MAX_VAULT_BYTES if purpose == "vault" else media.MAX_PHOTO_BYTES,
        size=len(data),
        status=MediaStatus.UPLOADED,
    )
    db.session.add(obj)
    db.session.commit()
    media.process(obj.id)
    return obj
