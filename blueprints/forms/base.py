"""The base of every form: WTForms checks the shape of input at the edge (present, a whole
number, not absurdly long, one of the offered choices) and hands the view typed values; the
rules themselves (limits that depend on the member, prices, state) stay in the services, which
take those typed values as arguments.

CSRF is checked globally by CSRFProtect before any view runs, so the forms add no token of
their own. Field errors are rendered by one macro, `field` in templates/macros/forms.html, and a
service's `ValidationFailed` is attached to the same fields by `blueprints.htmx.apply_errors`.
"""

from __future__ import annotations

from flask_wtf import FlaskForm


class Form(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect already checks every POST before the view runs
