"""The plan message: what is planned, the plan within Slack's limits, and what to click."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from blocks.elements import SlackMessage
from blocks.plan_message import (
    APPROVE_PLAN_ACTION_ID,
    MESSAGE_TEXT_BUDGET,
    REJECT_PLAN_ACTION_ID,
    VIEW_PLAN_ACTION_ID,
    plan_loading_modal,
    plan_message,
    plan_modal,
    text_size,
)
from bot.approval import Author, Release
from bot.plans.plan import (
    Decided,
    DestinationPlan,
    PlanDecision,
    PlanOutput,
    PlanStage,
    PlanView,
    StageEnd,
)

INTENT = "0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10"
FORAGE = "https://forage.example.com/orgs/acme/projects/infra/releases/brave-otter"
T0 = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)
PLAN = """\
  # aws_instance.web will be destroyed
  - resource "aws_instance" "web" {}

  # aws_s3_bucket.logs will be created
  + resource "aws_s3_bucket" "logs" {}

Plan: 1 to add, 0 to change, 1 to destroy.
"""


def stage(**overrides) -> PlanStage:
    values = {
        "organisation": "acme",
        "project": "infra",
        "release_intent_id": INTENT,
        "stage_id": "plan-production",
        "environment": "production",
        "release": Release(
            slug="brave-otter",
            title="feat: logs bucket (#91)",
            description="Adds a bucket for access logs.",
            web_url=FORAGE,
            commit_sha="9f2c1e7aa",
            commit_branch="main",
            author=Author("forest-alice", "alice", "alice@acme.io"),
            annotated_by="ci-bot (github-actions)",
            pr_url="https://github.com/acme/infra/pull/91",
        ),
    }
    values.update(overrides)
    return PlanStage(**values)


def view(*outputs: str, names: tuple[str, ...] = (), **overrides) -> PlanView:
    names = names or tuple(f"prod-{i}" for i in range(len(outputs)))
    values = {
        "stage": stage(),
        "output": PlanOutput(
            "SUCCEEDED",
            tuple(DestinationPlan(n, o, "SUCCEEDED") for n, o in zip(names, outputs, strict=True)),
        ),
        "web_url": FORAGE,
    }
    values.update(overrides)
    return PlanView(**values)


def assert_valid(message: SlackMessage) -> None:
    """Slack's own models accept every block, and the message keeps to Slack's totals."""
    assert 0 < len(message.blocks) <= 50
    assert 0 < len(message.text) <= 4000
    assert text_size(message.blocks) <= MESSAGE_TEXT_BUDGET + 500
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for parsed, raw in zip(Block.parse_all(message.blocks), message.blocks, strict=True):
            assert parsed is not None, raw
            parsed.validate_json()
            assert parsed.to_dict() == raw


def assert_valid_modal(modal: dict) -> None:
    assert len(modal["blocks"]) <= 100
    View(**modal).validate_json()


def every_text(message: SlackMessage) -> str:
    parts = [message.text]
    for block in message.blocks:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts.extend(field["text"] for field in block.get("fields", ()))
        for element in block.get("elements", ()):
            text = element.get("text")
            parts.append(text["text"] if isinstance(text, dict) else str(text or ""))
    return "\n".join(parts)


def buttons(message: SlackMessage) -> dict[str, dict]:
    return {
        element["action_id"]: element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def test_a_waiting_plan_says_what_where_and_for_which_release():
    message = plan_message(view(PLAN))
    assert_valid(message)
    text = every_text(message)
    assert message.blocks[0]["text"]["text"] == "📋 Plan for infra → production needs approval"
    assert f"<{FORAGE}|feat: logs bucket (#91)>" in text
    assert "9f2c1e7 on main" in text
    assert "brave-otter" in text
    assert "*Annotated by*\nci-bot (github-actions)" in text
    assert "<https://github.com/acme/infra/pull/91|Pull request>" in text
    assert "`Plan: 1 to add, 0 to change, 1 to destroy.`" in text
    assert "*Destroys* `aws_instance.web`" in text
    assert "```" in text and 'resource "aws_s3_bucket" "logs"' in text
    found = buttons(message)
    assert list(found) == [APPROVE_PLAN_ACTION_ID, REJECT_PLAN_ACTION_ID, VIEW_PLAN_ACTION_ID]
    assert found[APPROVE_PLAN_ACTION_ID]["style"] == "primary"
    assert found[APPROVE_PLAN_ACTION_ID]["text"]["text"] == "Approve plan"
    assert "style" not in found[REJECT_PLAN_ACTION_ID]
    assert not any("bypass" in action_id for action_id in found)
    assert "Plan: 1 to add" in message.text


def test_each_destination_has_its_summary_and_its_plan():
    message = plan_message(
        view(PLAN, "No changes. Your infrastructure matches the configuration.", names=("eu", "us"))
    )
    assert_valid(message)
    text = every_text(message)
    assert "• *eu*: :warning: `Plan: 1 to add, 0 to change, 1 to destroy.`" in text
    assert "• *us*: `No changes.`" in text
    assert "*eu*\n```" in text and "*us*\n```" in text


def test_mrkdwn_and_mentions_in_the_plan_stay_literal():
    hostile = "<!channel> *bold* <https://evil.example|click> & ```break out``` `x`\n"
    message = plan_message(view(hostile))
    assert_valid(message)
    text = every_text(message)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    assert "<https://evil.example" not in text
    # The code block is never closed early by backticks in the plan.
    code = next(
        b["text"]["text"] for b in message.blocks if "```" in b.get("text", {}).get("text", "")
    )
    assert code.startswith("```") and code.endswith("```") and code.count("```") == 2


def test_a_huge_plan_is_cut_with_a_note_and_a_link_to_forage():
    huge = "".join(
        f'  + resource "aws_instance" "n{i}" {{ ami = "ami-{i}" }}\n' for i in range(200_000)
    )
    huge += "Plan: 200000 to add, 0 to change, 0 to destroy.\n"
    assert len(huge) > 8_000_000
    message = plan_message(view(huge, huge, huge))
    assert_valid(message)
    text = every_text(message)
    assert "`Plan: 200000 to add, 0 to change, 0 to destroy.`" in text
    assert "more lines not shown here" in text
    assert f"<{FORAGE}|forage>" in text
    assert "*View plan* shows more" in text
    assert len(text) < 12_000


def test_many_destinations_keep_to_fifty_blocks():
    outputs = tuple(PLAN for _ in range(40))
    message = plan_message(view(*outputs))
    assert_valid(message)
    assert "…and 32 more destinations in forage" in every_text(message)


def test_empty_or_unreadable_output_still_renders():
    for output in (
        PlanOutput("SUCCEEDED", ()),
        PlanOutput("SUCCEEDED", (DestinationPlan("", "", ""),)),
        PlanOutput("", (DestinationPlan("\u202e\x00", "\x00\x01\x02\ud800", "??"),)),
    ):
        message = plan_message(view(output=output))
        assert_valid(message)
        assert buttons(message)
    message = plan_message(view(output=None))
    assert_valid(message)
    assert "Forest did not give the plan output" in every_text(message)


def test_approved_from_slack_shows_who_and_when_and_has_no_buttons():
    decided = PlanDecision(Decided.APPROVED, "U0BOB", "bob", T0)
    message = plan_message(view(PLAN, decision=decided, end=StageEnd.DEPLOYING))
    assert_valid(message)
    text = every_text(message)
    assert message.blocks[0]["text"]["text"] == "✅ Plan for infra → production approved"
    assert "*Approved* by <@U0BOB> · <!date^" in text
    assert "Deploying to production…" in text
    assert buttons(message) == {}


def test_rejected_shows_the_reason_and_that_the_release_stops():
    decided = PlanDecision(Decided.REJECTED, "U0CAROL", "carol", T0, "destroys <!here> the web")
    message = plan_message(view(PLAN, decision=decided, end=StageEnd.REJECTED))
    assert_valid(message)
    text = every_text(message)
    assert message.blocks[0]["text"]["text"] == "❌ Plan for infra → production rejected"
    assert "*Rejected* by <@U0CAROL>" in text
    assert "> destroys &lt;!here&gt; the web" in text
    assert "Plan rejected: the release stops here." in text
    assert buttons(message) == {}


def test_decided_in_forage_names_nobody_and_the_deploy_ends_it():
    decided = PlanDecision(Decided.APPROVED, decided_at=T0)
    message = plan_message(view(PLAN, decision=decided, end=StageEnd.DEPLOYED, end_at=T0))
    assert_valid(message)
    text = every_text(message)
    assert message.blocks[0]["text"]["text"] == "🚀 Deployed to production"
    assert "*Approved* in forage" in text
    assert "Deployed <!date^" in text
    assert buttons(message) == {}


def test_cancelled_while_waiting_has_no_buttons():
    message = plan_message(view(PLAN, end=StageEnd.CANCELLED))
    assert_valid(message)
    assert buttons(message) == {}
    assert "cancelled" in message.blocks[0]["text"]["text"]


def test_the_view_plan_modal_holds_more_and_says_where_the_rest_is():
    huge = "".join(f"line {i} <b> & `x`\n" for i in range(100_000))
    modal = plan_modal(view(huge, PLAN))
    assert_valid_modal(modal)
    shown = "\n".join(b["text"]["text"] for b in modal["blocks"] if "text" in b)
    assert len(shown) > 20_000
    assert "&lt;b&gt;" in shown and "<b>" not in shown
    assert "read all of it in" in every_text(SlackMessage("x", modal["blocks"]))
    small = plan_modal(view(PLAN))
    assert_valid_modal(small)
    assert "read all of it" not in every_text(SlackMessage("x", small["blocks"]))
    assert_valid_modal(plan_loading_modal())
    assert_valid_modal(plan_modal(view(output=None)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outputs=st.lists(st.text(max_size=4000), min_size=0, max_size=12),
    title=st.text(max_size=400),
    environment=st.text(max_size=100),
    reason=st.none() | st.text(max_size=3000),
)
def test_any_plan_output_renders_within_limits(outputs, title, environment, reason):
    release = Release(title=title, web_url=FORAGE)
    decision = PlanDecision(Decided.REJECTED, "", "x", T0, reason) if reason is not None else None
    message = plan_message(
        view(*outputs, stage=stage(environment=environment, release=release), decision=decision)
    )
    assert_valid(message)
    assert_valid_modal(plan_modal(view(*outputs)))
