"""Private answers to one person: ephemeral messages, response URLs, modals, the Home tab and
reactions.

An answer that cannot be delivered is logged, never raised: the person's action already happened
(or was refused) and the failure to say so must not undo anything else.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.elements import SlackMessage

log = logging.getLogger(__name__)


class Answers:
    def __init__(self, web: AsyncWebClient, session: aiohttp.ClientSession) -> None:
        self._web = web
        self._session = session

    async def ephemeral(
        self, channel: str, user: str, message: SlackMessage, thread_ts: str | None = None
    ) -> None:
        await self._call(
            "chat.postEphemeral",
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            **message.as_kwargs(),
        )

    async def respond(self, response_url: str, message: SlackMessage) -> None:
        """Answer through a response URL (commands, button clicks): only the person sees it."""
        payload = {"response_type": "ephemeral", "replace_original": False, **message.as_kwargs()}
        try:
            async with self._session.post(response_url, json=payload) as reply:
                if reply.status >= 400:
                    log.warning("response_url answered %s", reply.status)
        except aiohttp.ClientError as error:
            log.warning("could not answer through response_url: %s", type(error).__name__)

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        reply = await self._call("views.open", trigger_id=trigger_id, view=view)
        return reply["view"]["id"] if reply else None

    async def update_modal(self, view_id: str, view: dict[str, Any]) -> None:
        await self._call("views.update", view_id=view_id, view=view)

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user, view=view)

    async def react(self, channel: str, ts: str, name: str) -> None:
        await self._call("reactions.add", channel=channel, timestamp=ts, name=name)

    async def _call(self, method: str, **args: Any) -> dict[str, Any] | None:
        clean = {key: value for key, value in args.items() if value is not None}
        try:
            reply = await self._web.api_call(method, json=clean)
        except SlackApiError as error:
            log.warning("%s failed: %s", method, error.response.get("error"))
            return None
        except aiohttp.ClientError as error:
            log.warning("%s failed: %s", method, type(error).__name__)
            return None
        return dict(reply.data) if isinstance(reply.data, dict) else None
