"""What a person does in the fake Slack: click a button that is really on a message, submit a
modal that is really open. Building payloads from the fake's own state makes a test fail when
the person could not have done what the test pretends.
"""

from __future__ import annotations

from typing import Any

from bot.local.fake_slack_model import (
    JsonDict,
    SlackEphemeral,
    SlackIdentity,
    SlackMessage,
    SlackView,
)
from bot.local.slack_signing import block_action_payload, view_submission_payload


def find_button(message: SlackMessage, action_id: str) -> tuple[str, JsonDict]:
    """The block_id and element of the button `action_id` on the message as shown now."""
    for index, block in enumerate(message.blocks or []):
        if block.get("type") == "actions":
            elements = block.get("elements", [])
        else:
            elements = [block.get("accessory")]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                if element.get("type") != "button":
                    raise AssertionError(f"{action_id!r} is a {element.get('type')}, not a button")
                # Slack invents a block_id when the app gave none.
                return block.get("block_id", f"block{index}"), element
    shown = [
        e.get("action_id")
        for b in message.blocks or []
        for e in (b.get("elements", []) if b.get("type") == "actions" else [b.get("accessory")])
        if isinstance(e, dict)
    ]
    raise AssertionError(
        f"no button {action_id!r} on message {message.ts} in {message.channel}; "
        f"the person sees these actions: {shown}"
    )


def click_payload(
    identity: SlackIdentity,
    message: SlackMessage,
    rendered: JsonDict,
    user_id: str,
    action_id: str,
    *,
    response_url: str,
    trigger_id: str,
) -> JsonDict:
    block_id, button = find_button(message, action_id)
    return block_action_payload(
        identity.team_id,
        user_id,
        message.channel,
        message.ts,
        action_id,
        button.get("value"),
        block_id=block_id,
        trigger_id=trigger_id,
        response_url=response_url,
        thread_ts=message.thread_ts if message.is_reply else None,
        message=rendered,
        button_text=button.get("text", {}).get("text", ""),
        api_app_id=identity.app_id,
        team_domain=identity.team_domain,
    )


def ephemeral_click_payload(
    identity: SlackIdentity,
    ephemeral: SlackEphemeral,
    user_id: str,
    action_id: str,
    *,
    response_url: str,
    trigger_id: str,
    user_name: str | None = None,
) -> JsonDict:
    """A click on a button of a message only `user_id` sees.

    Slack marks the container as ephemeral and sends no copy of the message: an ephemeral
    message cannot be fetched or updated later, so the app only gets the response_url.
    """
    if ephemeral.user != user_id:
        raise AssertionError(f"{user_id} cannot see the ephemeral message {ephemeral.message_ts}")
    shown = SlackMessage(
        channel=ephemeral.channel,
        ts=ephemeral.message_ts,
        text=ephemeral.text,
        user=identity.bot_user_id,
        blocks=ephemeral.blocks,
    )
    block_id, button = find_button(shown, action_id)
    payload = block_action_payload(
        identity.team_id,
        user_id,
        ephemeral.channel,
        ephemeral.message_ts,
        action_id,
        button.get("value"),
        block_id=block_id,
        trigger_id=trigger_id,
        response_url=response_url,
        thread_ts=ephemeral.thread_ts,
        button_text=button.get("text", {}).get("text", ""),
        user_name=user_name,
        api_app_id=identity.app_id,
        team_domain=identity.team_domain,
    )
    payload["container"]["is_ephemeral"] = True
    del payload["message"]
    return payload


def check_inputs(view: SlackView, values: dict[str, dict[str, Any]]) -> None:
    """Every value must go into an input the modal really has."""
    inputs = {
        (block.get("block_id"), block.get("element", {}).get("action_id"))
        for block in view.view.get("blocks", [])
        if block.get("type") == "input"
    }
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in inputs:
                raise AssertionError(
                    f"modal {view.id} has no input {block_id}/{action_id}; "
                    f"its inputs are {sorted(inputs, key=str)}"
                )


def submission_payload(
    identity: SlackIdentity,
    view: SlackView,
    user_id: str,
    values: dict[str, dict[str, Any]],
    *,
    trigger_id: str,
) -> JsonDict:
    check_inputs(view, values)
    return view_submission_payload(
        identity.team_id,
        user_id,
        view.to_api(identity),
        values,
        view_id=view.id,
        trigger_id=trigger_id,
        api_app_id=identity.app_id,
        bot_id=identity.bot_id,
        team_domain=identity.team_domain,
    )
