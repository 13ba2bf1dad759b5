"""Addresses someone else typed are followed only when they are our own pages: the page a tip
returns to."""

from __future__ import annotations

from extensions import db
from services import posts
from tests.creator_helpers import creator, signed_in


def luna_and_a_post(app) -> tuple[int, int]:
    with app.app_context():
        luna = creator("Luna")
        post = posts.create(luna, {"body": "sunsets", "visibility": "public"}, [])
        db.session.commit()
        return luna.id, post.id


# --- the tip form ------------------------------------------------------------------------------


def tip_from(auth, luna_id: int, referer: str | None):
    headers = {"Referer": referer} if referer else {}
    return auth.post(f"/creators/{luna_id}/tip", {"amount": "1"}, headers=headers)


def test_a_tip_returns_to_the_page_it_was_sent_from(app):
    luna_id, post_id = luna_and_a_post(app)
    sam, _ = signed_in(app, "sam@example.com", "Sam", credits=10)
    response = tip_from(sam, luna_id, f"http://localhost/posts/{post_id}?from=feed")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/posts/{post_id}?from=feed"


def test_a_tip_never_sends_the_fan_to_another_site(app):
    luna_id, _ = luna_and_a_post(app)
    sam, _ = signed_in(app, "sam@example.com", "Sam", credits=10)
    for referer in (
        "https://evil.example/creators/1",
        "http://localhost.evil.example/posts/1",
        "http://localhost//evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        None,
    ):
        response = tip_from(sam, luna_id, referer)
        assert response.status_code == 303, referer
        assert response.headers["Location"] == f"/creators/{luna_id}", referer
