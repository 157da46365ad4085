"""Replies in the thread of an approval (or plan) message, where its author and reviewers
follow it."""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class _Key(Protocol):
    @property
    def log_fields(self) -> dict[str, str]: ...


class Threaded(Protocol):
    """A record of a posted message: an approval's or a plan's."""

    @property
    def channel(self) -> str: ...

    @property
    def ts(self) -> str: ...

    @property
    def key(self) -> _Key: ...


async def reply_in_thread(
    web: AsyncWebClient, record: Threaded, text: str, what: str = "a thread reply"
) -> None:
    """Post ``text`` under the approval message. A reply Slack refuses is logged, not raised:
    what it reports has happened already."""
    try:
        await web.chat_postMessage(
            channel=record.channel, thread_ts=record.ts, text=text, unfurl_links=False
        )
    except SlackApiError as error:
        log.error(
            "could not post %s: %s", what, error.response.get("error"), extra=record.key.log_fields
        )
    except aiohttp.ClientError as error:
        log.error("could not post %s: %s", what, type(error).__name__, extra=record.key.log_fields)
