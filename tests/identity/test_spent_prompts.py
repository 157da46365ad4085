"""Private prompts that have done their work do not stay clickable: the "Link your forest
account" prompt turns into the device-login code and then into the result, and "Finish your
approval" goes once it is used (Slack's replace_original and delete_original, through the
response URL of the click)."""

from tests_support import wait_until

from blocks.linking import RESUME_ACTION_ID
from blocks.replies import LINK_ACTION_ID
from bot.local.local_stack import CHANNEL, LocalStack
from bot.local.slack_signing import form_payload


def private_to(stack: LocalStack, username: str) -> list:
    return stack.slack.ephemerals(CHANNEL, stack.person(username).slack_user_id)


def buttons_of(ephemeral) -> list[str]:
    return [
        element.get("action_id")
        for block in ephemeral.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ] + [
        block["accessory"].get("action_id")
        for block in ephemeral.blocks or []
        if block.get("accessory", {}).get("type") == "button"
    ]


async def click_private(stack: LocalStack, username: str, ts: str, action_id: str) -> None:
    user = stack.person(username).slack_user_id
    payload = stack.slack.ephemeral_click_payload(ts, user, action_id)
    delivery = await stack.post(form_payload(payload))
    assert delivery.status == 200


async def test_the_link_prompt_becomes_the_code_then_the_result_and_finish_goes_once_used(
    stack: LocalStack,
):
    await stack.start_bot()
    _intent, ts = await stack.open_approval()
    await stack.click("carol", ts, "approval_approve")
    await wait_until(lambda: private_to(stack, "carol"))
    [prompt] = private_to(stack, "carol")
    assert "not linked" in prompt.text
    assert buttons_of(prompt) == [LINK_ACTION_ID]

    await click_private(stack, "carol", prompt.message_ts, LINK_ACTION_ID)
    # The same private message now shows forage's code instead of the spent prompt.
    await wait_until(lambda: prompt.edits == 1)
    assert [e.message_ts for e in private_to(stack, "carol")] == [prompt.message_ts]
    grant = await stack.pending_login("carol")
    assert grant.user_code in str(prompt.blocks)
    assert LINK_ACTION_ID not in buttons_of(prompt)

    stack.forest.approve_device_code(grant.user_code, "carol")
    await wait_until(lambda: prompt.edits == 2, timeout=10.0)
    assert "linked to forest as" in prompt.text
    assert buttons_of(prompt) == [RESUME_ACTION_ID]
    assert [e.message_ts for e in private_to(stack, "carol")] == [prompt.message_ts]

    await click_private(stack, "carol", prompt.message_ts, RESUME_ACTION_ID)
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))
    await wait_until(lambda: prompt.deleted)
    assert prompt.message_ts not in [e.message_ts for e in private_to(stack, "carol")]
