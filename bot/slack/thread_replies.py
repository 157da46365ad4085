"""Replies in the thread of an approval message, where its author and reviewers follow it."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.state.approval_store import ApprovalRecord

log = logging.getLogger(__name__)


async def reply_in_thread(
    web: AsyncWebClient, record: ApprovalRecord, text: str, what: str = "a thread reply"
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
