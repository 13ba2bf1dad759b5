"""Dating pages: discover, people, likes and matches, block and report, notifications."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import (
    Blueprint,
    flash,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from blueprints import navigation
from blueprints.forms.dating import DiscoverForm, ReportForm
from blueprints.htmx import apply_errors, is_htmx, redirect_to
from blueprints.urls import fast_url_for
from core import geo, kept
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import discover, likes, matching, media, profiles, safety

bp = Blueprint("dating", __name__)


def _profile_or_setup():
    profile = profiles.get(current_user.id)
    if profile is None or profile.latitude is None or profile.gender is None:
        flash(
            "First tell us your gender and where you are, so we can show people near you.", "info"
        )
        return None
    return profile


@bp.get("/discover")
@login_required
@navigation.with_profile
def discover_page():
    profile = _profile_or_setup()
    if profile is None:
        return redirect_to(url_for("profile.edit"))
    return _results(profile, template="dating/discover.html")


@bp.get("/discover/results")
@login_required
@limiter.limit("120 per minute")
@navigation.with_profile
def discover_results():
    """The cards alone, for htmx. Opened as a page (a reload, Back after the history cache
    is gone, a shared or bookmarked link), the same filters as the whole Discover page."""
    profile = _profile_or_setup()
    if profile is None:
        return redirect_to(url_for("profile.edit"))
    if not is_htmx() or request.headers.get("HX-History-Restore-Request") == "true":
        return _results(profile, template="dating/discover.html")
    response = make_response(_results(profile, template="dating/_results.html"))
    if not request.args.get("cursor"):
        # New filters: the address bar shows the page that renders them, never this fragment.
        filters = list(request.args.items(multi=True))
        response.headers["HX-Push-Url"] = _page_url(url_for("dating.discover_page"), filters)
    return response


def _page_url(path: str, params: list[tuple[str, str]]) -> str:
    """`path` with these query parameters (encoded by hand: a parameter named like one of
    url_for's own, e.g. `_anchor`, must not reach url_for)."""
    query = urlencode(params)
    return f"{path}?{query}" if query else path


def _cards_html(cards: list[discover.Card], token: str) -> Markup:
    """Discover's cards as HTML. Built here rather than by a loop in dating/_results.html: a
    page has twenty cards of some twenty values each, and Jinja escapes every value it prints,
    numbers and addresses included; the cards were a quarter of the page's time (BENCHMARKS.md,
    the pages entries). Here only the member's own text is escaped (name, place); the numbers
    are numbers and the addresses are built from them. The markup is what the template had."""
    questions = escape(fast_url_for("profile.questions"))
    token = escape(token)
    person, like_url, pass_url = map(_around_id, ("dating.person", "dating.like", "dating.pass_"))
    parts = []
    photo_url = media.photo_links()
    for card in cards:
        uid = int(card.user_id)
        name = escape(card.display_name)
        like = f"{like_url[0]}{uid}{like_url[1]}"
        pass_ = f"{pass_url[0]}{uid}{pass_url[1]}"
        photo = photo_url(card.photo_key) if card.photo_key else None
        if photo:
            picture = f'<img class="card-photo" src="{escape(photo)}" alt="{name}">'
        else:
            picture = (
                f'<div class="avatar" aria-hidden="true">{escape(card.display_name[:1])}</div>'
            )
        online = (
            '<span class="online-dot" title="Online now">'
            '<span class="visually-hidden">online now</span></span>'
            if card.online
            else ""
        )
        place = f" · {escape(card.place)}" if card.place else ""
        if card.match is not None:
            match = f'<span class="badge ok">{int(card.match)}% match</span>'
        elif card.answers_needed:
            needed = int(card.answers_needed)
            match = (
                f'<a class="match-hint" href="{questions}">Answer {needed} more '
                f"question{'s' if needed != 1 else ''} to see your match %</a>"
            )
        else:
            match = ""
        badges = (
            ('<span class="badge">creator</span>' if card.is_creator else "")
            + ('<span class="badge ok">verified</span>' if card.is_verified else "")
            + (PHOTO_VERIFIED_BADGE if card.is_photo_verified else "")
        )
        parts.append(
            f'<article class="person-card" id="person-{uid}">'
            f'<a href="{person[0]}{uid}{person[1]}" class="person-link">{picture}'
            f"<h2>{name}, {int(card.age)} {online}</h2></a>"
            f'<p class="muted">{escape(card.distance_label)}{place}</p>'
            f"<p>{match} {badges}</p>"
            f'<div class="actions" id="actions-{uid}">'
            f'<form method="post" action="{like}" hx-post="{like}" hx-target="#actions-{uid}"'
            ' hx-swap="innerHTML">'
            f'<input type="hidden" name="csrf_token" value="{token}">'
            '<button class="button primary small" type="submit"'
            f' aria-label="Like {name}">Like</button></form>'
            f'<form method="post" action="{pass_}" hx-post="{pass_}" hx-target="#actions-{uid}"'
            ' hx-swap="innerHTML">'
            f'<input type="hidden" name="csrf_token" value="{token}">'
            f'<button class="button small" type="submit" aria-label="Pass on {name}">Pass</button>'
            "</form></div></article>\n"
        )
    return Markup("".join(parts))  # noqa: S704 (every value above is escaped or a number)


PHOTO_VERIFIED_BADGE = (
    '<span class="badge ok photo-verified" title="Passed a selfie check against these photos">'
    "photo-verified</span>"
)
_ID = 9_876_500_000  # an id no row has: where a card's id goes in its addresses


def _around_id(endpoint: str) -> tuple[Markup, Markup]:
    """The address of `endpoint` for a user id, as the text before and after the id."""
    before, after = fast_url_for(endpoint, user_id=_ID).split(str(_ID))
    return escape(before), escape(after)


FILTER_STATES_KEPT = 512


def _frozen(value):
    return tuple(map(_frozen, value)) if isinstance(value, list | tuple) else value


def _filters_html(search: tuple, filters: discover.Filters) -> Markup:
    """Discover's filters as HTML (dating/_filters.html) for valid query parameters `search`
    (`_search_key`) and the filters in effect: the form they make, showing those filters, is a
    function of the two. Rendered once per process and kept (WTForms' widgets cost a tenth of
    the page); a few hundred states, the defaults of most members among them."""
    # Its fields' values, lists as tuples (`dataclasses.astuple` deep-copies: 20 µs a page).
    key = (request.script_root, search, _frozen(tuple(vars(filters).values())))

    def render() -> Markup:
        form = DiscoverForm(MultiDict(search))
        form.validate()
        form.show(filters)
        return _render_filters(form)

    return kept.remember("amora_discover_filters", key, render, FILTER_STATES_KEPT)


def _filters_html_of(form: DiscoverForm) -> Markup:
    """The filters as HTML for a form with errors (or one validated here): its markup is a
    function of the fields' values, what was typed and the errors, no token, nothing else of
    the member's; kept per state as `_filters_html`."""
    key = (
        request.script_root,
        *(
            (f.name, _frozen(f.data), _frozen(f.raw_data or []), tuple(f.errors))
            for f in form
            if f.name != "cursor"  # the page marker: not shown among the filters
        ),
    )
    return kept.remember(
        "amora_discover_filters", key, lambda: _render_filters(form), FILTER_STATES_KEPT
    )


def _render_filters(form: DiscoverForm) -> Markup:
    # A rendered template: its values were escaped by Jinja.
    return Markup(render_template("dating/_filters.html", form=form))  # noqa: S704


def _results(profile, template: str):
    """Discover's results (a whole page or the cards for htmx). Query parameters already seen
    and valid skip the form: what they ask for is kept per process (`_valid_filters`), and so
    is the filters' markup (`_filters_html`). Anything else, an error included, goes through the
    form (`_results_with_form`)."""
    args = request.args
    given = _valid_filters(args)
    if given is None:
        return _results_with_form(profile, template)
    try:
        filters = discover.filters_for(profile, **given)
        cards, next_cursor = discover.search(
            current_user, filters, args.get("cursor"), answers=navigation.member_answers()
        )
    except ValidationFailed:
        return _results_with_form(profile, template)
    whole = template == "dating/discover.html"
    return _render_results(
        template,
        profile,
        None,
        filters,
        cards,
        next_cursor,
        _filters_html(_search_key(args), filters) if whole else None,
    )


def _results_with_form(profile, template: str):
    form = DiscoverForm(request.args)
    status = 200
    cards, next_cursor = [], None
    filters = None
    if form.validate():
        try:
            filters = discover.filters_for(profile, **form.filters())
            cards, next_cursor = discover.search(
                current_user, filters, form.cursor.data, answers=navigation.member_answers()
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
    if form.errors:
        status = 422
        filters = discover.filters_for(profile)  # the member's defaults, for the fields left empty
    form.show(filters)
    whole = template == "dating/discover.html"
    return _render_results(
        template,
        profile,
        form,
        filters,
        cards,
        next_cursor,
        _filters_html_of(form) if whole else None,
    ), status


def _render_results(template, profile, form, filters, cards, next_cursor, filters_html):
    """`form`: None when the query parameters are known to be valid (no errors to show)."""
    # The next page keeps the filters: swapped in by htmx, or a whole page without JavaScript.
    args = request.args
    more = [*_search_key(args), ("cursor", next_cursor)]
    more_url = _page_url(url_for("dating.discover_results"), more) if next_cursor else None
    more_page_url = _page_url(url_for("dating.discover_page"), more) if next_cursor else None
    return render_template(
        template,
        profile=profile,
        form=form,
        filters=filters,
        cards=cards,
        cards_html=_cards_html(cards, generate_csrf()),
        more_url=more_url,
        more_page_url=more_page_url,
        first_page=not args.get("cursor"),
        whole_page=template == "dating/discover.html",
        filters_html=filters_html,
        match_pool=discover.MATCH_POOL,
    )


def _search_key(args) -> tuple:
    """The query parameters of a search, the page marker aside, in their order."""
    return tuple((k, v) for k, v in args.items(multi=True) if k != "cursor")


def _valid_filters(args) -> dict | None:
    """`DiscoverForm.filters()` of these query parameters, or None when the form finds an
    error in them. Validated once per process per set of parameters (WTForms builds and checks
    a dozen fields: a twelfth of the page); a fresh dict each time, lists and all."""
    key = _search_key(args)

    def validate() -> tuple:
        form = DiscoverForm(MultiDict(key))
        return (_frozen_dict(form.filters()) if form.validate() else None,)

    (given,) = kept.remember("amora_discover_queries", key, validate, FILTER_STATES_KEPT)
    if given is None:
        return None
    return {name: list(value) if isinstance(value, tuple) else value for name, value in given}


def _frozen_dict(values: dict) -> tuple:
    return tuple((name, _frozen(value)) for name, value in values.items())


def _person_page(user_id: int, report_form: ReportForm | None = None, status: int = 200):
    person = safety.visible_person(current_user, user_id)
    profile = profiles.get(user_id)
    me = profiles.get(current_user.id)
    distance = None
    if profile and me and profile.latitude is not None and me.latitude is not None:
        distance = geo.rounded_distance(
            geo.haversine_km(me.latitude, me.longitude, profile.latitude, profile.longitude)
        )
    match = matching.match_with(current_user.id, user_id) if user_id != current_user.id else None
    return render_template(
        "dating/person.html",
        person=person,
        profile=profile,
        distance=distance,
        match=match,
        reaction=likes.my_reaction(current_user.id, user_id),
        matched=likes.is_match(current_user.id, user_id),
        interests=profiles.interests_of(user_id),
        photos=media.photos_of(user_id),
        clip=media.profile_clip(user_id),
        report_form=report_form or ReportForm(formdata=None),
    ), status


@bp.get("/people/<int:user_id>")
@login_required
def person(user_id: int):
    return _person_page(user_id)


@bp.post("/people/<int:user_id>/like")
@login_required
@limiter.limit("120 per hour")
def like(user_id: int):
    return _react(user_id, "like")


@bp.post("/people/<int:user_id>/pass")
@login_required
@limiter.limit("300 per hour")
def pass_(user_id: int):
    return _react(user_id, "pass")


def _react(user_id: int, kind: str):
    person = safety.visible_person(current_user, user_id)
    matched = likes.react(current_user, user_id, kind)
    if is_htmx():
        return render_template(
            "dating/_reaction.html",
            person=person,
            reaction=kind,
            matched=matched or likes.is_match(current_user.id, user_id),
        )
    if matched:
        flash(f"It's a match! You and {person.display_name} like each other.", "success")
    return redirect_to(url_for("dating.person", user_id=user_id))


@bp.post("/people/<int:user_id>/block")
@login_required
@limiter.limit("60 per hour")
def block(user_id: int):
    person = safety.block(current_user, user_id)
    flash(f"You blocked {person.display_name}. You will not see each other any more.", "success")
    return redirect_to(url_for("dating.discover_page"))


@bp.post("/blocks/<int:user_id>/remove")
@login_required
def unblock(user_id: int):
    safety.unblock(current_user, user_id)
    flash("Unblocked.", "success")
    return redirect_to(url_for("dating.blocked"))


@bp.get("/blocks")
@login_required
def blocked():
    return render_template("dating/blocked.html", people=safety.blocked_people(current_user))


@bp.post("/people/<int:user_id>/report")
@login_required
@limiter.limit("20 per hour")
def report(user_id: int):
    person = safety.visible_person(current_user, user_id)
    form = ReportForm()
    if form.validate_on_submit():
        profile = profiles.get(user_id)
        try:
            safety.report(
                current_user,
                user_id,
                "profile",
                str(user_id),
                form.reason.data,
                form.details.data,
                snapshot={
                    "display_name": person.display_name,
                    "bio": profile.bio if profile else "",
                },
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except DomainError as exc:  # yourself, or already reported: nothing to correct
            if is_htmx():
                return render_template("dating/_report_done.html", error=exc.message), exc.status
            flash(exc.message, "error")
            return redirect_to(url_for("dating.person", user_id=user_id))
        else:
            if is_htmx():
                return render_template("dating/_report_done.html", error=None)
            flash("Thanks. Our moderators will review your report.", "success")
            return redirect_to(url_for("dating.person", user_id=user_id))
    if is_htmx():
        return render_template("dating/_report_form.html", person=person, report_form=form), 422
    return _person_page(user_id, form, 422)


@bp.post("/people/<int:user_id>/intro")
@login_required
@limiter.limit("30 per hour")
def pay_intro(user_id: int):
    person = safety.visible_person(current_user, user_id)
    if likes.pay_intro(current_user, user_id):
        flash(f"Intro unlocked: you can message {person.display_name}.", "success")
    else:
        flash(f"You can already message {person.display_name}.", "info")
    return redirect_to(url_for("dating.person", user_id=user_id))


@bp.get("/matches")
@login_required
def matches():
    return render_template("dating/matches.html", matches=likes.matches_of(current_user))


@bp.get("/notifications")
@login_required
def notifications():
    items = likes.notifications(current_user.id)
    response = render_template("dating/notifications.html", items=items)
    likes.mark_all_read(current_user.id)
    return response


@bp.get("/notifications/badge")
@login_required
def notifications_badge():
    return render_template("dating/_badge.html", unread=likes.unread_count(current_user.id))
