import warnings
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from blocks.elements import SlackMessage
from blocks.replies import (
    approved_reply,
    approved_summary,
    bypassed_reply,
    join_names,
    not_linked,
    notice,
    outcome_reply,
    rejected_notice,
    rejected_reply,
    reminder_reply,
    vote_changed_reply,
    vote_failed,
)
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

T0 = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
ALICE = Author("forest-alice", "alice")
STAMP = int(T0.timestamp())
FORAGE = "https://forage.example.com/orgs/acme/projects/payments-api/releases/ladybeetle"


def view(state, *, author=ALICE, slack_users=None, outcome=None):
    req = ApprovalRequest(
        event_id="e1",
        organisation="acme",
        project="payments-api",
        release_intent_id="0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10",
        target_environment="production",
        required_approvals=2,
        blocked_at="2026-11-26T10:15:00Z",
        release=Release(title="fix: retry", author=author),
    )
    users = {"forest-alice": "U0ALICE", "forest-bob": "U0BOB", "forest-carol": "U0CAROL"}
    return ApprovalView(
        req,
        state,
        FORAGE,
        outcome=outcome,
        slack_users=users if slack_users is None else slack_users,
    )


def approve(user: str, name: str) -> Decision:
    return Decision(user, name, Vote.APPROVED, T0)


def assert_valid(msg: SlackMessage) -> None:
    assert 0 < len(msg.text) <= 4000
    assert 0 < len(msg.blocks) <= 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = Block.parse_all(msg.blocks)
    assert None not in parsed
    for block, original in zip(parsed, msg.blocks, strict=True):
        assert block.to_dict() == original


def section_text(msg: SlackMessage) -> str:
    return msg.blocks[0]["text"]["text"]


def buttons(msg: SlackMessage) -> list[dict]:
    return [e for b in msg.blocks if b["type"] == "actions" for e in b["elements"]]


# Thread replies


def test_approved_reply():
    assert approved_reply("U0BOB") == "✅ <@U0BOB> approved"
    assert approved_reply("U0BOB", "lgtm") == "✅ <@U0BOB> approved: lgtm"
    assert approved_reply(None, "  ", username="bob") == "✅ bob approved"


def test_rejected_reply():
    assert rejected_reply("U0CAROL", "needs more load testing") == (
        "❌ <@U0CAROL> rejected: needs more load testing"
    )
    assert rejected_reply("U0CAROL") == "❌ <@U0CAROL> rejected"


def test_bypassed_reply():
    assert bypassed_reply("U0DAVE", "hotfix for outage") == (
        "⚠️ <@U0DAVE> approved their own release as an org admin (bypass);"
        " it counts as one approval: hotfix for outage"
    )


def test_vote_changed_reply():
    assert vote_changed_reply("U0CAROL", Vote.APPROVED) == (
        "✅ <@U0CAROL> changed their vote to approve"
    )
    assert vote_changed_reply("U0CAROL", Vote.REJECTED, "found a bug") == (
        "❌ <@U0CAROL> changed their vote to reject: found a bug"
    )


def test_replies_escape_and_cut_what_people_typed():
    reply = rejected_reply("U0CAROL", "<!channel> look & see\nsecond line")
    assert reply == "❌ <@U0CAROL> rejected: &lt;!channel&gt; look &amp; see\nsecond line"
    assert approved_reply(None, username="<!here>") == "✅ &lt;!here&gt; approved"
    long = bypassed_reply("U0DAVE", "&" * 10_000)
    assert len(long) <= 4000
    assert long.endswith("…")
    assert "&amp;&amp;" in long
    assert not long.removesuffix("…").endswith(("&", "&a", "&am", "&amp"))


def test_replies_survive_emoji_and_right_to_left_text():
    comment = "👍🏽 " * 3000 + "\u202e"
    reply = approved_reply("U0BOB", comment)
    assert len(reply) <= 4000
    assert "\u202e" not in reply
    rtl = rejected_reply("U0BOB", "צריך עוד בדיקות")
    assert rtl == "❌ <@U0BOB> rejected: צריך עוד בדיקות"


def test_approved_summary_names_approvers_and_the_author():
    state = ApprovalState(
        2,
        2,
        (
            approve("forest-bob", "bob"),
            Decision("forest-x", "xavier", Vote.REJECTED, T0),
            approve("forest-carol", "carol"),
        ),
    )
    assert approved_summary(view(state)) == (
        "✅ Approved by <@U0BOB> and <@U0CAROL>. <@U0ALICE>, your release is on its way."
    )


def test_approved_summary_falls_back_to_forest_usernames():
    state = ApprovalState(1, 1, (approve("forest-bob", "bob"),))
    assert approved_summary(view(state, slack_users={})) == (
        "✅ Approved by bob. alice, your release is on its way."
    )
    assert approved_summary(view(state, author=None)) == (
        "✅ Approved by <@U0BOB>. The release is on its way."
    )


def test_approved_summary_with_many_approvers():
    state = ApprovalState(15, 15, tuple(approve(f"forest-{i}", f"user{i}") for i in range(15)))
    summary = approved_summary(view(state))
    assert summary.startswith("✅ Approved by user0, user1, ")
    assert "user9 and 5 others." in summary
    assert "user10" not in summary


def test_join_names():
    assert join_names([]) == ""
    assert join_names(["a"]) == "a"
    assert join_names(["a", "b"]) == "a and b"
    assert join_names(["a", "b", "c"]) == "a, b and c"
    assert join_names(["a", "b", "c"], limit=1) == "a and 2 others"


def test_rejected_notice_tells_the_author():
    carol = Decision("forest-carol", "carol", Vote.REJECTED, T0, "needs more load testing")
    state = ApprovalState(2, 1, (approve("forest-bob", "bob"), carol))
    assert rejected_notice(view(state), carol) == (
        "❌ <@U0CAROL> rejected: needs more load testing\n"
        "<@U0ALICE>, your release to production still needs 1 more approval."
    )
    silent = Decision("forest-carol", "carol", Vote.REJECTED, T0)
    assert rejected_notice(view(state, author=None, slack_users={}), silent) == "❌ carol rejected"


def test_rejected_notice_fits_slack_and_still_tells_the_author():
    long = Decision("forest-carol", "carol", Vote.REJECTED, T0, "x" * 5000)
    state = ApprovalState(2, 0, (long,))
    text = rejected_notice(view(state), long)
    assert len(text) <= 4000
    assert text.endswith("<@U0ALICE>, your release to production still needs 2 more approvals.")


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome.SUCCEEDED, "🚀 Deployed to production"),
        (Outcome.FAILED, f"💥 Deploy to production failed · <{FORAGE}|View in forage>"),
        (Outcome.CANCELLED, f"⏹ Cancelled · <{FORAGE}|View in forage>"),
        (Outcome.TIMED_OUT, f"⌛ Timed out · <{FORAGE}|View in forage>"),
    ],
)
def test_outcome_reply(outcome, expected):
    assert outcome_reply(outcome, "production", web_url=FORAGE) == expected


def test_outcome_reply_with_its_time():
    assert outcome_reply(Outcome.SUCCEEDED, "production", at=T0) == (
        f"🚀 Deployed to production · <!date^{STAMP}^{{date_short_pretty}} at {{time}}|"
        "2026-11-26 10:15 UTC>"
    )


def test_outcome_reply_escapes_the_environment():
    assert outcome_reply(Outcome.SUCCEEDED, "<!channel>") == "🚀 Deployed to &lt;!channel&gt;"


def test_reminder_reply():
    state = ApprovalState(2, 1, (approve("forest-bob", "bob"),))
    reply = reminder_reply(view(state), T0 + timedelta(hours=2, minutes=15))
    assert reply == (
        "⏰ Still needs 1 more approval (1 of 2). Waiting since "
        f"<!date^{STAMP}^{{date_short_pretty}} at {{time}}|2026-11-26 10:15 UTC> (2 h 15 min)."
    )
    assert reminder_reply(view(None), T0 + timedelta(days=3)).startswith(
        "⏰ Still needs 2 more approvals (0 of 2)."
    )
    assert reminder_reply(view(None), T0 + timedelta(days=3)).endswith("(3 days).")


# Private answers


def test_not_linked_offers_the_link_button():
    msg = not_linked("approve:0f8e3b9e.cHJvZHVjdGlvbg")
    assert_valid(msg)
    assert section_text(msg).startswith("You're not linked to forest yet.")
    assert msg.text.startswith("You're not linked to forest yet.")
    (button,) = buttons(msg)
    assert button["text"]["text"] == "Link your forest account"
    assert button["action_id"] == "link_start"
    assert button["value"] == "approve:0f8e3b9e.cHJvZHVjdGlvbg"


def test_not_linked_refuses_a_value_slack_would_refuse():
    assert_valid(not_linked("v" * 2000))
    with pytest.raises(ValueError):
        not_linked("v" * 2001)


def test_vote_failed_says_nothing_was_recorded_and_offers_a_retry():
    msg = vote_failed("approval_approve", "token-1")
    assert_valid(msg)
    assert section_text(msg) == "Forest didn't answer, so your vote was *NOT* recorded."
    (button,) = buttons(msg)
    assert button["text"]["text"] == "Try again"
    assert button["action_id"] == "approval_approve"
    assert button["value"] == "token-1"
    assert "style" not in button


def test_vote_failed_with_the_time():
    msg = vote_failed("approval_reject", "token-1", now=T0)
    assert_valid(msg)
    assert msg.blocks[-1] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"Tried <!date^{STAMP}^{{date_short_pretty}} at {{time}}|"
                "2026-11-26 10:15 UTC>",
            }
        ],
    }


def test_vote_failed_checks_its_button():
    with pytest.raises(ValueError):
        vote_failed("", "v")
    with pytest.raises(ValueError):
        vote_failed("a" * 256, "v")
    with pytest.raises(ValueError):
        vote_failed("retry", "v" * 2001)


def test_notice_is_literal_and_bounded():
    msg = notice("Only <!channel> & friends")
    assert_valid(msg)
    assert section_text(msg) == "Only &lt;!channel&gt; &amp; friends"
    assert msg.text == "Only &lt;!channel&gt; &amp; friends"
    long = notice("<" * 10_000)
    assert_valid(long)
    assert section_text(long).endswith("…")
    assert len(section_text(long)) <= 3000
