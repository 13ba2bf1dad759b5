"""`url_for` for templates, without rebuilding the same rule a hundred times a page.

A Discover page has some 120 links and forms, most of them a rule with one id in it
(`/people/<int:user_id>/like`); Flask's `url_for` walks the URL map for each, about 20 µs a call
(BENCHMARKS.md, the pages' profile). Here each rule made of fixed text and `<int:…>` parts is
turned once into a format string, and a call with exactly its ids (whole numbers, not negative)
fills it in; a static file's URL is built once per file. Anything else — a query string,
`_external`, `_anchor`, a relative endpoint, an endpoint with several rules or another
converter, url_for defaults — goes to Flask's `url_for`, and so does every call when there is
no request. The answer is the same either way
(tests/test_urls.py compares them for every rule).
"""

from __future__ import annotations

import re
from typing import Any

from flask import url_for
from flask.globals import _cv_request

INT_PART = re.compile(r"<int:(\w+)>")
ANY_PART = re.compile(r"<[^>]*>")
MAX_KEPT = 2_000  # rules and static files kept per URL map
SENTINEL = 9_876_500_000  # ids far from any real one, to find where each goes in the built path

# endpoint → (format string, its argument names) or None (use url_for), and (script name, file
# name) → a static file's URL; one per URL map.
_Patterns = dict[str | tuple[str, str], tuple[str, frozenset[str]] | str | None]


def fast_url_for(endpoint: str, **values: Any) -> str:
    ctx = _cv_request.get(None)  # the request context, without LocalProxy's two lookups
    if ctx is None or ctx.url_adapter is None:
        return url_for(endpoint, **values)
    patterns = _patterns(ctx.app)
    if endpoint == "static" and len(values) == 1 and type(values.get("filename")) is str:
        # A stylesheet or script: the same few files on every page, each built once.
        key = (ctx.url_adapter.script_name, values["filename"])
        built = patterns.get(key)
        if built is None:
            built = url_for(endpoint, **values)
            if len(patterns) < MAX_KEPT:  # file names are the templates' own: a few
                patterns[key] = built
        return built
    pattern = patterns.get(endpoint, False)
    if pattern is False:
        pattern = patterns.setdefault(endpoint, _pattern(ctx.app, endpoint))
    if (
        pattern is None
        or values.keys() != pattern[1]
        or not all(type(v) is int and v >= 0 for v in values.values())
    ):
        return url_for(endpoint, **values)
    return ctx.url_adapter.script_name.rstrip("/") + pattern[0].format_map(values)


def _patterns(app) -> _Patterns:
    found = app.extensions.get("amora_url_patterns")
    if found is None or found[0] is not app.url_map:
        found = app.extensions["amora_url_patterns"] = (app.url_map, {})
    return found[1]


def _pattern(app, endpoint: str) -> tuple[str, frozenset[str]] | None:
    rules = list(app.url_map.iter_rules(endpoint)) if endpoint in app.view_functions else []
    if len(rules) != 1 or any(app.url_default_functions.values()):
        return None
    rule = rules[0]
    names = INT_PART.findall(rule.rule)
    if (
        rule.websocket
        or rule.defaults
        or rule.subdomain
        or rule.host
        or len(ANY_PART.findall(rule.rule)) != len(names)
        or len(set(names)) != len(names)
    ):
        return None
    sample = {name: SENTINEL + i for i, name in enumerate(names)}
    built = rule.build(sample, append_unknown=False)
    if built is None:
        return None
    path = "/" + built[1].lstrip("/")
    text = path.replace("{", "{{").replace("}", "}}")
    for name, value in sample.items():
        if text.count(str(value)) != 1:
            return None
        text = text.replace(str(value), "{" + name + "}")
    return text, frozenset(names)
