"""Admin → Moderation (docs/dating.md#reports): the report queue, the reported thing shown in place,
and the decision: dismiss, remove the content, warn, suspend or ban. The reporter is told the
outcome; the reported member is told when it concerns them. Every decision is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import aliased

from core import clock
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    MediaObject,
    MediaStatus,
    Message,
    Notification,
    Photo,
    Post,
    PostMedia,
    PostStatus,
    Profile,
    Report,
    ReportStatus,
    User,
    UserStatus,
)
from services import accounts, audit, media
from services.input import parse_id

OUTCOMES = {
    "dismiss": "No rule was broken",
    "remove": "The content was removed",
    "warn": "The member was warned",
    "suspend": "The member was suspended",
    "ban": "The member was banned",
}
NOTE_MAX = 1000
REMOVABLE = ("profile", "photo", "message", "post")
REMOVED_TEXT = "[removed by a moderator]"


@dataclass
class Subject:
    """What was reported, as it is now (and as it was when reported: `report.snapshot`)."""

    kind: str
    text: str | None = None
    image_urls: tuple[str, ...] = ()
    exists: bool = True
    videos: tuple[media.VideoLinks, ...] = ()  # played in place, with their posters
    posters: tuple[str | None, ...] = ()
    voice_urls: tuple[str, ...] = ()


def _get(model, ident: object):
    """The row of `model` a report's subject id names, or None."""
    row_id = parse_id(str(ident))
    return db.session.get(model, row_id) if row_id is not None else None


def queue(status: str = ReportStatus.OPEN, limit: int = 100) -> list[tuple[Report, User, User]]:
    reporter, reported = aliased(User), aliased(User)
    query = (
        select(Report, reporter, reported)
        .join(reporter, reporter.id == Report.reporter_id)
        .join(reported, reported.id == Report.reported_user_id)
    )
    if status != "all":
        query = query.where(Report.status == status)
    return [
        (report, by, about)
        for report, by, about in db.session.execute(
            query.order_by(Report.id.desc() if status != ReportStatus.OPEN else Report.id).limit(
                limit
            )
        ).all()
    ]


def _urls(keys) -> tuple[str, ...]:
    return tuple(url for url in (media.url_for_key(key, 600) for key in keys if key) if url)


def _with_media(kind: str, text: str | None, objects: list[MediaObject]) -> Subject:
    """A reported message or post with its photos, videos and voice notes, all in full."""
    images, videos, posters, voices = [], [], [], []
    for obj in objects:
        if obj is None or obj.status != MediaStatus.READY:
            continue
        variants = obj.variants or {}
        links = media.video_links(variants, False, obj.duration_ms)
        if links is not None:
            videos.append(links)
            posters.append(media.url_for_key(variants.get("poster"), 600))
        elif variants.get("audio"):
            voices.extend(_urls([variants["audio"]]))
        else:
            images.extend(_urls([variants.get("display")]))
    return Subject(
        kind,
        text=text,
        image_urls=tuple(images),
        videos=tuple(videos),
        posters=tuple(posters),
        voice_urls=tuple(voices),
    )


def subject(report: Report) -> Subject:
    """The reported object rendered for a moderator (full media: moderators see everything)."""
    kind, ident = report.subject_type, report.subject_id
    if kind == "profile":
        profile = db.session.get(Profile, report.reported_user_id)
        photos = db.session.scalars(
            select(Photo).where(Photo.user_id == report.reported_user_id).order_by(Photo.position)
        )
        clip = media.profile_clip(report.reported_user_id)
        return Subject(
            kind,
            text=profile.bio if profile else None,
            image_urls=_urls(photo.thumb_key for photo in photos),
            videos=(clip.links,) if clip.links else (),
            posters=(clip.poster,) if clip.links else (),
        )
    row_id = parse_id(str(ident))
    if row_id is None:
        return Subject(kind, exists=False)
    if kind == "photo":
        photo = db.session.get(Photo, row_id)
        return (
            Subject(kind, image_urls=_urls([photo.storage_key]))
            if photo
            else Subject(kind, exists=False)
        )
    if kind == "message":
        message = db.session.get(Message, row_id)
        if message is None:
            return Subject(kind, exists=False)
        obj = db.session.get(MediaObject, message.media_id) if message.media_id else None
        return _with_media(kind, message.body, [obj])
    if kind == "post":
        post = db.session.get(Post, row_id)
        if post is None or post.status == PostStatus.DELETED:
            return Subject(kind, text=post.body if post else None, exists=False)
        objects = db.session.scalars(
            select(MediaObject)
            .join(PostMedia, PostMedia.media_id == MediaObject.id)
            .where(PostMedia.post_id == post.id)
            .order_by(PostMedia.position)
        ).all()
        return _with_media(kind, post.body, list(objects))
    return Subject(kind, exists=False)


def _remove(report: Report) -> None:
    kind, ident = report.subject_type, report.subject_id
    if kind == "profile":
        profile = db.session.get(Profile, report.reported_user_id)
        if profile is not None:
            profile.bio = ""
            profile.updated_at = clock.now()
        for photo in db.session.scalars(
            select(Photo).where(Photo.user_id == report.reported_user_id)
        ):
            _delete_photo(photo)
        media.take_down_clips(report.reported_user_id)
    elif kind == "photo":
        photo = _get(Photo, ident)
        if photo is not None:
            _delete_photo(photo)
    elif kind == "message":
        message = _get(Message, ident)
        if message is not None:
            message.body = REMOVED_TEXT
            if message.media_id is not None:
                media.take_down(db.session.get(MediaObject, message.media_id))
            message.media_id = None
    elif kind == "post":
        post = _get(Post, ident)
        if post is not None:
            post.status = PostStatus.DELETED
            post.updated_at = clock.now()
            media.take_down_post_media(post.id)
    else:
        raise DomainError("This kind of report has no content to remove.")


def _delete_photo(photo: Photo) -> None:
    for key in (photo.storage_key, photo.thumb_key):
        if key:
            media.storage().delete(key)
    profile = db.session.get(Profile, photo.user_id)
    was_main = photo.position == 0
    db.session.delete(photo)
    if profile is not None:
        profile.photo_count = max((profile.photo_count or 1) - 1, 0)
    if was_main:  # the photo check no longer vouches for the profile
        media.photo_check_lapses(db.session.get(User, photo.user_id), profile)


def decide(admin: User, report_id: int, outcome: str, note: str = "") -> Report:
    """Close a report with an outcome. One transaction (the suspend/ban included)."""
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound("There is no such report.")
    if report.status != ReportStatus.OPEN:
        raise Conflict("This report was already handled.")
    if outcome not in OUTCOMES:
        raise ValidationFailed({"outcome": "Choose what to do."})
    note = " ".join(note.split())[:NOTE_MAX]
    if outcome in ("warn", "suspend", "ban") and len(note) < 3:
        raise ValidationFailed({"note": "Say why: the member will see it."})
    reported = db.session.get(User, report.reported_user_id)
    if reported.id == admin.id or (reported.is_staff and not admin.outranks(reported)):
        raise NotAllowed("Another admin handles a report about you or about staff.")
    if outcome == "remove":
        _remove(report)
    elif outcome == "warn":
        db.session.add(
            Notification(
                user_id=reported.id,
                kind="warning",
                text=f"A moderator warned you: {note}",
                link="/terms",
            )
        )
    if outcome in ("suspend", "ban") and reported.status != UserStatus.DELETED:
        # set_status commits; doing it first keeps the report open if it fails.
        accounts.set_status(
            reported, "suspended" if outcome == "suspend" else "banned", note, actor_id=admin.id
        )
    report.status = ReportStatus.DISMISSED if outcome == "dismiss" else ReportStatus.ACTIONED
    report.outcome = outcome
    report.resolution_note = note or None
    report.resolved_by_id = admin.id
    report.resolved_at = clock.now()
    db.session.add(
        Notification(
            user_id=report.reporter_id,
            kind="report",
            text=f"Thanks for your report about {reported.display_name}: "
            f"{OUTCOMES[outcome].lower()}.",
            link="/notifications",
        )
    )
    audit.record(
        f"report.{outcome}",
        actor_id=admin.id,
        target=("report", report.id),
        note=note or None,
        reported_user_id=reported.id,
        subject=f"{report.subject_type}:{report.subject_id}",
    )
    db.session.commit()
    return report
