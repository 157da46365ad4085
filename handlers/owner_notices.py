"""The direct messages that tell a forest account's owner what happened to it in Slack."""

from __future__ import annotations

from blocks import linking as linking_blocks
from bot.slack.answers import Answers


class OwnerNotices:
    """bot.identity.link_guard.OwnerNotices, worded with blocks/linking.py."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers

    async def refused(self, owner: str, slack_user_id: str, forest_username: str) -> None:
        message = linking_blocks.someone_tried_your_account(slack_user_id, forest_username)
        await self._answers.direct_message(owner, message)

    async def moved(self, owner: str, slack_user_id: str, forest_username: str) -> None:
        message = linking_blocks.your_account_moved(slack_user_id, forest_username)
        await self._answers.direct_message(owner, message)
