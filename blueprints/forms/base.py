"""The base of every form: WTForms checks the shape of input at the edge (present, a whole
number, not absurdly long, one of the offered choices) and hands the view typed values; the
rules themselves (limits that depend on the member, prices, state) stay in the services, which
take those typed values as arguments.

CSRF is checked globally by CSRFProtect before any view runs, so the forms add no token of
their own. Field errors are rendered by one macro, `field` in templates/macros/forms.html, and a
service's `ValidationFailed` is attached to the same fields by `blueprints.htmx.apply_errors`.
"""

from __future__ import annotations

import wtforms.widgets
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms.widgets import core as widgets_core


class Form(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect already checks every POST before the view runs


# --- rendering: WTForms' attribute writer, at a fraction of its cost ----------------------------

_wtforms_html_params = widgets_core.html_params


def html_params(**kwargs: object) -> Markup:
    """What `wtforms.widgets.core.html_params` returns, character for character (tests/
    test_forms_render.py compares them), without formatting each attribute through
    `Markup.format`, whose escaping formatter made one input cost ~150 µs to render: a
    select's every option and every field of every form pay it (BENCHMARKS.md, the pages
    entry). Keys and values are escaped as WTForms escapes them."""
    params = []
    for key, value in sorted(kwargs.items()):
        if value is False:
            continue
        name = escape(widgets_core.clean_key(key))
        params.append(name if value is True else f'{name}="{escape(value)}"')
    return Markup(" ".join(params))  # noqa: S704 (each key and value escaped above)


# WTForms' widgets call the module's function, labels the package's, and Input and Button keep a
# reference of their own: all four now write attributes with the function above.
widgets_core.html_params = html_params
wtforms.widgets.html_params = html_params
widgets_core.Input.html_params = staticmethod(html_params)
widgets_core.Button.html_params = staticmethod(html_params)
