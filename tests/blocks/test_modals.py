import json
import warnings

import pytest
from slack_sdk.models.views import View

from blocks.modals import (
    bypass_modal,
    key_token_of,
    plan_reject_modal,
    reason_of,
    reject_modal,
)
from bot.approval import ApprovalKey

TOKEN = ApprovalKey("0f8e3b9e-2c47-4c55-8d7e-7a3f4b6d2e10", "production").token
TITLE = "fix: retry card captures on timeout (#812)"
META = '{"channel": "C0APPROVALS", "ts": "1764152100.000100"}'


def assert_valid(modal: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = View(**modal)
    assert parsed.to_dict() == modal
    assert None not in parsed.blocks
    assert 1 <= len(modal["title"]["text"]) <= 24
    assert len(modal.get("private_metadata", "")) <= 3000
    assert len(modal["blocks"]) <= 100


def texts(modal: dict) -> str:
    return "\n".join(b["text"]["text"] for b in modal["blocks"] if b["type"] == "section")


def reason_input(modal: dict) -> dict:
    (block,) = [b for b in modal["blocks"] if b["type"] == "input"]
    return block


def submitted(modal: dict, reason: str | None) -> dict:
    """The modal as Slack sends it back in a view_submission."""
    return {
        **modal,
        "id": "V0MODAL",
        "state": {
            "values": {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
        },
    }


def test_reject_modal():
    modal = reject_modal(TOKEN, TITLE, META)
    assert_valid(modal)
    assert modal["type"] == "modal"
    assert modal["callback_id"] == "reject_modal"
    assert modal["title"]["text"] == "Reject release"
    assert modal["submit"]["text"] == "Reject"
    assert modal["close"]["text"] == "Cancel"
    assert modal["private_metadata"] == META
    assert f"*{TITLE}*" in texts(modal)

    block = reason_input(modal)
    assert block["block_id"] == "reason"
    assert block["label"]["text"] == "Why?"
    assert block["optional"] is False
    element = block["element"]
    assert element["type"] == "plain_text_input"
    assert element["action_id"] == "reason_input"
    assert element["multiline"] is True
    assert element["max_length"] == 2000


def test_bypass_modal():
    modal = bypass_modal(TOKEN, TITLE, META)
    assert_valid(modal)
    assert modal["callback_id"] == "bypass_modal"
    assert modal["title"]["text"] == "Bypass approval"
    assert modal["submit"]["text"] == "Bypass"
    assert modal["private_metadata"] == META
    shown = texts(modal)
    assert f"*{TITLE}*" in shown
    assert "your own approval" in shown
    assert "admin override" in shown
    assert "counts as one approval" in shown

    block = reason_input(modal)
    assert block["block_id"] == "reason"
    assert block["label"]["text"] == "Reason"
    assert block["optional"] is False
    assert block["element"]["action_id"] == "reason_input"
    assert block["element"]["max_length"] == 2000


@pytest.mark.parametrize("build", [reject_modal, bypass_modal])
def test_submission_gives_back_the_gate_and_the_reason(build):
    modal = build(TOKEN, TITLE, META)
    sent_back = submitted(modal, "  needs more load testing \n")
    assert key_token_of(sent_back) == TOKEN
    assert ApprovalKey.from_token(key_token_of(sent_back)).target_environment == "production"
    assert reason_of(sent_back) == "needs more load testing"
    assert reason_of(submitted(modal, None)) == ""
    assert reason_of({}) == ""


def test_key_token_of_another_view():
    with pytest.raises(ValueError):
        key_token_of({"blocks": [{"type": "section", "block_id": "x"}]})


@pytest.mark.parametrize("build", [reject_modal, bypass_modal])
def test_private_metadata_limit(build):
    assert_valid(build(TOKEN, TITLE, "m" * 3000))
    with pytest.raises(ValueError):
        build(TOKEN, TITLE, "m" * 3001)


@pytest.mark.parametrize("build", [reject_modal, bypass_modal])
def test_a_token_that_does_not_fit_a_block_id_is_left_to_the_metadata(build):
    # A long environment name makes a long token: the caller carries it in private_metadata.
    modal = build("x" * 300, TITLE, META)
    assert_valid(modal)
    assert all(len(b.get("block_id", "")) <= 255 for b in modal["blocks"])
    assert "x" * 300 not in json.dumps(modal["blocks"])
    with pytest.raises(ValueError):
        key_token_of(modal)
    with pytest.raises(ValueError):
        build("", TITLE, META)


def test_a_plan_modal_still_refuses_a_token_too_long_for_its_block_id():
    with pytest.raises(ValueError):
        plan_reject_modal("x" * 300, TITLE, META)


@pytest.mark.parametrize("build", [reject_modal, bypass_modal])
def test_release_title_is_escaped_and_cut(build):
    modal = build(TOKEN, "<!channel> & " + "x" * 10_000, META)
    assert_valid(modal)
    shown = texts(modal)
    assert "*&lt;!channel&gt; &amp; x" in shown
    assert "<!channel>" not in shown
    assert "x…*" in shown
    assert len(shown) < 3000


@pytest.mark.parametrize("build", [reject_modal, bypass_modal])
def test_an_empty_title_still_makes_a_modal(build):
    modal = build(TOKEN, "", "")
    assert_valid(modal)
    assert "private_metadata" not in modal
    assert "Untitled release" in texts(modal)
