"""Templates' url_for (blueprints/urls.py) builds exactly what Flask's url_for builds."""

from __future__ import annotations

import pytest
from flask import render_template_string, url_for
from werkzeug.routing import BuildError

from blueprints.urls import fast_url_for


@pytest.mark.parametrize("script_root", ["", "/amora"])
def test_every_rule_builds_the_same_url_as_flask(app, script_root):
    with app.test_request_context("/", base_url=f"http://localhost{script_root}/"):
        for rule in app.url_map.iter_rules():
            names = sorted(rule.arguments)
            if names and "<int:" not in rule.rule:  # strings and paths: any text
                samples = [dict.fromkeys(names, "some-key.jpg")]
            else:
                samples = [
                    dict.fromkeys(names, 7),
                    {name: 2**40 + i for i, name in enumerate(names)},
                    dict.fromkeys(names, 0),
                    {**dict.fromkeys(names, 3), "page": 2},  # a query string: Flask's way
                ]
            for values in samples:
                try:
                    expected = url_for(rule.endpoint, **values)
                except BuildError:  # another rule of the endpoint wants other values
                    continue
                assert fast_url_for(rule.endpoint, **values) == expected, rule
        patterns = app.extensions["amora_url_patterns"][1]
    # Most rules take the quick way, or this test compares Flask with itself.
    assert sum(1 for pattern in patterns.values() if pattern is not None) > 100


def test_what_it_cannot_build_quickly_goes_to_flask(app):
    with app.test_request_context("/", base_url="http://localhost/amora/"):
        like = url_for("dating.like", user_id=5)
        assert fast_url_for("dating.like", user_id=5) == like == "/amora/people/5/like"
        assert fast_url_for("dating.person", user_id=5, _anchor="x") == "/amora/people/5#x"
        assert fast_url_for("dating.person", user_id=5, tab="a b") == "/amora/people/5?tab=a+b"
        assert fast_url_for("dating.person", user_id=5, _external=True).startswith("http://")
        assert fast_url_for("dating.person", user_id="5") == "/amora/people/5"
        assert fast_url_for("static", filename="app.css") == url_for("static", filename="app.css")
    with app.app_context(), pytest.raises(RuntimeError, match="outside an active request"):
        fast_url_for("main.index")  # no request: Flask's, with its own rules and errors


def test_templates_use_it(app):
    with app.test_request_context("/"):
        assert render_template_string("{{ url_for('dating.like', user_id=9) }}") == "/people/9/like"
        assert app.jinja_env.globals["url_for"] is fast_url_for


def test_a_static_file_url_is_built_once_and_stays_right(app):
    for root in ("", "/amora"):
        with app.test_request_context("/", base_url=f"http://localhost{root}/"):
            for _ in range(2):
                built = fast_url_for("static", filename="app.css")
                assert built == url_for("static", filename="app.css") == f"{root}/static/app.css"
            spaced = fast_url_for("static", filename="a b.css")
            assert spaced == url_for("static", filename="a b.css")
