"""Whether the forest account a device login returned belongs to the Slack person who asked.

RFC 8628 §5.4: the person who approves a device code need not be the one who asked for it.
Mallory runs `/forest login`, gets Bob to approve her code in forage (the page names Mallory, but
people click), and would be linked as Bob. So a login links only when one of the forest account's
verified e-mails is the e-mail on the Slack person's profile; otherwise nothing is linked, and
the account's owner hears about it. A forest account is linked to one Slack person at a time: when
another one links it, the previous holder's link is removed and they are told.
"""

from __future__ import annotations

import enum
import logging
from typing import Protocol

from bot.forest.client import ForestUser
from bot.identity.link_store import LinkStore
from bot.slack.web import SlackError, SlackWeb

log = logging.getLogger(__name__)


class Refusal(enum.StrEnum):
    """Why a device login linked nothing; handlers word it."""

    NOT_YOURS = "not_yours"  # no verified forest e-mail is the Slack profile's
    NO_VERIFIED_EMAIL = "no_verified_email"
    NO_SLACK_EMAIL = "no_slack_email"
    SLACK_UNREACHABLE = "slack_unreachable"


class OwnerNotices(Protocol):
    """Direct messages to the owner of a forest account (worded in handlers and blocks)."""

    async def refused(self, owner: str, slack_user_id: str, forest_username: str) -> None: ...

    async def moved(self, owner: str, slack_user_id: str, forest_username: str) -> None: ...


class LinkGuard:
    def __init__(self, slack: SlackWeb, notices: OwnerNotices, links: LinkStore) -> None:
        self._slack = slack
        self._notices = notices
        self._links = links

    async def refusal(self, slack_user_id: str, user: ForestUser) -> Refusal | None:
        """Why ``user``'s account may not be linked to ``slack_user_id``; None when it may."""
        verified = {_normal(email) for email in user.verified_emails if email.strip()}
        if not verified:
            return Refusal.NO_VERIFIED_EMAIL
        try:
            profile = await self._slack.user_info(slack_user_id)
        except SlackError as error:
            log.warning("could not read a Slack profile: %s", error.code)
            return Refusal.SLACK_UNREACHABLE
        email = ((profile or {}).get("profile") or {}).get("email")
        if not isinstance(email, str) or not email.strip():
            return Refusal.NO_SLACK_EMAIL
        if _normal(email) not in verified:
            return Refusal.NOT_YOURS
        return None

    async def refused(self, slack_user_id: str, user: ForestUser) -> None:
        """Tell the forest account's owner that someone else's login was approved with it."""
        log.warning(
            "refused a device login approved with another person's forest account",
            extra={"slack_user": slack_user_id, "forest_user": user.username},
        )
        for owner in await self._owners(user) - {slack_user_id}:
            await self._notices.refused(owner, slack_user_id, user.username)

    async def take_over(self, team_id: str, slack_user_id: str, user: ForestUser) -> str | None:
        """Before ``user``'s account is linked to ``slack_user_id``: remove the link another
        Slack person holds to it (one account, one person); that person's id, if any."""
        previous = await self._links.slack_user_of(user.user_id)
        if not previous or previous == slack_user_id:
            return None
        earlier = await self._links.get(team_id, previous)
        if earlier is not None and earlier.forest_user_id == user.user_id:
            await self._links.forget(team_id, previous)
        log.warning(
            "a forest account moved to another Slack person",
            extra={"slack_user": slack_user_id, "previous_slack_user": previous},
        )
        return previous

    async def linked(self, slack_user_id: str, user: ForestUser, previous: str | None) -> None:
        """Tell the account's owners, and whoever held it before, that it is now linked to
        ``slack_user_id``: an account never moves silently."""
        owners = (await self._owners(user)) | ({previous} if previous else set())
        for owner in owners - {slack_user_id}:
            await self._notices.moved(owner, slack_user_id, user.username)

    async def _owners(self, user: ForestUser) -> set[str]:
        """The Slack people whose profile e-mail is one of the account's verified ones."""
        found: set[str] = set()
        for email in user.verified_emails:
            try:
                owner = await self._slack.user_by_email(email)
            except SlackError as error:
                log.warning("could not look up a forest account's owner: %s", error.code)
                continue
            if owner:
                found.add(owner)
        return found


def _normal(email: str) -> str:
    return email.strip().lower()
