"""Random chat jobs."""

from __future__ import annotations

from services import random_chat


def purge_transcripts() -> int:
    """Drop random-chat transcripts older than the retention (they exist for reports)."""
    return random_chat.purge_transcripts()


def sweep_calls() -> dict[str, int]:
    """Expire unanswered call requests; end calls that dropped or ran out of credits."""
    from services import calls

    return calls.sweep()
