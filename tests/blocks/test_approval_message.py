import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from blocks.approval_message import SlackMessage, approval_message, decision_line, progress_bar
from blocks.text import clip, escape, fit, mention, person, slack_date, truncate
from bot.approval import (
    ApprovalRequest,
    ApprovalState,
    ApprovalView,
    Author,
    Decision,
    Outcome,
    Release,
    Vote,
)
from bot.local.fake_slack_checks import (
    MESSAGE_BLOCKS_TEXT_LIMIT,
    block_problems,
    blocks_text_size,
)

INTENT = "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10"
FORAGE = "https://forage.example.com/orgs/acme/projects/payments-api/releases/ladybeetle"
T0 = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)


def release(**overrides) -> Release:
    values = {
        "slug": "evidently-assisting-ladybeetle",
        "title": "fix: retry card captures on timeout (#812)",
        "description": "Retries the capture call twice with jitter.",
        "web_url": FORAGE,
        "commit_sha": "9f2c1e7",
        "commit_branch": "main",
        "author": Author("forest-alice", "alice", "alice@acme.io"),
    }
    values.update(overrides)
    return Release(**values)


def request(required: int = 2, **overrides) -> ApprovalRequest:
    values = {
        "event_id": "5b0c6a1e-8d6f-4f57-9d8e-0f6f1b0d9a11",
        "organisation": "acme",
        "project": "payments-api",
        "release_intent_id": INTENT,
        "target_environment": "production",
        "required_approvals": required,
        "policy_name": "prod-needs-two",
        "blocked_at": "2026-11-26T10:15:00Z",
        "release": release(),
    }
    values.update(overrides)
    return ApprovalRequest(**values)


BOB_APPROVED = Decision("forest-bob", "bob", Vote.APPROVED, T0 + timedelta(minutes=2))
CAROL_REJECTED = Decision(
    "forest-carol", "carol", Vote.REJECTED, T0 + timedelta(minutes=4), "needs more load testing"
)
SLACK_USERS = {"forest-alice": "U0ALICE", "forest-bob": "U0BOB"}


def view(state=None, *, req=None, outcome=None, outcome_at=None, web_url=FORAGE, slack_users=None):
    return ApprovalView(
        request=req or request(),
        state=state,
        web_url=web_url,
        outcome=outcome,
        slack_users=SLACK_USERS if slack_users is None else slack_users,
        outcome_at=outcome_at,
    )


def waiting_state() -> ApprovalState:
    return ApprovalState(2, 1, (BOB_APPROVED, CAROL_REJECTED))


def approved_state() -> ApprovalState:
    carol = Decision("forest-carol", "carol", Vote.APPROVED, T0 + timedelta(minutes=9))
    return ApprovalState(2, 2, (BOB_APPROVED, carol))


def assert_valid(msg: SlackMessage) -> None:
    """What Slack would refuse, refused here: unknown blocks, unknown keys, any size limit."""
    assert 0 < len(msg.text) <= 4000
    assert 0 < len(msg.blocks) <= 50
    assert block_problems(msg.blocks) == []
    assert blocks_text_size(msg.blocks) <= MESSAGE_BLOCKS_TEXT_LIMIT
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = Block.parse_all(msg.blocks)
    assert None not in parsed
    for block, original in zip(parsed, msg.blocks, strict=True):
        assert block.to_dict() == original
    for block in msg.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


def blocks_of(msg: SlackMessage, kind: str) -> list[dict]:
    return [b for b in msg.blocks if b["type"] == kind]


def header(msg: SlackMessage) -> str:
    (block,) = blocks_of(msg, "header")
    return block["text"]["text"]


def mrkdwn(msg: SlackMessage) -> str:
    """Every mrkdwn text a person reads in the message, in order."""
    texts = []
    for block in msg.blocks:
        if block["type"] == "section":
            if "text" in block:
                texts.append(block["text"]["text"])
            texts.extend(f["text"] for f in block.get("fields", []))
        if block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return "\n".join(texts)


def fields(msg: SlackMessage) -> dict[str, str]:
    result = {}
    for block in blocks_of(msg, "section"):
        for field in block.get("fields", []):
            label, _, value = field["text"].partition("\n")
            result[label.strip("*")] = value
    return result


def context(msg: SlackMessage) -> str:
    (block,) = blocks_of(msg, "context")
    return " ".join(e["text"] for e in block["elements"])


def buttons(msg: SlackMessage) -> list[dict]:
    return [e for b in blocks_of(msg, "actions") for e in b["elements"]]


# Waiting for votes


def test_waiting_message_reads_like_the_sketch():
    msg = approval_message(view(waiting_state()))
    assert_valid(msg)
    assert header(msg) == "🔒 payments-api → production needs 2 approvals"
    text = mrkdwn(msg)
    assert f"*<{FORAGE}|fix: retry card captures on timeout (#812)>*" in text
    assert "Retries the capture call twice with jitter." in text
    assert fields(msg) == {
        "Author": "<@U0ALICE>",
        "Commit": "9f2c1e7 on main",
        "Policy": "prod-needs-two",
        "Release": "evidently-assisting-ladybeetle",
    }
    assert "*Votes*  ▰▱  1 of 2" in text
    assert "✅ <@U0BOB> approved · <!date^" in text
    assert "❌ carol rejected · <!date^" in text
    assert "— “needs more load testing”" in text
    assert text.index("<@U0BOB> approved") < text.index("carol rejected")
    assert context(msg) == (
        f"Only org admins who authored this release can bypass. · <{FORAGE}|View in forage>"
    )
    assert msg.text == (
        "payments-api → production: fix: retry card captures on timeout (#812) — 1 of 2 approvals"
    )


def test_waiting_message_has_the_three_buttons():
    msg = approval_message(view(waiting_state()))
    (actions,) = blocks_of(msg, "actions")
    assert actions["block_id"] == "approval_actions"
    token = request().key.token
    shown = [
        (b["text"]["text"], b["action_id"], b.get("style"), b["value"], "confirm" in b)
        for b in buttons(msg)
    ]
    assert shown == [
        ("Approve", "approval_approve", "primary", token, False),
        ("Reject", "approval_reject", None, token, False),
        ("Bypass (admin)", "approval_bypass", "danger", token, False),
    ]


def test_button_value_names_the_gate():
    msg = approval_message(view(waiting_state()))
    key = request().key
    assert {b["value"] for b in buttons(msg)} == {key.token}
    assert type(key).from_token(buttons(msg)[0]["value"]) == key


def test_one_required_approval_is_singular():
    msg = approval_message(view(ApprovalState(1, 0), req=request(required=1)))
    assert header(msg) == "🔒 payments-api → production needs 1 approval"
    assert msg.text.endswith("0 of 1 approval")


def test_no_votes_yet():
    msg = approval_message(view(ApprovalState(2, 0)))
    assert_valid(msg)
    assert "*Votes*  ▱▱  0 of 2\n_No votes yet._" in mrkdwn(msg)
    assert len(buttons(msg)) == 3


def test_before_forest_was_read_the_votes_say_so():
    msg = approval_message(view(None, req=request(required=3)))
    assert_valid(msg)
    assert header(msg) == "🔒 payments-api → production needs 3 approvals"
    text = mrkdwn(msg)
    assert "*Votes*  ▱▱▱  0 of 3" in text
    assert "Waiting for forest…" in text
    assert len(buttons(msg)) == 3
    assert msg.text.endswith("0 of 3 approvals")


def test_state_from_forest_wins_over_the_event_count():
    msg = approval_message(view(ApprovalState(3, 1, (BOB_APPROVED,))))
    assert header(msg).endswith("needs 3 approvals")
    assert "▰▱▱  1 of 3" in mrkdwn(msg)


# People


def test_author_is_a_mention_when_known():
    msg = approval_message(view(waiting_state()))
    assert fields(msg)["Author"] == "<@U0ALICE>"


def test_author_falls_back_to_forest_username_then_email():
    msg = approval_message(view(waiting_state(), slack_users={}))
    assert fields(msg)["Author"] == "alice"
    no_name = request(release=release(author=Author("forest-alice", "", "alice@acme.io")))
    msg = approval_message(view(waiting_state(), req=no_name, slack_users={}))
    assert fields(msg)["Author"] == "alice@acme.io"


def test_voters_are_mentions_when_known_else_usernames():
    msg = approval_message(view(waiting_state(), slack_users={"forest-carol": "U0CAROL"}))
    text = mrkdwn(msg)
    assert "✅ bob approved" in text
    assert "❌ <@U0CAROL> rejected" in text


def test_vote_times_show_in_the_viewers_zone():
    line = decision_line(BOB_APPROVED, {})
    stamp = int(BOB_APPROVED.decided_at.timestamp())
    assert line == f"✅ bob approved · <!date^{stamp}^{{time}}|2026-11-26 10:17 UTC>"


def test_an_authors_approval_is_marked_as_a_bypass_wherever_it_was_cast():
    # Forest records the author's own approval only with force_bypass, also from forage.
    alice = Decision("forest-alice", "alice", Vote.APPROVED, T0, "incident INC-42 hotfix")
    msg = approval_message(view(ApprovalState(2, 2, (alice, BOB_APPROVED)), slack_users={}))
    text = mrkdwn(msg)
    assert "2 of 2 (1 by the author's bypass)" in text
    stamp = int(T0.timestamp())
    assert (
        f"⚠️ alice bypassed as author · <!date^{stamp}^{{time}}|2026-11-26 10:15 UTC>: "
        "“incident INC-42 hotfix”"
    ) in text
    assert "✅ alice approved" not in text
    assert "✅ bob approved" in text


def test_a_bypass_the_bot_cast_is_marked_when_the_author_is_unknown():
    dave = Decision("forest-dave", "dave", Vote.APPROVED, None, "hotfix")
    bare = view(
        ApprovalState(2, 1, (dave,)), req=request(release=release(author=None)), slack_users={}
    )
    shown = ApprovalView(**{**bare.__dict__, "bypassed": frozenset({"forest-dave"})})
    assert "⚠️ dave bypassed as author: “hotfix”" in mrkdwn(approval_message(shown))
    assert "✅ dave approved" in mrkdwn(approval_message(bare))


def test_a_decision_without_time_or_name():
    line = decision_line(Decision("forest-x", "", Vote.REJECTED), {})
    assert line == "❌ someone rejected"


# Fields


def test_empty_fields_are_left_out():
    bare = request(
        policy_name="",
        release=Release(title="Something", commit_branch="main"),
    )
    msg = approval_message(view(waiting_state(), req=bare))
    assert_valid(msg)
    assert fields(msg) == {"Commit": "on main"}


def test_no_fields_at_all_leaves_no_fields_block():
    msg = approval_message(view(None, req=request(policy_name="", release=Release(title="x"))))
    assert_valid(msg)
    assert fields(msg) == {}
    assert not any("fields" in b for b in msg.blocks)


def test_a_full_commit_sha_is_shortened():
    full = "9f2c1e7a3b4c5d6e7f8091a2b3c4d5e6f7a8b9c0"
    msg = approval_message(view(waiting_state(), req=request(release=release(commit_sha=full))))
    assert fields(msg)["Commit"] == "9f2c1e7 on main"


# Title


def test_without_a_title_the_slug_then_the_intent_stand_in():
    msg = approval_message(view(None, req=request(release=release(title=""))))
    assert f"*<{FORAGE}|evidently-assisting-ladybeetle>*" in mrkdwn(msg)
    msg = approval_message(view(None, req=request(release=Release())))
    assert f"*<{FORAGE}|Release 0f8e3b9e>*" in mrkdwn(msg)
    assert "Release 0f8e3b9e" in msg.text


def test_without_a_forage_url_the_title_is_plain_and_nothing_links():
    msg = approval_message(view(waiting_state(), web_url=""))
    assert_valid(msg)
    text = mrkdwn(msg)
    assert "*fix: retry card captures on timeout (#812)*" in text
    assert "View in forage" not in text
    assert context(msg) == "Only org admins who authored this release can bypass."


def test_a_url_that_is_not_http_is_not_linked():
    msg = approval_message(view(waiting_state(), web_url="javascript:alert(1)"))
    assert "javascript" not in mrkdwn(msg)
    assert "*fix: retry card captures on timeout (#812)*" in mrkdwn(msg)


def test_long_title_and_description_are_cut_with_an_ellipsis():
    title = "T" * 10_000
    description = "D" * 10_000
    req = request(release=release(title=title, description=description))
    msg = approval_message(view(waiting_state(), req=req))
    assert_valid(msg)
    title_block = msg.blocks[1]["text"]["text"]
    shown_title = re.search(r"\|(T+…)>", title_block).group(1)
    assert 100 <= len(shown_title) <= 200
    shown_description = title_block.split("\n", 1)[1]
    assert shown_description.endswith("…")
    assert 250 <= len(shown_description) <= 300
    assert "T…" in msg.text
    assert len(msg.text) <= 4000


def test_title_is_escaped_everywhere():
    req = request(release=release(title="<!channel> ship it & <@U0BOSS>", description="a > b"))
    msg = approval_message(view(waiting_state(), req=req))
    assert_valid(msg)
    text = mrkdwn(msg)
    assert "&lt;!channel&gt; ship it &amp; &lt;@U0BOSS&gt;" in text
    assert "a &gt; b" in text
    assert "<!channel>" not in text + msg.text
    assert "<@U0BOSS>" not in text + msg.text
    assert "&lt;!channel&gt; ship it &amp;" in msg.text


def test_names_and_comments_are_escaped():
    sneaky = Decision("forest-m", "<!here>", Vote.REJECTED, None, "see <https://evil|forage> & go")
    msg = approval_message(view(ApprovalState(2, 0, (sneaky,)), slack_users={}))
    text = mrkdwn(msg)
    assert "❌ &lt;!here&gt; rejected — “see &lt;https://evil|forage&gt; &amp; go”" in text
    assert "<!here>" not in text


# Header


def test_header_fits_150_chars_and_keeps_the_ask():
    req = request(project="p" * 500, target_environment="e" * 500)
    msg = approval_message(view(waiting_state(), req=req))
    assert_valid(msg)
    assert len(header(msg)) <= 150
    assert header(msg).endswith("needs 2 approvals")
    assert "…" in header(msg)


def test_header_is_plain_text_shown_as_typed():
    msg = approval_message(view(waiting_state(), req=request(project="a&b <x>")))
    assert header(msg) == "🔒 a&b <x> → production needs 2 approvals"
    assert msg.blocks[0]["text"]["type"] == "plain_text"


# Many decisions


def test_five_hundred_long_decisions_still_make_a_valid_message():
    decisions = tuple(
        Decision(
            f"forest-{i}",
            f"user{i}" + "x" * 300,
            Vote.APPROVED if i % 2 else Vote.REJECTED,
            T0 + timedelta(seconds=i),
            "&<>" * 700 if i % 3 else "c" * 2000,
        )
        for i in range(500)
    )
    msg = approval_message(view(ApprovalState(400, 250, decisions)))
    assert_valid(msg)
    text = mrkdwn(msg)
    shown = text.count(" approved · ") + text.count(" rejected · ")
    assert 0 < shown < 500
    assert f"…and {500 - shown} more decisions before these_" in text
    assert "See all in forage" in text
    assert "…”" in text
    assert len(buttons(msg)) == 3


def test_a_few_more_decisions_than_shown():
    decisions = tuple(
        Decision(f"forest-{i}", f"user{i}", Vote.APPROVED, T0, "ok") for i in range(26)
    )
    msg = approval_message(view(ApprovalState(30, 26, decisions)))
    assert_valid(msg)
    text = mrkdwn(msg)
    assert text.count(" approved · ") == 25
    assert "…and 1 more decision before these_" in text
    # The newest are shown: user0 voted first.
    assert "user0 " not in text and "user25 " in text


def test_every_decision_is_shown_when_they_fit():
    decisions = tuple(
        Decision(f"forest-{i}", f"user{i}", Vote.APPROVED, T0, "fine by me") for i in range(20)
    )
    msg = approval_message(view(ApprovalState(30, 20, decisions)))
    text = mrkdwn(msg)
    assert text.count(" approved · ") == 20
    assert "more decision" not in text


# Approved and finished


def test_approved_message_has_no_buttons_and_says_deploying():
    msg = approval_message(view(approved_state()))
    assert_valid(msg)
    assert header(msg) == "✅ payments-api → production approved"
    assert blocks_of(msg, "actions") == []
    assert buttons(msg) == []
    assert context(msg).startswith("Deploying…")
    assert "*Votes*  ▰▰  2 of 2" in mrkdwn(msg)
    assert "<@U0BOB> approved" in mrkdwn(msg)
    assert msg.text.endswith("— approved")


@pytest.mark.parametrize(
    ("outcome", "headline", "status"),
    [
        (Outcome.SUCCEEDED, "🚀 Deployed to production", "deployed"),
        (Outcome.FAILED, "💥 Deploy to production failed", "deploy failed"),
        (Outcome.CANCELLED, "⏹ Cancelled", "cancelled"),
        (Outcome.TIMED_OUT, "⌛ Timed out", "timed out"),
    ],
)
def test_final_states_have_no_buttons(outcome, headline, status):
    for state in (None, waiting_state(), approved_state()):
        msg = approval_message(view(state, outcome=outcome))
        assert_valid(msg)
        assert header(msg) == headline
        assert buttons(msg) == []
        assert "can bypass" not in context(msg)
        assert msg.text.endswith(f"— {status}")


def test_deployed_shows_when_it_finished():
    done = T0 + timedelta(hours=1)
    msg = approval_message(view(approved_state(), outcome=Outcome.SUCCEEDED, outcome_at=done))
    assert context(msg).startswith(
        f"payments-api → production · Finished "
        f"<!date^{int(done.timestamp())}^{{date_short_pretty}} at {{time}}|"
    )
    assert "<@U0BOB> approved" in mrkdwn(msg)


def test_failed_links_to_forage():
    msg = approval_message(view(approved_state(), outcome=Outcome.FAILED))
    assert f"<{FORAGE}|View in forage>" in context(msg)


# Any input


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=texts,
    description=texts,
    comment=texts,
    username=texts,
    project=texts,
    env=texts,
    count=st.integers(min_value=0, max_value=60),
    outcome=st.none() | st.sampled_from(Outcome),
)
def test_any_text_makes_a_valid_message(
    title, description, comment, username, project, env, count, outcome
):
    decisions = tuple(Decision(f"f{i}", username, Vote.REJECTED, T0, comment) for i in range(count))
    req = request(
        project=project or "p",
        target_environment=env or "e",
        release=release(title=title, description=description, commit_branch=username),
    )
    msg = approval_message(
        view(ApprovalState(2, 0, decisions), req=req, outcome=outcome, outcome_at=T0)
    )
    assert_valid(msg)


# Text helpers


def test_escape_makes_control_sequences_literal():
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert escape("a\u202eb\x00c\nd") == "abc\nd"


def test_truncate_counts_characters_and_ends_with_an_ellipsis():
    assert truncate("hello", 5) == "hello"
    assert truncate("hello world", 8) == "hello w…"
    assert len(truncate("x" * 10_000, 150)) == 150
    assert truncate("ab👨‍👩‍👧cd", 7) == "ab…"
    assert truncate("ab🇩🇪🇫🇷cd", 6) == "ab🇩🇪…"
    assert truncate("שלום עולם", 6) == "שלום…"
    with pytest.raises(ValueError):
        truncate("x", 0)


def test_clip_escapes_after_cutting():
    assert clip("<" * 10, 4) == "&lt;&lt;&lt;…"


def test_fit_never_breaks_markup():
    assert fit("ab &amp; cd", 6) == "ab…"
    assert fit("ab <@U0BOB> cd", 8) == "ab…"
    assert fit("short", 10) == "short"
    for limit in range(1, 30):
        assert len(fit("x &amp; <https://a.b|link> y", limit)) <= limit


def test_mention():
    assert mention("U0ALICE") == "<@U0ALICE>"
    assert mention("W012ABC") == "<@W012ABC>"
    with pytest.raises(ValueError):
        mention("<!channel>")
    assert person("not an id", "bob") == "bob"
    assert person(None, "") == "someone"


def test_slack_date():
    moment = datetime(2026, 11, 26, 10, 17, tzinfo=UTC)
    stamp = int(moment.timestamp())
    assert slack_date(moment, "10:17") == f"<!date^{stamp}^{{time}}|10:17>"
    assert slack_date(moment.replace(tzinfo=None)) == (
        f"<!date^{stamp}^{{time}}|2026-11-26 10:17 UTC>"
    )
    assert slack_date(moment, "a|b>", fmt="{date_short}") == (
        f"<!date^{stamp}^{{date_short}}|a/b&gt;>"
    )


@pytest.mark.parametrize(
    ("current", "required", "bar"),
    [
        (0, 2, "▱▱"),
        (1, 2, "▰▱"),
        (2, 2, "▰▰"),
        (3, 2, "▰▰"),
        (5, 20, "▰▰▱▱▱▱▱▱▱▱"),
        (19, 20, "▰▰▰▰▰▰▰▰▰▱"),
        (20, 20, "▰▰▰▰▰▰▰▰▰▰"),
        (0, 0, "▱"),
    ],
)
def test_progress_bar(current, required, bar):
    assert progress_bar(current, required) == bar


def test_peoples_words_are_marked_verbatim_so_slack_links_nothing_in_them():
    req = request(release=release(title="see https://evil.example #general", commit_branch="#x"))
    msg = approval_message(view(waiting_state(), req=req))
    assert_valid(msg)
    title, fields, votes = msg.blocks[1], msg.blocks[2], msg.blocks[3]
    assert "https://evil.example #general" in title["text"]["text"]
    assert title["text"]["verbatim"] is True
    assert all(field["verbatim"] is True for field in fields["fields"])
    assert "needs more load testing" in votes["text"]["text"]
    assert votes["text"]["verbatim"] is True
    # What the bot writes itself needs no such care.
    assert "verbatim" not in msg.blocks[-1]["elements"][0]
