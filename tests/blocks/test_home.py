import warnings
from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from blocks.approval_message import approval_message
from blocks.elements import SlackMessage
from blocks.home import LISTED_AT_HOME, home_not_linked, home_unavailable, home_view
from blocks.pending import (
    LISTED_IN_MESSAGE,
    pending_entry,
    pending_list,
    pending_not_linked,
    reminder_dm,
)
from bot.approval import (
    ApprovalRequest,
    ApprovalState,
    ApprovalView,
    Author,
    PendingApproval,
    Release,
)

NOW = datetime(2026, 11, 26, 12, 15, tzinfo=UTC)
BLOCKED = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
PERMALINK = "https://acme.slack.com/archives/C0APPROVALS/p1764152100000100"


def item(
    title: str = "fix: retry card captures (#812)",
    state: ApprovalState | None = None,
    **request: object,
) -> PendingApproval:
    fields: dict = {
        "event_id": "e1",
        "organisation": "acme",
        "project": "payments-api",
        "release_intent_id": "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10",
        "target_environment": "production",
        "required_approvals": 2,
        "blocked_at": BLOCKED.isoformat(),
        "release": Release(title=title, author=Author("forest-alice", "alice")),
    }
    fields.update(request)
    view = ApprovalView(ApprovalRequest(**fields), state)
    return PendingApproval(view, PERMALINK, BLOCKED)


def assert_valid_home(view: dict) -> None:
    assert view["type"] == "home"
    assert 0 < len(view["blocks"]) <= 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = Block.parse_all(view["blocks"])
        View(**view).to_dict()
    assert None not in parsed
    for block, original in zip(parsed, view["blocks"], strict=True):
        assert block.to_dict() == original


def assert_valid_message(message: SlackMessage) -> None:
    assert 0 < len(message.text) <= 4000
    assert 0 < len(message.blocks) <= 50
    parsed = Block.parse_all(message.blocks)
    assert None not in parsed
    for block, original in zip(parsed, message.blocks, strict=True):
        assert block.to_dict() == original


def texts(blocks: list[dict]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []) if e["type"] == "mrkdwn")
    return "\n".join(parts)


def test_an_entry_links_the_title_to_the_message_and_says_where_and_how_far():
    entry = pending_entry(item(state=ApprovalState(2, 1)))
    assert entry.startswith(f"*<{PERMALINK}|fix: retry card captures (#812)>*\n")
    assert "payments-api → production in acme" in entry
    assert "1 of 2 approvals" in entry
    assert "by alice" in entry
    assert f"waiting since <!date^{int(BLOCKED.timestamp())}^" in entry


def test_an_entry_without_known_votes_says_what_the_policy_needs():
    assert "needs 2 approvals" in pending_entry(item())


def test_titles_are_text_not_markup():
    entry = pending_entry(item(title="<!channel> & <https://evil|click>"))
    assert "<!channel>" not in entry
    assert entry.startswith(f"*<{PERMALINK}|&lt;!channel&gt; &amp; &lt;https://evil|click&gt;>*")


def test_an_untitled_release_is_named_after_its_intent():
    assert f"<{PERMALINK}|Release 0f8e3b9e>" in pending_entry(item(title=""))


def test_a_blank_title_gives_way_to_the_slug_as_in_the_approval_message():
    named = item(release=Release(title=" \n ", slug="evidently-assisting-ladybeetle"))
    assert f"<{PERMALINK}|evidently-assisting-ladybeetle>" in pending_entry(named)
    assert "evidently-assisting-ladybeetle" in approval_message(named.view).text


def test_the_home_tab_lists_every_waiting_approval():
    view = home_view([item("first"), item("second")], NOW)
    assert_valid_home(view)
    shown = texts(view["blocks"])
    assert view["blocks"][0]["text"]["text"] == "Waiting for your vote"
    assert "2 approvals wait for your vote." in shown
    assert f"<{PERMALINK}|first>" in shown and f"<{PERMALINK}|second>" in shown
    assert "/forest pending" in shown


def test_an_empty_home_tab_says_nothing_waits():
    view = home_view([], NOW)
    assert_valid_home(view)
    assert "Nothing is waiting for your vote" in texts(view["blocks"])


def test_a_long_list_stays_within_the_home_tab_limit():
    items = [item(f"release {n}") for n in range(LISTED_AT_HOME + 30)]
    view = home_view(items, NOW)
    assert_valid_home(view)
    assert "…and 30 more" in texts(view["blocks"])


def test_the_home_tab_asks_an_unlinked_person_to_link():
    view = home_not_linked()
    assert_valid_home(view)
    assert "/forest login" in texts(view["blocks"])


def test_the_home_tab_says_why_it_cannot_show_the_list():
    view = home_unavailable("Forest didn't answer <in time>.")
    assert_valid_home(view)
    assert "Forest didn't answer &lt;in time&gt;." in texts(view["blocks"])


def test_the_pending_answer_fits_in_one_message():
    message = pending_list([item(f"release {n}") for n in range(LISTED_IN_MESSAGE + 5)])
    assert_valid_message(message)
    assert message.text == f"{LISTED_IN_MESSAGE + 5} approvals wait for your vote."
    assert "…and 5 more" in texts(message.blocks)


def test_the_pending_answer_for_one_and_for_none():
    assert pending_list([item()]).text == "1 approval waits for your vote."
    assert pending_list([]).text == "Nothing is waiting for your vote."
    assert_valid_message(pending_list([]))


def test_an_unlinked_person_gets_the_link_button():
    message = pending_not_linked()
    assert_valid_message(message)
    [button] = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == "link_start"
    assert "not linked" in message.text


def test_the_reminder_to_the_author_names_the_release_and_links_the_message():
    pending = item(state=ApprovalState(2, 1))
    message = reminder_dm(pending.view, BLOCKED + timedelta(hours=4), PERMALINK)
    assert_valid_message(message)
    assert message.text.startswith("⏰ Still needs 1 more approval (1 of 2).")
    assert "(4 h)" in message.text
    assert f"Your release <{PERMALINK}|fix: retry card captures (#812)> to production" in (
        message.text
    )
