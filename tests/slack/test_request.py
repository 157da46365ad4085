"""Slack's request bodies decode as Bolt's own decoding gives them, except that a form is an
interaction only when it has a ``payload`` field (Bolt looks for the word anywhere)."""

import json
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.request.internals import parse_body

from bot.slack.request import decode_body

FORM = "application/x-www-form-urlencoded"
texts = st.text(st.characters(codec="utf-8"), max_size=60)


def bolt_or_error(raw: str, content_type: str | None):
    """Bolt's decoding, deciding by the form's field rather than by a substring."""
    try:
        fields = dict(parse_qsl(raw, keep_blank_values=True))
        if raw and not raw.startswith("{") and "payload" in raw and "payload" not in fields:
            return fields
        return parse_body(raw, content_type)
    except ValueError as error:
        return type(error)


def ours_or_error(raw: str, content_type: str | None):
    try:
        return decode_body(raw, content_type)
    except ValueError as error:
        return type(error)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | texts,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=20,
    )
)
def test_an_interaction_payload_decodes_as_bolt_decodes_it(payload):
    raw = urlencode({"payload": json.dumps({"type": "block_actions", "value": payload})})
    assert decode_body(raw, FORM) == parse_body(raw, FORM)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(texts, texts), max_size=6))
def test_a_slash_command_form_decodes_as_bolt_decodes_it(pairs):
    raw = urlencode(pairs)
    assert ours_or_error(raw, FORM) == bolt_or_error(raw, FORM)


garbage = st.text(st.sampled_from('ab=&%+#?;{}[]"é2F\u00ff1 '), max_size=40)


@settings(max_examples=500, deadline=None)
@given(garbage | garbage.map(lambda text: "payload=" + text) | garbage.map(lambda t: t + "payload"))
def test_any_body_decodes_as_bolt_decodes_it_or_fails_as_it_does(raw):
    assert ours_or_error(raw, FORM) == bolt_or_error(raw, FORM)


@pytest.mark.parametrize("content_type", [None, "application/json", FORM])
def test_json_bodies_are_read_as_json(content_type):
    raw = json.dumps({"type": "url_verification", "challenge": "c"})
    assert decode_body(raw, content_type) == {"type": "url_verification", "challenge": "c"}


@pytest.mark.parametrize(
    "field",
    ["channel_name=payload-team", "user_name=payload", "team_domain=payloads", "text=payload"],
)
def test_a_form_naming_payload_in_a_value_is_still_a_form(field):
    raw = f"command=%2Fforest&text=whoami&{field}"
    decoded = decode_body(raw, FORM)
    assert decoded["command"] == "/forest"
    assert dict(parse_qsl(raw)) == decoded
