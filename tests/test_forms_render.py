"""Forms render exactly as WTForms renders them (blueprints/forms/base.py writes the attributes
faster, and must not write them differently)."""

from __future__ import annotations

import wtforms.widgets
from hypothesis import given
from hypothesis import strategies as st
from wtforms.widgets import core as widgets_core

from blueprints.forms import base

values = st.one_of(
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.sampled_from(['a "quoted" <b>&amp;</b>', "it's", "café 🙂", "\x00"]),
)
keys = st.sampled_from(
    ["name", "id", "class_", "for_", "data_hx_post", "aria_describedby", "value", "autofocus"]
)


@given(st.dictionaries(keys | st.text(min_size=1, max_size=8), values, max_size=6))
def test_attributes_are_written_as_wtforms_writes_them(attributes):
    assert base.html_params(**attributes) == base._wtforms_html_params(**attributes)


def test_every_widget_writes_attributes_through_it():
    assert widgets_core.html_params is base.html_params
    assert wtforms.widgets.html_params is base.html_params  # labels
    assert widgets_core.Input.html_params is base.html_params
    assert widgets_core.Button.html_params is base.html_params


def test_a_select_renders_as_before(app):
    from blueprints.forms.dating import DiscoverForm

    with app.test_request_context("/discover?sort=match&radius=25"):
        form = DiscoverForm()
        fast = [str(field()) + str(field.label()) for field in form]
        widgets_core.html_params = base._wtforms_html_params
        widgets_core.Input.html_params = staticmethod(base._wtforms_html_params)
        try:
            wtforms.widgets.html_params = base._wtforms_html_params
            slow = [str(field()) + str(field.label()) for field in form]
        finally:
            widgets_core.html_params = base.html_params
            widgets_core.Input.html_params = staticmethod(base.html_params)
            wtforms.widgets.html_params = base.html_params
    assert fast == slow and any("<option" in html for html in fast)
