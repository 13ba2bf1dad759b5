"""Media jobs."""

from __future__ import annotations

from services import media


def process(media_id: int) -> None:
    media.process(media_id)
