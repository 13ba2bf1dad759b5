"""Junk in the forms of conversations, tips, random chat reports, copyright notices and uploads
(issue #24, input at the edge): each gets a 4xx with its message on the field, never a 500, and
nothing is stored or charged."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Message, RandomSession, Report, Takedown, Tip, User
from services import ledger, posts, random_chat
from tests.conftest import csrf_token
from tests.creator_helpers import signed_in, vault_photo
from tests.test_media import jpeg_bytes, presign, upload

HTMX = {"HX-Request": "true"}


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


# --- sending a message ---------------------------------------------------------------------


@pytest.fixture
def luna_and_sam(app):
    """Luna, a creator with one vault photo; Sam, a fan with 100 credits."""
    luna, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam, sam_id = signed_in(app, "sam@example.com", "Sam", credits=100)
    with app.app_context():
        photo_id = vault_photo(db.session.get(User, luna_id)).id
    return luna, sam, sam_id, photo_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"unlock_price": "abc"}, "The unlock price is a whole number of credits."),
        ({"unlock_price": "1.5"}, "The unlock price is a whole number of credits."),
        ({"unlock_price": "1e3"}, "The unlock price is a whole number of credits."),
        ({"unlock_price": "٣"}, "The unlock price is a whole number of credits."),
        ({"unlock_price": "9" * 40}, "The unlock price can be at most 100,000 credits."),
        ({"unlock_price": "-1"}, "The unlock price cannot be negative."),
        ({"media_id": "abc"}, "Choose a photo or video from your vault, or none."),
        ({"media_id": "2147483648"}, "Choose a photo or video from your vault, or none."),
        ({"media_id": "", "unlock_price": "5"}, "Attach something from your vault to sell."),
        ({"media_id": "", "body": "  "}, "Write something first."),
        ({"upload_id": "x"}, "That photo upload is not valid. Attach it again."),
    ],
)
def test_junk_in_the_compose_form_is_refused_above_it(app, luna_and_sam, fields, message):
    luna, _, sam_id, photo_id = luna_and_sam
    data = {"body": "For you", "media_id": str(photo_id), "unlock_price": "0", **fields}
    refused = luna.post(f"/messages/{sam_id}", data, headers=HTMX)
    assert refused.status_code == 422
    assert re.search(r'class="flash error" role="alert">([^<]*)<', refused.text)[1] == message
    with app.app_context():
        assert count(Message) == 0


def test_without_javascript_a_refused_message_shows_the_conversation_again(app, luna_and_sam):
    luna, _, sam_id, photo_id = luna_and_sam
    data = {"body": "Just for you", "media_id": str(photo_id), "unlock_price": "lots"}
    page = luna.post(f"/messages/{sam_id}", data)
    assert page.status_code == 422
    html = page.text
    assert "<title>Sam · Messages" in html
    assert re.search(r">\s*Just for you</textarea>", html)  # what was typed is kept
    assert re.search(r'<details class="attach" open>', html)
    error = '<p class="error" id="unlock_price-error">The unlock price is a whole number'
    assert error in html and 'aria-invalid="true"' in html
    assert f'value="{photo_id}" checked' in html  # the photo stays chosen
    assert "check the attachment below" in html  # the alert above the form points at it


def test_a_photo_that_is_not_yours_is_not_found_and_a_good_ppv_message_goes(app, luna_and_sam):
    luna, sam, sam_id, photo_id = luna_and_sam
    missing = luna.post(f"/messages/{sam_id}", {"body": "x", "media_id": "99999"}, headers=HTMX)
    assert missing.status_code == 404 and "There is no such item in your vault." in missing.text
    # Repeated keys: the first value counts, as for any form field.
    data = {"body": "Yours for 40", "media_id": str(photo_id), "unlock_price": ["40", "junk"]}
    sent = luna.post(f"/messages/{sam_id}", data, headers=HTMX)
    assert sent.status_code == 200
    with app.app_context():
        message = db.session.scalar(select(Message))
        assert (message.media_id, message.unlock_price) == (photo_id, 40)


# --- tips ----------------------------------------------------------------------------------


@pytest.fixture
def tipping(app):
    luna, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam, _ = signed_in(app, "sam@example.com", "Sam", credits=100)
    with app.app_context():
        post_id = posts.create(db.session.get(User, luna_id), body="hi", visibility="public").id
    return sam, luna_id, post_id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": ""}, "Enter how many credits to tip."),
        ({"amount": "abc"}, "Tip a whole number of credits."),
        ({"amount": "2.5"}, "Tip a whole number of credits."),
        ({"amount": "0"}, "A tip is at least 1 credit."),
        ({"amount": "9" * 30}, "A tip can be at most 50,000 credits."),
        ({"note": "x" * 201}, "Keep the note under 200 characters."),
    ],
)
def test_junk_tips_are_refused_on_the_field(app, tipping, fields, message):
    sam, luna_id, _ = tipping
    token = "ab" * 16
    data = {"amount": "5", "note": "", "target_type": "profile", "token": token, **fields}
    refused = sam.post(f"/creators/{luna_id}/tip", data, headers=HTMX)
    assert refused.status_code == 422
    name = next(iter(fields))
    box = f"tip-profile-{luna_id}"
    assert f'<p class="error" id="{box}-{name}-error">{message}</p>' in refused.text
    assert f'value="{token}"' in refused.text  # the same one-time token for the retry
    with app.app_context():
        assert count(Tip) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"target_type": "wallet"},
        {"target_type": ""},
        {"target_type": "post", "target_id": "2147483648"},
        {"target_type": "post", "target_id": "abc"},
    ],
)
def test_a_tip_for_nothing_is_refused_above_the_form(app, tipping, fields):
    sam, luna_id, _ = tipping
    refused = sam.post(f"/creators/{luna_id}/tip", {"amount": "5", **fields}, headers=HTMX)
    assert refused.status_code in (404, 422)
    assert 'role="alert">There is nothing to tip there.' in refused.text
    with app.app_context():
        assert count(Tip) == 0


def test_a_tip_on_a_post_then_a_fresh_form_and_without_javascript_an_error_page(app, tipping):
    sam, luna_id, post_id = tipping
    data = {"amount": "7", "target_type": "post", "target_id": str(post_id), "token": "cd" * 16}
    done = sam.post(f"/creators/{luna_id}/tip", data, headers=HTMX)
    assert done.status_code == 200 and "You tipped Luna 7 credits." in done.text
    assert f'id="tip-post-{post_id}"' in done.text and "cd" * 16 not in done.text  # a new token
    plain = sam.post(f"/creators/{luna_id}/tip", {"amount": "many"})
    assert plain.status_code == 422 and "Tip a whole number of credits." in plain.text
    with app.app_context():
        assert count(Tip) == 1 and ledger.verify() == []


def test_a_list_of_posts_fetches_its_tip_form_when_tip_is_opened(app, tipping):
    """A feed renders no tip form per post: "Tip" fetches one, with its own token, for htmx;
    without JavaScript the same address is a page with the form; the post's own page has it."""
    sam, luna_id, post_id = tipping
    box = f"/creators/{luna_id}/tip?target_type=post&target_id={post_id}"
    feed = sam.client.get(f"/creators/{luna_id}")
    assert feed.status_code == 200
    assert f'hx-get="{box.replace("&", "&amp;")}"' in feed.text
    assert 'name="amount"' not in feed.text.split(f'id="post-{post_id}"')[1]
    tokens = set()
    for _ in range(2):
        fetched = sam.client.get(box, headers=HTMX)
        assert fetched.status_code == 200 and f'id="tip-post-{post_id}"' in fetched.text
        assert "<html" not in fetched.text and 'name="amount"' in fetched.text
        tokens.add(re.search(r'name="token" type="hidden" value="(\w+)"', fetched.text)[1])
    assert len(tokens) == 2  # a one-time token each
    page = sam.client.get(box)
    assert page.status_code == 200 and "<title>Tip Luna" in page.text
    assert f'id="tip-post-{post_id}"' in page.text
    own = sam.client.get(f"/posts/{post_id}")
    assert f'id="tip-post-{post_id}"' in own.text and 'hx-trigger="toggle once"' not in own.text


@pytest.mark.parametrize(
    "query", ["target_type=wallet", "target_type=post&target_id=abc", "target_id=-1"]
)
def test_a_tip_box_for_nothing_is_a_400(app, tipping, query):
    sam, luna_id, _ = tipping
    refused = sam.client.get(f"/creators/{luna_id}/tip?{query}", headers=HTMX)
    assert refused.status_code == 400 and "There is nothing to tip there." in refused.text


def test_a_tip_box_needs_a_login_and_a_visible_creator(app, tipping, client):
    sam, luna_id, _ = tipping
    assert client.get(f"/creators/{luna_id}/tip").status_code in (302, 401)
    assert sam.client.get("/creators/999999/tip").status_code == 404


# --- reporting a random chat ---------------------------------------------------------------


@pytest.fixture
def chat(app):
    ana, ana_id = signed_in(app, "ana@example.com", "Ana")
    _, bob_id = signed_in(app, "bob@example.com", "Bob")
    with app.app_context():
        random_chat.join(db.session.get(User, ana_id), [])
        session = random_chat.join(db.session.get(User, bob_id), [])
        return ana, session.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "rc-reason", "Choose a reason."),
        ({"reason": ""}, "rc-reason", "Choose a reason."),
        ({"reason": "boredom"}, "rc-reason", "Choose a reason."),
        ({"reason": "spam", "details": "x" * 2001}, "rc-details", "Keep it under 2000 characters."),
    ],
)
def test_a_report_without_a_reason_gets_the_form_back(app, chat, fields, field, message):
    ana, session_id = chat
    refused = ana.post(f"/random/sessions/{session_id}/report", fields, headers=HTMX)
    assert refused.status_code == 422
    html = refused.text
    assert f'<p class="error" id="{field}-error">{message}</p>' in html
    assert f'hx-post="/random/sessions/{session_id}/report"' in html  # the same chat on retry
    with app.app_context():
        assert count(Report) == 0
        assert db.session.get(RandomSession, session_id).ended_at is None


def test_a_report_ends_the_chat_and_a_stranger_chat_is_not_found(app, chat):
    ana, session_id = chat
    done = ana.post(
        f"/random/sessions/{session_id}/report",
        {"reason": "harassment", "details": "rude"},
        headers=HTMX,
    )
    assert done.status_code == 200 and "our moderators will read the transcript" in done.text
    elsewhere = ana.post("/random/sessions/999/report", {"reason": "spam"}, headers=HTMX)
    assert elsewhere.status_code == 404 and "You are not in that chat." in elsewhere.text
    with app.app_context():
        assert count(Report) == 1


# --- copyright notices ---------------------------------------------------------------------


def notice(client, **fields):
    data = {
        "csrf_token": csrf_token(client),
        "claimant_name": "Ann Lee",
        "claimant_email": "ann@example.org",
        "content_url": "/creators/1",
        "original_work": "My photo series 'Dunes', published on my site in 2024.",
        "good_faith": "on",
        "signature": "Ann Lee",
        **fields,
    }
    return client.post("/takedown", data={k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"claimant_name": None}, "Enter your full name."),
        ({"claimant_name": "A"}, "Your full name."),
        ({"claimant_email": "ann"}, "An email address we can reply to."),
        ({"content_url": "http://[::1/posts/1"}, "The address of the post or creator page"),
        ({"content_url": "/creators/1?" + "x" * 500}, "Keep the address under 500 characters."),
        ({"content_url": "ftp://x/posts/1"}, "The address of the post or creator page"),
        ({"good_faith": None}, "The statement under penalty of perjury is required."),
        ({"good_faith": "false"}, "The statement under penalty of perjury is required."),
        ({"signature": "Someone Else"}, "Sign with your full name, as above."),
    ],
)
def test_a_notice_missing_a_field_is_refused_on_that_field(app, fields, message):
    refused = notice(app.test_client(), **fields)
    assert refused.status_code == 422
    html = refused.text
    assert "Please complete the fields marked below." in html
    name = next(iter(fields))
    assert re.search(rf'<p class="error" id="{name}-error">{re.escape(message)}', html), html
    with app.app_context():
        assert count(Takedown) == 0


def test_an_empty_notice_names_every_field_and_a_complete_one_is_filed(app):
    client = app.test_client()
    empty = client.post("/takedown", data={"csrf_token": csrf_token(client)})
    assert empty.status_code == 422
    for name in ("claimant_name", "claimant_email", "content_url", "original_work", "signature"):
        assert f'id="{name}-error"' in empty.text
    assert notice(client).status_code == 200
    with app.app_context():
        assert count(Takedown) == 1


# --- the local storage's upload target and download links ----------------------------------


def test_an_upload_without_its_file_and_a_link_with_a_junk_expiry_are_refused(app):
    fan, _ = signed_in(app, "sam@example.com", "Sam")
    data = jpeg_bytes()
    presigned = presign(fan, size=len(data)).json
    no_file = fan.client.post(
        presigned["url"], data=presigned["fields"], content_type="multipart/form-data"
    )
    assert no_file.status_code == 400 and no_file.json == {"error": "No file was sent."}
    assert upload(fan, presigned, data).status_code == 204
    for expires in ("soon", "1" * 40, "-1", ""):
        link = fan.client.get(f"/media/file/{presigned['key']}?expires={expires}&sig=x")
        assert link.status_code == 403 and "This link has expired" in link.text
