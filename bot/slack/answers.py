"""Private answers to one person: ephemeral messages, response URLs, modals, the Home tab and
reactions.

An answer that cannot be delivered is logged, never raised: the person's action already happened
(or was refused) and the failure to say so must not undo anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from blocks.elements import SlackMessage
from bot.slack.web import SlackError, SlackWeb

log = logging.getLogger(__name__)

Result = TypeVar("Result")


class Answers:
    def __init__(self, web: SlackWeb) -> None:
        self._web = web

    async def ephemeral(
        self, channel: str, user: str, message: SlackMessage, thread_ts: str | None = None
    ) -> None:
        await _logged(
            self._web.post_ephemeral(
                channel, user, message.text, message.blocks, thread_ts=thread_ts
            )
        )

    async def respond(
        self, response_url: str, message: SlackMessage, *, replace: bool = False
    ) -> None:
        """Answer through a response URL (commands, button clicks): only the person sees it.

        ``replace``: the answer takes the place of the private message that was clicked, so a
        spent prompt does not stay clickable."""
        payload = {"response_type": "ephemeral", "replace_original": replace, **message.as_kwargs()}
        await _logged(self._web.respond(response_url, payload))

    async def withdraw(self, response_url: str) -> None:
        """Remove the private message that was clicked: its button has done its work."""
        await _logged(self._web.respond(response_url, {"delete_original": True}))

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        return await _logged(self._web.open_view(trigger_id, view))

    async def update_modal(self, view_id: str, view: dict[str, Any]) -> None:
        await _logged(self._web.update_view(view_id, view))

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await _logged(self._web.publish_home(user, view))

    async def react(self, channel: str, ts: str, name: str) -> None:
        await _logged(self._web.react(channel, ts, name))

    async def direct_message(self, user: str, message: SlackMessage) -> bool:
        """A message in the bot's direct conversation with ``user``; whether it was posted."""
        channel = await _logged(self._web.open_dm(user))
        if channel is None:
            return False
        posted = await _logged(self._web.post_message(channel, message.text, message.blocks))
        return posted is not None


async def _logged(call: Awaitable[Result]) -> Result | None:
    try:
        return await call
    except SlackError as error:
        log.warning("%s failed: %s", error.method, error.code)
        return None
