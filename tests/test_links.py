"""Addresses someone else typed are followed or linked only when they are our own pages: the
page a tip returns to, and the content links in Admin → Takedowns."""

from __future__ import annotations

import re

from extensions import db
from services import posts
from tests.conftest import csrf_token
from tests.creator_helpers import creator, signed_in
from tests.test_admin import make_admin


def luna_and_a_post(app) -> tuple[int, int]:
    with app.app_context():
        luna = creator("Luna")
        post = posts.create(luna, body="sunsets", visibility="public")
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


# --- Admin → Takedowns -------------------------------------------------------------------------


def file_notice(app, content_url: str) -> None:
    client = app.test_client()
    response = client.post(
        "/takedown",
        data={
            "csrf_token": csrf_token(client),
            "claimant_name": "Ann Lee",
            "claimant_email": "ann@example.org",
            "content_url": content_url,
            "original_work": "My photo series 'Dunes', published on my site in 2024.",
            "good_faith": "on",
            "signature": "Ann Lee",
        },
    )
    assert response.status_code == 200, content_url


def test_takedowns_link_only_to_our_own_pages_and_show_the_rest_as_text(app):
    app.config["BASE_URL"] = "https://amora.example"
    luna_id, post_id = luna_and_a_post(app)
    ours = [
        f"http://localhost/posts/{post_id}",  # this request's host
        f"https://amora.example/creators/{luna_id}",  # BASE_URL's host
        f"/posts/{post_id}",
    ]
    theirs = [
        f"https://evil.example/posts/{post_id}?<b>login</b>",
        f"//evil.example/posts/{post_id}",
        f"https://amora.example.evil.example/posts/{post_id}",
        f"http://localhost/posts/{post_id}/unlock",  # ours, but not a page (a form's target)
    ]
    for url in ours + theirs:
        file_notice(app, url)
    admin, _ = make_admin(app)
    page = admin.client.get("/admin/takedowns").get_data(as_text=True)
    hrefs = re.findall(r'<a href="([^"]*)">([^<]*)</a>', page)
    linked = {text: href for href, text in hrefs if "posts" in href or "creators" in href}
    assert linked == {
        f"http://localhost/posts/{post_id}": f"/posts/{post_id}",
        f"https://amora.example/creators/{luna_id}": f"/creators/{luna_id}",
        f"/posts/{post_id}": f"/posts/{post_id}",
    }
    assert "evil.example" not in "".join(href for href, _ in hrefs)
    assert f"https://evil.example/posts/{post_id}?&lt;b&gt;login&lt;/b&gt;" in page
    assert "<b>login</b>" not in page
    assert page.count("not a page of this site, so not linked") == len(theirs)
