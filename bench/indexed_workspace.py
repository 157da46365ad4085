"""The fake Slack's workspace with its messages indexed, for the benchmark's stack process.

The plain workspace finds a message, or a thread's replies, by scanning the channel: right for
tests with a handful of messages, but with thousands in one channel every post and update would
cost the fake milliseconds of CPU on the same two cores as the bot, and the benchmark would time
the fake. Indexed, a call costs the fake the same with 10,000 messages as with ten.
"""

from __future__ import annotations

from bot.local.fake_slack_model import SlackApiFailure, SlackMessage, SlackWorkspace


class IndexedWorkspace(SlackWorkspace):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._by_ts: dict[tuple[str, str], SlackMessage] = {}
        self._threads: dict[tuple[str, str], list[SlackMessage]] = {}

    def add_message(self, message: SlackMessage) -> SlackMessage:
        super().add_message(message)
        self._by_ts[(message.channel, message.ts)] = message
        if message.is_reply and message.thread_ts is not None:
            self._threads.setdefault((message.channel, message.thread_ts), []).append(message)
        return message

    def find(self, channel: str, ts: str | None) -> SlackMessage:
        message = self._by_ts.get((channel, ts or ""))
        if message is None or message.deleted:
            raise SlackApiFailure("message_not_found")
        return message

    def replies(self, channel: str, ts: str) -> list[SlackMessage]:
        return [m for m in self._threads.get((channel, ts), []) if not m.deleted]
