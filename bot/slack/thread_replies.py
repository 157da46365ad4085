"""Replies in the thread of an approval message, where its author and reviewers follow it."""

from __future__ import annotations

import logging

from bot.slack.web import SlackError, SlackWeb
from bot.state.approval_store import ApprovalRecord

log = logging.getLogger(__name__)


async def reply_in_thread(
    web: SlackWeb, record: ApprovalRecord, text: str, what: str = "a thread reply"
) -> None:
    """Post ``text`` under the approval message. A reply Slack refuses is logged, not raised:
    what it reports has happened already."""
    try:
        await web.post_message(record.channel, text, thread_ts=record.ts)
    except SlackError as error:
        log.error("could not post %s: %s", what, error.code, extra=record.key.log_fields)
