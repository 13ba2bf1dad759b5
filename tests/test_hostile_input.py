"""Hostile input never gives a 500.

Every route in the URL map is walked with hostile values in its path, in every query parameter
a view reads and in every field of every form that posts to it, as anonymous, fan, creator and
admin, on SQLite and PostgreSQL. The answer is a 4xx with a message (or a page), never a 500 and
never a traceback in the log; the ledger still verifies afterwards. Signed but malformed
webhooks are refused or ignored, and the socket answers bad frames with an error frame.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

from extensions import db
from services import ledger, messaging, posts
from testkit.ledger import paid_order
from testkit.people import person
from tests.conftest import csrf_token
from tests.creator_helpers import signed_in
from tests.test_admin import make_admin

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("anonymous", "fan", "creator", "admin")

# The values an attacker (or a broken client) sends first.
HOSTILE = [
    "2147483648",  # 2^31: past PostgreSQL's integer
    "9223372036854775808",  # 2^63: past SQLite's integer
    "1" + "0" * 40,
    "-1",
    "1.5",
    "NaN",
    "a\x00b",
    "ünï\u202ecødé 🙂",
    "x" * 5000,
    "9999-12-31",
    "9999-12-31T23:59:59",
]

# Actions that would end the client's own session or account: the walk keeps each role signed in.
SELF_ENDING = {"auth.logout", "settings.delete_account", "settings.disable_creator"}


# --- the world the walk runs in ------------------------------------------------------------------


@dataclass
class World:
    app: object
    clients: dict[str, object]
    tokens: dict[str, str | None]
    ids: dict[str, int]
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def world(app) -> World:
    clients = {"anonymous": app.test_client()}
    tokens = {"anonymous": csrf_token(clients["anonymous"])}
    fan_auth, fan_id = signed_in(app, "fan@example.com", "Fan", credits=500)
    creator_auth, creator_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    admin_auth, _ = make_admin(app)
    for role, auth in (("fan", fan_auth), ("creator", creator_auth), ("admin", admin_auth)):
        clients[role] = auth.client
        tokens[role] = csrf_token(auth.client)
    with app.app_context():
        from models import User

        fan, luna = db.session.get(User, fan_id), db.session.get(User, creator_id)
        bystander = person("Bea")
        post = posts.create(luna, body="Hello fans", visibility="public")
        message = messaging.send(fan, creator_id, "hi Luna")
        order = paid_order(fan, 100)
        ids = {
            "creator_id": creator_id,
            "other_id": creator_id,
            "user_id": bystander.id,  # admin actions land on someone who is not a client here
            "post_id": post.id,
            "message_id": message.id,
            "order_id": order.id,
        }
    return World(app, clients, tokens, ids)


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from the app's loggers and the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()} ({r.exc_info[0].__name__}: {r.exc_info[1]})"
            for r in self.records
            if r.exc_info
        ]


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger("amora"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def assert_no_500(world: World, error_log: ErrorLog) -> None:
    shown = "\n".join(world.failures[:40])
    assert not world.failures, f"{len(world.failures)} answers of 500 or worse:\n{shown}"
    assert not error_log.tracebacks(), "\n".join(error_log.tracebacks()[:20])
    with world.app.app_context():
        assert ledger.verify() == []


# --- requests ------------------------------------------------------------------------------------


def hit(world: World, role: str, method: str, url: str, **kwargs):
    """One request; a status ≥ 500 (or an exception out of the app) is recorded as a failure."""
    client = world.clients[role]
    where = f"{role} {method} {url!r} {kwargs.get('data') or kwargs.get('json') or ''!r:.200}"
    if method == "POST" and "json" not in kwargs:
        kwargs["data"] = {"csrf_token": world.tokens[role], **(kwargs.get("data") or {})}
    if method == "POST" and "json" in kwargs:
        kwargs.setdefault("headers", {})["X-CSRFToken"] = world.tokens[role]
    try:
        response = client.open(url, method=method, **kwargs)
    except Exception as exc:  # the error handler itself failed: worse than a 500
        world.failures.append(f"{where} → {type(exc).__name__}: {exc}")
        return None
    if response.status_code >= 500:
        world.failures.append(f"{where} → {response.status_code}")
    return response


def rule_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def walked_rules(app) -> list[Rule]:
    """Every rule but the socket (a WebSocket handshake, tested below) and static files."""
    return [r for r in app.url_map.iter_rules() if r.endpoint not in ("messages.socket", "static")]


# The three long walks are cut into shards so that parallel workers share them; together the
# shards of a walk cover every rule (each rule's place in the sorted map, modulo SHARDS).
SHARDS = 4


def in_shard(rules: list[Rule], shard: int) -> list[Rule]:
    ordered = sorted(rules, key=lambda r: (r.endpoint, r.rule))
    return [rule for i, rule in enumerate(ordered) if i % SHARDS == shard]


def test_the_shards_of_a_walk_cover_every_rule_once(app):
    rules = walked_rules(app)
    shards = [in_shard(rules, shard) for shard in range(SHARDS)]
    assert all(shards)
    assert sorted(id(r) for shard in shards for r in shard) == sorted(id(r) for r in rules)


def fill(rule: Rule, value_for) -> str:
    """The rule's URL with each converter given `value_for(name)`, quoted as a browser would."""
    url = rule.rule
    for name in rule.arguments:
        converter = re.search(rf"<(?:[^:>]+:)?{name}>", url).group(0)
        url = url.replace(converter, quote(str(value_for(name)), safe=""))
    return url


def real_url(world: World, rule: Rule) -> str:
    return fill(rule, lambda name: world.ids.get(name, 1))


def reachable(world: World, role: str, method: str, url: str) -> bool:
    """Whether `role` gets past the route's guards (login, 2FA, admin, creator): only then can a
    hostile query or form value reach the code that reads it."""
    response = hit(world, role, method, url, headers={"HX-Request": "true"})
    if response is None or response.status_code == 403:
        return False
    target = response.headers.get("Location", "") + response.headers.get("HX-Redirect", "")
    return not any(page in target for page in ("/login", "/settings/security"))


# --- what each view reads: query names and form fields --------------------------------------------

ARG_RE = re.compile(r"""(?:args(?:\.get|\.getlist)?[(\[]|query_int\()\s*["'](\w+)["']""")
NUMBER_RE = re.compile(r"""number\(\s*["'](\w+)["']""")


def query_names() -> list[str]:
    """Every query parameter any view or service reads, every field of every GET form, and
    every field of a WTForms form a view fills from the query string."""
    names: set[str] = {"next"}
    for path in [*ROOT.glob("blueprints/**/*.py"), *ROOT.glob("services/*.py")]:
        source = path.read_text()
        names.update(ARG_RE.findall(source))
        if "args" in source:
            names.update(NUMBER_RE.findall(source))
        names.update(query_form_fields(source))
        if path.parent.name == "forms":  # a GET form's fields (e.g. Discover's filters)
            names.update(WTFORM_FIELD_RE.findall(source))
    for fields in template_forms("get").values():
        names.update(fields)
    return sorted(names)


QUERY_FORM_RE = re.compile(r"""\b(\w+)\(\s*request\.args\b""")


def query_form_fields(source: str) -> set[str]:
    """The fields of the forms (blueprints/forms/) that `source` fills from `request.args`."""
    forms = {}
    for path in (ROOT / "blueprints/forms").glob("*.py"):
        module = importlib.import_module(f"blueprints.forms.{path.stem}")
        forms.update({name: cls for name, cls in vars(module).items() if isinstance(cls, type)})
    names: set[str] = set()
    for name in QUERY_FORM_RE.findall(source):
        form = forms.get(name)
        if form is not None:
            names.update(k for k, v in vars(form).items() if isinstance(v, UnboundField))
    return names


FORM_RE = re.compile(r"<form\b(?P<attrs>[^>]*)>(?P<body>.*?)</form>", re.S)
ACTION_RE = re.compile(r"""(?:action|hx-post|hx-get)="\{\{\s*url_for\(['"]([\w.]+)['"]""")
NAME_RE = re.compile(r"""\bname=["'](\w+)["']""")
FIELD_MACRO_RE = re.compile(r"""\bfield\(\s*[\w.]+\.(\w+)\s*[,)]""")  # field(form.name)
WTFORM_FIELD_RE = re.compile(r"""^\s+(\w+)\s*=\s*\w+Field\(""", re.M)
INCLUDE_RE = re.compile(r"""\{%-?\s*include\s+["']([^"']+)["']""")


def template_forms(method: str) -> dict[str, set[str]]:
    """Field names per endpoint, read from the templates' forms (includes one level deep)."""
    found: dict[str, set[str]] = {}
    templates = ROOT / "templates"
    for path in templates.rglob("*.html"):
        for form in FORM_RE.finditer(path.read_text()):
            is_get = 'method="get"' in form["attrs"] or "hx-get" in form["attrs"]
            if is_get != (method == "get"):
                continue
            body = form["body"]
            for included in INCLUDE_RE.findall(body):
                if (templates / included).exists():
                    body += (templates / included).read_text()
            endpoint = ACTION_RE.search(form["attrs"])
            key = endpoint.group(1) if endpoint else str(path)
            names = set(NAME_RE.findall(body)) | set(FIELD_MACRO_RE.findall(body))
            found.setdefault(key, set()).update(names - {"csrf_token"})
    return found


def wtform_fields() -> set[str]:
    """The field names of the sign-up, login and password forms (blueprints/forms/auth.py), sent
    to every `auth.` endpoint. Other areas' forms are found on the pages that render them and in
    their templates (`field(form.name)`)."""
    return set(WTFORM_FIELD_RE.findall((ROOT / "blueprints/forms/auth.py").read_text()))


class FormParser(HTMLParser):
    """The POST forms of a rendered page: action URL → {field: a value the page would send}."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and attr.get("method", "").lower() == "post":
            self._current = self.forms.setdefault(attr.get("action", ""), {})
        elif self._current is not None and tag in ("input", "select", "textarea", "button"):
            name = attr.get("name")
            if name and name != "csrf_token" and name not in self._current:
                self._current[name] = attr.get("value") or PLAUSIBLE.get(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


# Values that pass each field's own check, so a hostile value in one field is the one looked at.
PLAUSIBLE = {
    "amount": "5",
    "price": "10",
    "body": "hello",
    "note": "thanks",
    "reason": "spam",
    "details": "details",
    "headline": "Hi",
    "months": "3",
    "subscription_price": "50",
    "message_price": "0",
    "call_price": "0",
    "visibility": "public",
    "status": "open",
    "outcome": "dismissed",
    "decision": "approve",
    "kind": "paypal",
    "days": "7",
    "max_uses": "10",
    "valid_days": "30",
    "gender": "woman",
    "age_min": "18",
    "age_max": "99",
    "latitude": "52.5",
    "longitude": "13.4",
    "tz_offset": "60",
    "choice": "0",
    "importance": "1",
}


def post_forms(world: World) -> dict[str, dict[str, dict[str, str]]]:
    """endpoint → role → {field: default}: from the pages each role sees (rendered forms, with
    their values), and from the templates for forms no page here showed."""
    adapter = world.app.url_map.bind("localhost")
    forms: dict[str, dict[str, dict[str, str]]] = {}
    for rule in walked_rules(world.app):
        if "GET" not in rule.methods:
            continue
        for role in ROLES:
            response = world.clients[role].get(real_url(world, rule))
            if response.status_code != 200 or "html" not in response.content_type:
                continue
            parser = FormParser()
            parser.feed(response.get_data(as_text=True))
            for action, fields in parser.forms.items():
                try:
                    endpoint, _ = adapter.match(urlsplit(action).path, method="POST")
                except HTTPException:  # not one of ours (or not a POST route)
                    continue
                forms.setdefault(endpoint, {}).setdefault(role, {}).update(fields)
    static = template_forms("post")
    wtf = wtform_fields()
    for rule in walked_rules(world.app):
        if "POST" not in rule.methods or rule.endpoint in SELF_ENDING:
            continue
        names = static.get(rule.endpoint, set())
        if rule.endpoint.startswith("auth."):
            names = names | wtf
        for role in ROLES:
            seen = forms.setdefault(rule.endpoint, {}).setdefault(role, {})
            for name in names:
                seen.setdefault(name, PLAUSIBLE.get(name, ""))
    return forms


# --- the walk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shard", range(SHARDS))
def test_hostile_values_in_url_paths_are_never_a_500(world, error_log, shard):
    """`/posts/2147483648`, `/trial/%00`, … : every rule, every method, every role."""
    rules = [r for r in walked_rules(world.app) if r.arguments]
    assert len(rules) > 60
    for rule in in_shard(rules, shard):
        for method in rule_methods(rule):
            if rule.endpoint in SELF_ENDING:
                continue
            for i, value in enumerate(HOSTILE):
                url = fill(rule, lambda _name, v=value: v)
                headers = {"HX-Request": "true"} if i % 2 else {}
                for role in ROLES:
                    hit(world, role, method, url, headers=headers)
    assert_no_500(world, error_log)


def test_an_id_past_2_31_is_not_found_and_a_nul_byte_is_refused(world, error_log):
    for role in ROLES:
        for url in ("/posts/2147483648", "/posts/9223372036854775808/media/1"):
            response = world.clients[role].get(url)
            assert response.status_code == 404
            assert "There is nothing here" in response.get_data(as_text=True)
        refused = world.clients[role].get("/trial/%00")
        assert refused.status_code == 400
        assert "cannot contain NUL bytes" in refused.get_data(as_text=True)
    htmx = world.clients["fan"].get(
        "/wallet/history?before=2147483648", headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 400 and htmx.headers["HX-Retarget"] == "#flashes"
    assert "`before` must be a whole number" in htmx.get_data(as_text=True)
    audit = world.clients["admin"].get("/admin/audit?until=9999-12-31")
    assert audit.status_code == 400 and "Dates look like" in audit.get_data(as_text=True)
    assert_no_500(world, error_log)


def own_query_names(app, endpoint: str) -> set[str]:
    """The query parameters the view's own module reads (itself, or through a form)."""
    module = inspect.getmodule(inspect.unwrap(app.view_functions[endpoint]))
    source = Path(module.__file__).read_text()
    return set(ARG_RE.findall(source)) | query_form_fields(source)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_hostile_query_values_are_never_a_500(world, error_log, shard):
    """`?after=`, `?before=`, `?until=9999-12-31`, admin searches…: on every GET route each
    role can reach, every known parameter at once, then each one its module reads alone."""
    names = query_names()
    assert {"after", "before", "until", "q", "cursor", "age_min"} <= set(names)
    for rule in in_shard(walked_rules(world.app), shard):
        if "GET" not in rule.methods:
            continue
        url = real_url(world, rule)
        alone = sorted(own_query_names(world.app, rule.endpoint))
        roles = [role for role in ROLES if reachable(world, role, "GET", url)]
        for i, value in enumerate(HOSTILE):
            headers = {"HX-Request": "true"} if i % 2 else {}
            for role in roles:
                hit(world, role, "GET", url, query_string=dict.fromkeys(names, value))
            for name in alone if roles else ():
                hit(world, roles[-1], "GET", url, query_string={name: value}, headers=headers)
    assert_no_500(world, error_log)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_hostile_form_fields_are_never_a_500(world, error_log, shard):
    """Every field of every POST form (rendered or in a template), one hostile value at a time,
    the other fields holding what the page would send."""
    forms = post_forms(world)
    assert {"feed.tip", "messages.send", "settings.save_creator", "dating.report"} <= set(forms)
    posted = [r for r in walked_rules(world.app) if "POST" in r.methods]
    rules = {r.endpoint: r for r in in_shard(posted, shard)}
    for endpoint, by_role in sorted(forms.items()):
        rule = rules.get(endpoint)
        if rule is None or endpoint in SELF_ENDING:
            continue
        url = real_url(world, rule)
        for role, fields in by_role.items():
            if not fields or not reachable(world, role, "POST", url):
                continue
            for name in fields:
                for i, value in enumerate(HOSTILE):
                    data = {**fields, name: value}
                    headers = {"HX-Request": "true"} if i % 2 else {}
                    hit(world, role, "POST", url, data=data, headers=headers)
    assert_no_500(world, error_log)


JSON_ENDPOINTS = ("messages.attachment_presign", "creator.vault_presign", "profile.photo_presign")
JSON_KEYS = ("content_type", "size", "shows_others", "consent", "key")


def test_hostile_json_bodies_are_never_a_500(world, error_log):
    """The upload endpoints take JSON: wrong types, huge numbers and NUL bytes in each key."""
    rules = {r.endpoint: r for r in walked_rules(world.app)}
    bodies = [
        [],
        "text",
        7,
        None,
        {"size": 2**70},
        {"size": -1},
        {"size": "1e9"},
        {"key": "\ud800"},
    ]
    bodies += [{key: value} for key in JSON_KEYS for value in [*HOSTILE, [], {}, True, 1.5]]
    for endpoint in (*JSON_ENDPOINTS, "messages.attachment_confirm", "creator.vault_confirm"):
        url = real_url(world, rules[endpoint])
        for role in ROLES:
            for body in bodies:
                hit(world, role, "POST", url, json=body)
    assert_no_500(world, error_log)


# --- the property: any route, any role, values hypothesis picks -------------------------------

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8).map(
        lambda s: s + "\x00"
    ),
)


def test_any_route_with_any_hostile_values_is_never_a_500(world, error_log):
    rules = [r for r in walked_rules(world.app) if r.endpoint not in SELF_ENDING]
    names = query_names()
    forms = post_forms(world)

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        rule=st.sampled_from(rules),
        role=st.sampled_from(ROLES),
        path_value=hostile_text,
        real_path=st.booleans(),
        query=st.dictionaries(st.sampled_from(names), hostile_text, max_size=3),
        form_value=hostile_text,
        htmx=st.booleans(),
        data=st.data(),
    )
    def one_request(rule, role, path_value, real_path, query, form_value, htmx, data):
        url = real_url(world, rule) if real_path else fill(rule, lambda _name: path_value)
        method = data.draw(st.sampled_from(rule_methods(rule)))
        kwargs: dict = {"headers": {"HX-Request": "true"} if htmx else {}}
        if method == "GET":
            kwargs["query_string"] = query
        else:
            fields = dict(forms.get(rule.endpoint, {}).get(role, {}))
            if fields:
                fields[data.draw(st.sampled_from(sorted(fields)))] = form_value
            kwargs["data"] = fields
        hit(world, role, method, url, **kwargs)
        assert not world.failures, world.failures[-1]

    one_request()
    assert_no_500(world, error_log)


# --- webhooks: correctly signed, badly shaped --------------------------------------------------

STRIPE_WHSEC = "whsec_hostile"
RZP_WHSEC = "rzp_webhook_hostile"


@pytest.fixture
def webhook_app(database_url):
    from tests.conftest import _cleanup, make_app

    app = make_app(
        database_url,
        STRIPE_SECRET_KEY="sk_test_hostile",
        STRIPE_WEBHOOK_SECRET=STRIPE_WHSEC,
        RAZORPAY_KEY_ID="rzp_test_hostile",
        RAZORPAY_KEY_SECRET="rzp_secret_hostile",
        RAZORPAY_WEBHOOK_SECRET=RZP_WHSEC,
    )
    yield app
    _cleanup(app)


def _signed(app, provider: str, body: bytes, event_id: str) -> dict[str, str]:
    from services.payments import dev
    from tests.provider_stub import razorpay_signature, stripe_signature

    if provider == "dev":
        with app.app_context():
            return {dev.SIGNATURE_HEADER: dev.sign(body)}
    if provider == "stripe":
        return {"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)}
    return {
        "X-Razorpay-Signature": razorpay_signature(body, RZP_WHSEC),
        "X-Razorpay-Event-Id": event_id,
    }


HUGE = 2**70
SHAPES = [[], "text", 42, None, [{"id": "evt"}]]
DEV_EVENTS = [
    {"id": 5, "type": "payment.succeeded"},
    {"id": "e\x00", "type": "payment.succeeded", "payment_id": "p1"},
    {"id": "e", "type": "payment.succeeded", "payment_id": "p1", "reason": "\udc00"},
    {"id": "e", "type": ["payment.succeeded"]},
    {"id": "e", "type": "payment.succeeded", "order_id": HUGE, "payment_id": "p1"},
    {"id": "e", "type": "payment.succeeded", "order_id": str(HUGE), "payment_id": "p1"},
    {"id": "e", "type": "payment.succeeded", "payment_id": ["p1"]},
    {"id": "e", "type": "payment.succeeded", "payment_id": {"id": "p1"}},
    {"id": "e", "type": "payment.succeeded", "payment_id": "p" * 5000},
    {"id": "e", "type": "payment.succeeded", "payment_id": "p1", "amount_minor": float("nan")},
    {"id": "e", "type": "payment.refunded", "payment_id": "p1", "refunded_minor": HUGE},
    {"id": "e", "type": "payment.disputed", "payment_id": "p1", "reason": {"why": "x"}},
    {"id": "e", "type": "payment.failed", "payment_id": "p1", "currency": 840},
]
STRIPE_EVENTS = [
    {"id": "evt", "type": "checkout.session.completed", "data": "text"},
    {"id": "evt", "type": "checkout.session.completed", "data": {"object": ["x"]}},
    {"id": 7, "type": "charge.refunded", "data": {"object": {"payment_intent": "pi"}}},
    {
        "id": "evt",
        "type": "checkout.session.completed",
        "data": {"object": {"payment_status": "paid", "client_reference_id": str(HUGE)}},
    },
    {
        "id": "evt",
        "type": "charge.refunded",
        "data": {"object": {"payment_intent": 12, "amount_refunded": HUGE}},
    },
    {"id": "evt", "type": "charge.dispute.created", "data": {"object": {"reason": ["x"]}}},
]
RAZORPAY_EVENTS = [
    {"event": "payment.captured", "payload": "text"},
    {"event": "payment.captured", "payload": {"payment": ["x"]}},
    {"event": "payment.captured", "payload": {"payment": {"entity": "x"}}},
    {"event": ["payment.captured"], "payload": {}},
    {
        "event": "payment.captured",
        "payload": {"payment": {"entity": {"id": "pay", "notes": {"order_id": str(HUGE)}}}},
    },
    {
        "event": "refund.processed",
        "payload": {"refund": {"entity": {"payment_id": 3, "amount": HUGE}}},
    },
    {"event": "payment.failed", "payload": {"payment": {"entity": {"id": "p\x00"}}}},
]


def _webhook_cases() -> Iterator[tuple[str, bytes]]:
    for shape in SHAPES:
        for provider in ("dev", "stripe", "razorpay"):
            yield provider, json.dumps(shape).encode()
    for provider, events in (("dev", DEV_EVENTS), ("stripe", STRIPE_EVENTS)):
        for event in events:
            yield provider, json.dumps(event).encode()
    for event in RAZORPAY_EVENTS:
        yield "razorpay", json.dumps(event).encode()


def test_signed_but_malformed_webhooks_are_refused_or_ignored_never_a_500(webhook_app, error_log):
    client = webhook_app.test_client()
    for i, (provider, body) in enumerate(_webhook_cases()):
        headers = {
            **_signed(webhook_app, provider, body, f"evt_{i}"),
            "Content-Type": "application/json",
        }
        response = client.post(f"/webhooks/{provider}", data=body, headers=headers)
        where = f"{provider} {body[:120]!r} → {response.status_code} {response.get_data()[:200]!r}"
        assert response.status_code in (200, 400), where
        if response.status_code == 200:
            assert response.get_json()["outcome"] in ("ignored", "unknown_order"), where
        else:
            assert response.get_json()["error"], where
    assert not error_log.tracebacks(), "\n".join(error_log.tracebacks())
    # A well-formed event still goes through the pipeline.
    body = json.dumps({"id": "evt_ok", "type": "payment.succeeded", "payment_id": "p9"}).encode()
    headers = _signed(webhook_app, "dev", body, "evt_ok")
    answer = client.post("/webhooks/dev", data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "unknown_order"
    with webhook_app.app_context():
        assert ledger.verify() == []


# --- the socket: bad frames get an error frame, and the socket lives on -------------------------

BAD_FRAMES = [
    "[" * 50_000,
    "Infinity",
    json.dumps([1, 2]),
    json.dumps({"type": None}),
    json.dumps({"type": ["send"]}),
    json.dumps({"type": "send", "to": HUGE, "body": "hi", "ref": "r1"}),
    json.dumps({"type": "send", "to": str(HUGE), "body": "hi", "ref": "r2"}),
    json.dumps({"type": "send", "to": "1.5", "body": "hi", "ref": "r3"}),
    json.dumps({"type": "send", "to": True, "body": "hi", "ref": "r4"}),
    json.dumps({"type": "send", "to": "TO", "body": ["hi"], "ref": "r5"}),
    json.dumps({"type": "send", "to": "TO", "body": "a\x00b", "ref": "r6"}),
    json.dumps({"type": "typing", "to": HUGE}),
    json.dumps({"type": "typing", "to": {"id": 1}}),
    json.dumps({"type": "hello", "last_id": HUGE}),
    json.dumps({"type": "hello", "last_id": "1e5"}),
    json.dumps({"type": "call_ping", "call": HUGE}),
    '{"type": "call_ping", "call": Infinity}',
    json.dumps({"type": "call_signal", "call": -1, "data": {}}),
    json.dumps({"type": "call_hangup", "call": [3]}),
    json.dumps({"type": "rc_text", "session": HUGE, "text": "hi"}),
    json.dumps({"type": "rc_typing", "session": "9" * 40}),
    json.dumps({"type": "rc_signal", "session": 1e300, "data": {}}),
]


def test_a_socket_answers_huge_ids_and_wrong_types_with_an_error_and_lives_on(app, error_log):
    import simple_websocket

    from tests.conftest import LiveServer
    from tests.test_messaging import _close, _login_cookie, _receive, _socket

    with LiveServer(app) as server:
        cookie = _login_cookie(app, "fan@example.com")
        _, creator_id = signed_in(app, "luna@example.com", "Luna", creator=True)
        ws = _socket(server.url, cookie)
        try:
            for frame in BAD_FRAMES:
                ws.send(frame.replace('"TO"', str(creator_id)))
                answer = _next_answer(ws)
                assert answer["type"] in ("error", "send_error"), (frame[:80], answer)
                assert answer.get("status", 400) < 500, (frame[:80], answer)
                assert answer["error"], (frame[:80], answer)
            ws.send(json.dumps({"type": "ping"}))
            assert _receive(ws, "pong")
            ws.send(
                json.dumps({"type": "send", "to": creator_id, "body": "still here", "ref": "ok"})
            )
            assert _receive(ws, "sent")["ref"] == "ok"
        except simple_websocket.ConnectionClosed as closed:
            raise AssertionError(f"the server closed the socket: {closed.reason}") from None
        finally:
            _close(ws)
    assert not error_log.tracebacks(), "\n".join(error_log.tracebacks())


def _next_answer(ws, timeout: float = 5.0) -> dict:
    """The next frame the page would act on (skipping the live events a socket also gets)."""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if raw is not None and (event := json.loads(raw))["type"] in ("error", "send_error"):
            return event
    raise AssertionError(f"no answer within {timeout}s: the socket stopped answering")
