"""Slack's side of what a person does on the demo page.

Each click, modal submission, slash command and message becomes the request Slack itself would
send: built from the fake Slack's state (so only buttons really on a message can be clicked),
signed with the signing secret, and POSTed to the bot's /slack/events. What the bot answers in
the HTTP response is applied the way Slack applies it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.local.demo.screen import PageMemory
from bot.local.fake_slack import SlackView
from bot.local.local_stack import LocalStack, Person
from bot.local.slack_signing import (
    Delivery,
    event_callback_body,
    form_payload,
    slash_command_payload,
)

JsonDict = dict[str, Any]
COMMAND = "/forest"


class RefusedAction(Exception):
    """Something the person could not have done in Slack, said as a sentence for the page."""


@dataclass(frozen=True)
class ModalAnswer:
    """How Slack treats the modal after a submission: closed, or still open with errors."""

    closed: bool
    errors: dict[str, str]


class ActingAsSlack:
    def __init__(self, stack: LocalStack, channel: str, memory: PageMemory) -> None:
        self._stack = stack
        self._channel = channel
        self._memory = memory

    async def click_message_button(self, person: Person, ts: str, action_id: str) -> None:
        try:
            payload = self._stack.slack.click_payload(
                self._channel, ts, person.slack_user_id, action_id
            )
        except AssertionError:
            # The fake refuses clicks on buttons the message no longer shows (a stale page).
            raise RefusedAction("That button is no longer on the message.") from None
        await self._deliver(form_payload(payload))

    async def click_ephemeral_button(self, person: Person, ts: str, action_id: str) -> None:
        try:
            payload = self._stack.slack.ephemeral_click_payload(ts, person.slack_user_id, action_id)
        except AssertionError:
            raise RefusedAction("That message is not yours to click.") from None
        await self._deliver(form_payload(payload))

    async def submit_modal(
        self, person: Person, view_id: str, values: dict[str, dict[str, str]]
    ) -> ModalAnswer:
        view = self._own_view(person, view_id)
        try:
            payload = self._stack.slack.submission_payload(view_id, person.slack_user_id, values)
        except AssertionError:
            raise RefusedAction("The modal has no such input.") from None
        delivery = await self._deliver(form_payload(payload))
        ack = _json_object(delivery.body)
        action = ack.get("response_action")
        if action == "errors":
            return ModalAnswer(closed=False, errors=dict(ack.get("errors") or {}))
        if action == "update" and isinstance(ack.get("view"), dict):
            view.view = ack["view"]
            return ModalAnswer(closed=False, errors={})
        # An empty acknowledgement (or "clear") closes the modal, as in Slack.
        self._memory.closed_views.add(view_id)
        return ModalAnswer(closed=True, errors={})

    def close_modal(self, person: Person, view_id: str) -> None:
        self._own_view(person, view_id)
        self._memory.closed_views.add(view_id)

    def dismiss_ephemeral(self, person: Person, ts: str) -> None:
        shown = self._stack.slack.ephemerals(user=person.slack_user_id)
        if not any(e.message_ts == ts for e in shown):
            raise RefusedAction("That message is not yours to dismiss.")
        self._memory.dismissed.add(ts)

    async def slash_command(self, person: Person, command: str, text: str) -> None:
        if command != COMMAND:
            raise RefusedAction(f"{command} is not a command here; try {COMMAND} help.")
        slack = self._stack.slack
        user = person.slack_user_id
        payload = slash_command_payload(
            slack.identity.team_id,
            user,
            command,
            slack.command_text(text),  # encoded as Slack sends it
            slack.new_response_url(self._channel, user),
            slack.new_trigger_id(user),
            self._channel,
            user_name=person.username,
        )
        delivery = await self._deliver(urlencode(payload).encode())
        # Text in the acknowledgement is shown to the person alone, like a response_url answer.
        ack = _json_object(delivery.body)
        if ack.get("text") or ack.get("blocks"):
            slack.add_ephemeral(self._channel, user, str(ack.get("text") or ""), ack.get("blocks"))

    async def post_message(self, person: Person, text: str, thread_ts: str | None) -> None:
        """The person writes in the channel or in a thread; Slack tells the app with an event."""
        slack = self._stack.slack
        user = person.slack_user_id
        # Slack encodes what was typed (&amp;, <https://…>, <@U…>) before it tells the app.
        _message, event = slack.person_writes(self._channel, user, text, thread_ts)
        body = event_callback_body(
            slack.identity.team_id,
            event,
            f"Ev{uuid.uuid4().hex[:10].upper()}",
            bot_user_id=slack.identity.bot_user_id,
        )
        await self._deliver(body)

    async def open_home(self, person: Person) -> None:
        """The person opens the app's Home tab; Slack tells the app with app_home_opened."""
        slack = self._stack.slack
        event = {
            "type": "app_home_opened",
            "user": person.slack_user_id,
            "channel": slack.workspace.open_dm(person.slack_user_id),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        body = event_callback_body(
            slack.identity.team_id,
            event,
            f"Ev{uuid.uuid4().hex[:10].upper()}",
            bot_user_id=slack.identity.bot_user_id,
        )
        await self._deliver(body)

    def _own_view(self, person: Person, view_id: str) -> SlackView:
        view = next((v for v in self._stack.slack.views if v.id == view_id), None)
        if view is None or view.user != person.slack_user_id:
            raise RefusedAction("That modal is not open for you.")
        return view

    async def _deliver(self, body: bytes) -> Delivery:
        delivery = await self._stack.post(body)
        if delivery.status != 200:
            # Slack shows its own error when an app does not acknowledge in time or fails.
            raise RefusedAction(f"The app did not respond (HTTP {delivery.status}).")
        return delivery


def _json_object(body: str) -> JsonDict:
    try:
        parsed = json.loads(body) if body.strip() else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
