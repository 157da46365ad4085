"""Replies in the thread of an approval (or plan) message, where its author and reviewers
follow it."""

from __future__ import annotations

import logging
from typing import Protocol

from bot.slack.pacing import Priority
from bot.slack.web import SlackError, SlackWeb

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
    web: SlackWeb,
    record: Threaded,
    text: str,
    what: str = "a thread reply",
    priority: Priority = Priority.RECORD,
) -> None:
    """Post ``text`` under the approval message. A reply Slack refuses is logged, not raised:
    what it reports has happened already."""
    try:
        await web.post_message(record.channel, text, thread_ts=record.ts, priority=priority)
    except SlackError as error:
        log.error("could not post %s: %s", what, error.code, extra=record.key.log_fields)
