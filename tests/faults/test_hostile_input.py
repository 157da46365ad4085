"""Hostile input: whatever forest's event or Slack's payload holds, the bot parses it or refuses it
with its own error, and whatever people typed, what it sends Slack stays inside Slack's limits."""

import contextlib
import json
import re
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from tests_support import all_text, wait_until

from blocks import linking as linking_blocks
from blocks import modals, replies
from blocks.approval_message import SlackMessage, approval_message
from blocks.text import sanitize
from bot.approval import (
    ApprovalKey,
    ApprovalRequest,
    ApprovalState,
    ApprovalView,
    Author,
    Decision,
    Outcome,
    Release,
    Vote,
)
from bot.approvals.voting import VoteKind
from bot.events.approval_required import PoisonEvent, parse_approval_required
from bot.local.fake_slack_checks import block_problems, view_problems
from bot.local.local_stack import CHANNEL, LocalStack
from handlers.payloads import (
    ModalPlace,
    PayloadError,
    PendingVote,
    actor_of,
    approval_key,
    button_click,
    modal_place,
    pending_vote,
    thread_vote,
)

QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
INTENT = "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10"

# Text people and other systems type that means something to Slack, to a terminal or to the
# layout of a line.
SPECIALS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<@U123>",
    "<@W0BOB>",
    "<#C123|general>",
    "<https://evil.example|click me>",
    "&",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "|",
    "*bold*",
    "_",
    "~",
    "`",
    "```",
    ":",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u202e",
    "\u2066",
    "\u200f",
    "\u061c",
    "\ufeff",
    "\u200d",
    "\ufe0f",
    "\u0301",
    "e\u0301",
    "مرحبا بالعالم",
    "שלום עולם",
    "👍",
    "👩‍👩‍👧‍👦",
    "🇫🇷🇩🇪",
    "🏳️‍🌈",
    "Z̷̢͎͇̀a̸l̶g̵o̶",
    "\U0001d4e4\U0001d4f7\U0001d4f2\U0001d4ec\U0001d4f8\U0001d4ed\U0001d4ee",  # script letters
    " ",
    "",
]
_pieces = st.one_of(st.sampled_from(SPECIALS), st.text(max_size=12))
hostile_text = st.one_of(
    st.lists(_pieces, max_size=24).map("".join),
    # Very long text: one piece repeated up to thousands of times.
    st.tuples(
        st.sampled_from(SPECIALS[:-1]) | st.text(min_size=1, max_size=6), st.integers(1, 4000)
    ).map(lambda piece_times: piece_times[0] * piece_times[1]),
)
slack_ids = st.from_regex(r"\AU[A-Z0-9]{2,10}\Z")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

VALID_EVENT: dict[str, Any] = {
    "event_id": "5b0c6a1e-8d6f-4f57-9d8e-0f6f1b0d9a11",
    "organisation": "acme",
    "project": "payments-api",
    "release_intent_id": INTENT,
    "target_environment": "production",
    "policy_name": "prod-needs-two",
    "required_approvals": 2,
    "blocked_at": "2026-11-26T10:15:00Z",
    "release": {
        "slug": "evidently-assisting-ladybeetle",
        "title": "fix: retry card captures on timeout (#812)",
        "description": "Retries the capture call twice with jitter.",
        "web_url": "https://forage.example.com/r/1",
        "commit_sha": "9f2c1e7",
        "commit_branch": "main",
        "author": {"user_id": "c6b0", "username": "alice", "email": "alice@acme.io"},
    },
}
EVENT_KEYS = [*VALID_EVENT, "release.title", "release.author", "release.author.username"]


def _with(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``path`` (dotted) set to ``value``; a missing parent is made."""
    copy = json.loads(json.dumps(document))
    node = copy
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return copy


# forest's approval-required event


def _accepted_is_usable(request: ApprovalRequest) -> None:
    """What the rest of the bot does with a parsed event must not fail on it."""
    assert str(uuid.UUID(request.release_intent_id)) == request.release_intent_id
    assert request.required_approvals >= 1
    token = request.key.token
    assert ApprovalKey.from_token(token) == request.key
    # KV keys take only these characters; the reject and bypass modals carry the token in a
    # block id of at most 255 characters.
    assert re.fullmatch(r"[-/_=.a-zA-Z0-9]+", f"approval.{token}")
    modals.reject_modal(token, request.release.title, "{}")
    json.dumps(request.__dict__, default=lambda o: o.__dict__).encode()
    for text in _texts_of(request):
        text.encode("utf-8")  # protobuf, JSON for Slack and log lines all need valid UTF-8


def _texts_of(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if hasattr(value, "__dict__"):
        return [t for v in vars(value).values() for t in _texts_of(v)]
    return []


def _parse_or_poison(payload: bytes) -> None:
    try:
        request = parse_approval_required(payload)
    except PoisonEvent:
        return
    _accepted_is_usable(request)


@QUICK
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\xff\xfe{}")
@example(b"[" * 100_000)
@example(b'{"required_approvals": 1' + b"0" * 5000 + b"}")
def test_any_bytes_are_an_event_or_poison(payload: bytes):
    _parse_or_poison(payload)


@QUICK
@given(json_values)
def test_any_json_value_is_an_event_or_poison(value: Any):
    _parse_or_poison(json.dumps(value).encode())


@QUICK
@given(st.sampled_from(EVENT_KEYS), json_values | hostile_text)
@example("release_intent_id", "{0F8E3B9E-2C47-4C55-8D7E-7A3F4B6D2E10}")
@example("release_intent_id", "urn:uuid:0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10")
@example("release_intent_id", "0f8e3b9e2c474c558d7e7a3f4b6d2e10")
@example("release_intent_id", "\u0660" * 32)  # Arabic-Indic zeros
@example("target_environment", "production-" + "é" * 240)
@example("target_environment", "\ud800")
@example("organisation", "acme\udfff")
@example("release.title", "fix \ud83d")
def test_an_event_with_any_one_field_replaced_is_an_event_or_poison(key: str, value: Any):
    _parse_or_poison(json.dumps(_with(VALID_EVENT, key, value)).encode())


@QUICK
@given(st.sampled_from(EVENT_KEYS))
def test_an_event_missing_any_one_field_is_an_event_or_poison(key: str):
    event = json.loads(json.dumps(VALID_EVENT))
    node = event
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    _parse_or_poison(json.dumps(event).encode())


def test_huge_numbers_and_deep_nesting_are_poison():
    with pytest.raises(PoisonEvent):
        parse_approval_required(b'{"required_approvals": 1' + b"0" * 5000 + b"}")
    with pytest.raises(PoisonEvent):
        parse_approval_required(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)


def test_intent_ids_are_read_in_their_one_canonical_form():
    for written in (
        INTENT.upper(),
        "{" + INTENT + "}",
        "urn:uuid:" + INTENT,
        INTENT.replace("-", ""),
    ):
        request = parse_approval_required(
            json.dumps(_with(VALID_EVENT, "release_intent_id", written)).encode()
        )
        assert request.release_intent_id == INTENT


# Slack's payloads


def _value_or_payload_error(parse, *args: Any) -> None:
    with contextlib.suppress(PayloadError):
        parse(*args)


payload_dicts = st.dictionaries(st.text(max_size=10), json_values, max_size=8)
# Payloads shaped like Slack's, with any of their fields replaced by anything.
click_fields = st.fixed_dictionaries(
    {},
    optional={
        "user": st.fixed_dictionaries(
            {}, optional={"id": json_values, "team_id": json_values, "username": json_values}
        )
        | json_values,
        "team": st.fixed_dictionaries({}, optional={"id": json_values, "domain": json_values})
        | json_values,
        "actions": st.lists(
            st.fixed_dictionaries({}, optional={"action_id": json_values, "value": json_values})
            | json_values,
            max_size=2,
        )
        | json_values,
        "channel": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "container": st.fixed_dictionaries(
            {}, optional={"channel_id": json_values, "message_ts": json_values}
        )
        | json_values,
        "message": json_values,
        "trigger_id": json_values,
        "response_url": json_values,
    },
)
message_events = st.fixed_dictionaries(
    {},
    optional={
        "user": json_values | slack_ids,
        "text": json_values | hostile_text.map(lambda t: "approve " + t),
        "ts": json_values | st.just("1.2"),
        "thread_ts": json_values | st.just("1.1"),
        "channel": json_values | st.just("C1"),
        "team": json_values | st.just("T1"),
        "subtype": json_values,
        "bot_id": json_values,
    },
)


@QUICK
@given(payload_dicts | click_fields)
def test_any_click_payload_is_a_click_or_payload_error(body: dict[str, Any]):
    _value_or_payload_error(button_click, body)
    _value_or_payload_error(actor_of, body)


@QUICK
@given(message_events, payload_dicts | st.fixed_dictionaries({"team_id": json_values}))
def test_any_message_event_is_a_vote_nothing_or_payload_error(event, body):
    try:
        vote = thread_vote(event, body)
    except PayloadError:
        return
    if vote is not None:
        vote.comment.encode("utf-8")  # it goes to forest over protobuf


@QUICK
@given(json_values | hostile_text)
@example('{"channel": 1' + "0" * 5000 + "}")
@example("[" * 100_000)
@example({"channel": "C1", "ts": "1.2"})
def test_any_private_metadata_is_a_place_or_payload_error(private_metadata: Any):
    _value_or_payload_error(modal_place, private_metadata)


@QUICK
@given(hostile_text | st.text())
@example("approve|not-a-token|C1|1.2")
@example("approve|" + INTENT + ".\ud800|C1|1.2")
@example("reject|" + INTENT + ".=====|C1|1.2")
def test_any_button_value_is_a_pending_vote_or_payload_error(value: str):
    _value_or_payload_error(pending_vote, value)
    _value_or_payload_error(approval_key, value)


@QUICK
@given(hostile_text.map(lambda text: text.strip()[:35] or "production"))
def test_a_pending_vote_reads_back_what_it_wrote(environment: str):
    key = ApprovalKey(INTENT, environment)
    pending = PendingVote(VoteKind.APPROVE, key, "C1", "1.2")
    assert pending_vote(pending.encode()) == pending


# Block Kit sent to Slack

_BROADCAST = re.compile(r"<!(?:channel|here|everyone|subteam)")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _texts(node: Any, kind: str = "other") -> list[tuple[str, str]]:
    """Every string in ``node`` with how Slack reads it: "mrkdwn", "plain_text" or "other"."""
    if isinstance(node, str):
        return [(node, kind)]
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            return [(node["text"], node["type"])]
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def _check_text(text: str, kind: str, mentionable: set[str]) -> None:
    if kind == "mrkdwn":
        # Slack turns these into notifications and links only in mrkdwn (and message text).
        assert not _BROADCAST.search(text), text[:200]
        assert set(_MENTION.findall(text)) <= mentionable, text[:200]
    assert not _UNSAFE.search(text), ascii(text[:200])
    text.encode("utf-8")


def _check_blocks(blocks: list[dict[str, Any]], limit: int = 50) -> None:
    assert 0 < len(blocks) <= limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = Block.parse_all(blocks)
    assert None not in parsed
    for block in parsed:
        block.to_dict()  # raises SlackObjectFormationError past a limit
    assert block_problems(blocks, limit) == []
    for block in blocks:
        text = block.get("text")
        if block["type"] == "header":
            assert len(text["text"]) <= 150
        if block["type"] == "section":
            assert text is None or len(text["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                assert len(element.get("value", "")) <= 2000
                assert len(element["text"]["text"]) <= 75
                assert len(element["action_id"]) <= 255
        assert len(block.get("block_id", "")) <= 255


def assert_fits_slack(message: SlackMessage, mentionable: set[str] = frozenset()) -> None:
    assert 0 < len(message.text) <= 4000
    _check_blocks(message.blocks)
    for text, kind in [(message.text, "mrkdwn"), *_texts(message.blocks)]:
        _check_text(text, kind, set(mentionable))


def assert_reply_fits_slack(text: str, mentionable: set[str] = frozenset()) -> None:
    assert 0 < len(text) <= 4000
    _check_text(text, "mrkdwn", set(mentionable))


def assert_modal_fits_slack(view: dict[str, Any]) -> None:
    assert view_problems(view) == []
    View(**view).to_dict()
    assert len(view["title"]["text"]) <= 24
    assert len(view.get("private_metadata", "")) <= 3000
    _check_blocks(view["blocks"], 100)
    for text, kind in _texts(view):
        _check_text(text, kind, set())


def _event_with(draw_text) -> dict[str, Any]:
    return {
        **VALID_EVENT,
        "organisation": draw_text("organisation"),
        "project": draw_text("project"),
        "target_environment": draw_text("environment"),
        "policy_name": draw_text("policy"),
        "release": {
            key: draw_text(key)
            for key in ("slug", "title", "description", "web_url", "commit_sha", "commit_branch")
        }
        | {
            "author": {
                "user_id": draw_text("author id"),
                "username": draw_text("author"),
                "email": draw_text("email"),
            }
        },
    }


@st.composite
def approval_views(draw) -> ApprovalView:
    """What forest could announce and report, with hostile text everywhere, parsed the way the
    bot parses it (an event the parser refuses never reaches the builders)."""

    # A few texts, each placed in several fields, keep the examples quick to make.
    pool = draw(st.lists(hostile_text, min_size=1, max_size=4), label="texts")
    pool.append("https://forage.example.com/releases/1")

    def text(label: str) -> str:
        return pool[draw(st.integers(0, len(pool) - 1), label=label)]

    event = _event_with(text)
    event["required_approvals"] = draw(st.integers(1, 40))
    try:
        request = parse_approval_required(json.dumps(event).encode())
    except PoisonEvent:
        request = parse_approval_required(json.dumps(VALID_EVENT).encode())
        request = ApprovalRequest(
            **{**request.__dict__, "release": Release(title=text("title"), author=Author())}
        )
    # A few texts shared by up to 60 decisions keep the examples quick to make.
    names = pool
    comments = [None, *pool]
    decisions = tuple(
        Decision(
            user_id=f"forest-{index}",
            username=names[index % len(names)],
            decision=Vote.APPROVED if index % 3 else Vote.REJECTED,
            decided_at=T0 + timedelta(minutes=index) if index % 2 else None,
            comment=comments[index % len(comments)],
        )
        for index in range(draw(st.integers(0, 60), label="decisions"))
    )
    state = draw(
        st.none()
        | st.builds(
            ApprovalState,
            st.integers(0, 40),
            st.integers(0, 60),
            st.just(decisions),
        )
    )
    slack_users = draw(
        st.dictionaries(
            st.sampled_from([f"forest-{i}" for i in range(60)] + ["c6b0"]), slack_ids, max_size=8
        )
    )
    return ApprovalView(
        request=request,
        state=state,
        web_url=text("web_url"),
        outcome=draw(st.none() | st.sampled_from(Outcome)),
        slack_users=slack_users,
        outcome_at=draw(st.none() | st.just(T0)),
    )


@QUICK
@given(approval_views())
def test_the_approval_message_fits_slack_whatever_the_text(view: ApprovalView):
    assert_fits_slack(approval_message(view), set(view.slack_users.values()))


@QUICK
@given(approval_views(), hostile_text, st.none() | slack_ids, st.sampled_from(Vote))
def test_thread_replies_fit_slack_whatever_the_text(view, text, slack_user, vote):
    mentionable = set(view.slack_users.values()) | ({slack_user} if slack_user else set())
    for reply in (
        replies.approved_reply(slack_user, text, username=text),
        replies.rejected_reply(slack_user, text, username=text),
        replies.bypassed_reply(slack_user, text, username=text),
        replies.vote_changed_reply(slack_user, vote, text, username=text),
        replies.approved_summary(view),
        replies.outcome_reply(
            view.outcome or Outcome.FAILED,
            view.request.target_environment,
            at=T0,
            web_url=view.web_url,
        ),
        replies.reminder_reply(view, T0 + timedelta(hours=3)),
    ):
        assert_reply_fits_slack(reply, mentionable)
    decision = Decision("forest-x", text, Vote.REJECTED, T0, text)
    assert_reply_fits_slack(replies.rejected_notice(view, decision), mentionable)


def _request_in(environment: str) -> ApprovalRequest:
    """The example event for ``environment``, when the parser accepts that name."""
    try:
        return parse_approval_required(
            json.dumps(_with(VALID_EVENT, "target_environment", environment)).encode()
        )
    except PoisonEvent:
        return parse_approval_required(json.dumps(VALID_EVENT).encode())


@QUICK
@given(hostile_text, hostile_text, st.none() | st.sampled_from(Outcome))
def test_private_answers_fit_slack_whatever_the_text(text, other, outcome):
    view = ApprovalView(request=_request_in(text), state=None, outcome=outcome)
    pending = PendingVote(VoteKind.REJECT, view.request.key, "C0APPROVALS", "1795720540.000100")
    sentence = text if sanitize(text).strip() else "Forest refused the vote."
    for message in (
        replies.notice(sentence),
        replies.not_linked(pending.encode()),
        replies.not_linked(pending.encode(), text),
        replies.vote_failed("vote_resume", pending.encode(), now=T0),
        linking_blocks.device_login(text, other, 900),
        linking_blocks.linked(text, pending.encode()),
        linking_blocks.login_failed(sentence),
        linking_blocks.whoami(text),
        linking_blocks.logged_out(text),
        linking_blocks.unknown_subcommand(text),
    ):
        assert_fits_slack(message)


@QUICK
@given(hostile_text, hostile_text, hostile_text)
def test_modals_fit_slack_whatever_the_text(environment, title, text):
    token = _request_in(environment).key.token
    sentence = text if sanitize(text).strip() else "Forest refused the vote."
    place = ModalPlace("C0APPROVALS", "1795720540.000100", token).encode()
    for modal in (
        modals.reject_modal(token, title, place),
        modals.bypass_modal(token, title, place),
        modals.notice_modal(replies.notice(sentence)),
    ):
        assert_modal_fits_slack(modal)
    submitted = modals.reject_modal(token, title, place)
    assert modal_place(submitted["private_metadata"]).key_token == token


# Through the real bot

LONG_COMMENT = ("needs more load testing 🚀🇫🇷 שלום עולם مرحبا e\u0301 <!channel> & " * 60)[:3000]


async def test_a_huge_event_and_huge_comments_still_make_valid_messages(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    intent = stack.new_release()
    await stack.announce(
        intent,
        title=("fix: ✨ עברית <!here> & " * 500)[:10_000],
        description=("Retries 🔁 the capture call مرحبا <@U0BOB> & " * 150)[:5_000],
    )
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    ts = stack.slack.messages(CHANNEL)[0].ts

    # Comments from forage, and one typed in the thread.
    await stack.forest.record_decision(intent, "production", "carol", "rejected", LONG_COMMENT)
    await stack.forest.record_decision(intent, "production", "dave", "approved", LONG_COMMENT)
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "reject " + LONG_COMMENT)
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["x"])
    await wait_until(lambda: len(stack.slack.thread(CHANNEL, ts)) >= 4)  # bob's reply and 3 more

    refused = [c for c in stack.slack.calls if c.response is not None and not c.ok]
    assert refused == [], [(c.method, c.error) for c in refused]
    shown = stack.slack.message(CHANNEL, ts)
    assert "1 of 2" in all_text(shown)
    assert "<!here>" not in all_text(shown)
    bot_replies = [r.text for r in stack.slack.thread(CHANNEL, ts) if r.user != "U0BOB"]
    assert len(bot_replies) == 3
    assert not any("<!channel>" in text for text in bot_replies)
    [reject] = stack.forest.calls_to("ExternalRejectRelease")
    assert reject.actor == "bob" and reject.request.comment.startswith("needs more load testing")


async def test_a_thread_vote_with_broken_unicode_is_still_cast(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    intent = stack.new_release()
    await stack.announce(intent)
    await wait_until(lambda: len(stack.slack.messages(CHANNEL)) == 1)
    ts = stack.slack.messages(CHANNEL)[0].ts
    # JSON may carry half of a surrogate pair; Python reads it as a lone surrogate.
    reply_ts, _ = await stack.reply_in_thread("bob", ts, "approve ship it \ud83d now")
    await wait_until(lambda: stack.slack.reactions(CHANNEL, reply_ts) == ["white_check_mark"])
    [call] = stack.forest.calls_to("ExternalApproveRelease")
    assert call.actor == "bob"
    assert call.request.comment.startswith("ship it") and call.request.comment.endswith("now")

    await stack.click("bob", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    await stack.submit("bob", stack.slack.views[0].id, "\udc00 not yet")
    await wait_until(lambda: stack.forest.calls_to("ExternalRejectRelease"))
    assert stack.forest.calls_to("ExternalRejectRelease")[0].request.comment.endswith("not yet")
