"""Messaging jobs."""

from __future__ import annotations

from services import mass_messages


def send_mass_message(mass_message_id: int) -> int:
    """Deliver a mass message to every subscriber; resumes where a killed run stopped."""
    return mass_messages.deliver(mass_message_id)
