"""Private answers to one person: ephemeral messages, response URLs, modals, the Home tab and
reactions.

An answer that cannot be delivered is logged, never raised: the person's action already happened
(or was refused) and the failure to say so must not undo anything else.

What a person is told about what they just did (their vote recorded, or NOT recorded with Try
again) is often the only place they learn it: when Slack did not answer in time or was still
rate-limiting after the pacer's tries, it is sent again a few times, a little later each time.
Should Slack have shown the first one after all, the person reads it twice, which is better
than never.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from blocks.elements import SlackMessage
from bot.slack.web import STOPPING, SlackError, SlackRefused, SlackUnreachable, SlackWeb

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Pauses before each new try of an answer Slack did not take (about half a minute in all, plus
# the calls' own deadlines).
RETRY_PAUSES_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)


class Answers:
    def __init__(self, web: SlackWeb, retry_pauses: Sequence[float] = RETRY_PAUSES_SECONDS) -> None:
        self._web = web
        self._retry_pauses = tuple(retry_pauses)

    async def ephemeral(
        self, channel: str, user: str, message: SlackMessage, thread_ts: str | None = None
    ) -> None:
        await self._persistent(
            lambda: self._web.post_ephemeral(
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
        await self._persistent(lambda: self._web.respond(response_url, payload))

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

    async def _persistent(self, call: Callable[[], Awaitable[None]]) -> None:
        """Make ``call``, again after each pause while Slack did not take it for a reason that
        passes (no answer in time, still rate-limited); other refusals are final."""
        for pause in (*self._retry_pauses, None):
            try:
                await call()
                return
            except SlackError as error:
                passing = isinstance(error, SlackUnreachable) or (
                    isinstance(error, SlackRefused) and error.code == "ratelimited"
                )
                if not passing or pause is None or error.code == STOPPING:
                    log.warning("%s failed: %s", error.method, error.code)
                    return
                log.warning("%s failed: %s; trying again", error.method, error.code)
                await asyncio.sleep(pause)


async def _logged(call: Awaitable[Result]) -> Result | None:
    try:
        return await call
    except SlackError as error:
        log.warning("%s failed: %s", error.method, error.code)
        return None
