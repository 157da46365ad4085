"""Linking a Slack person to their forest account with forest's device login, and keeping
their access token fresh.

The device flow is RFC 8628: show the code and link, poll no faster than forest asks, back off on
SLOW_DOWN, stop on APPROVED, DENIED or EXPIRED.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from bot.forest.client import DeviceLogin, DeviceLoginStatus, ForestClient
from bot.forest.errors import ForestError, ForestUnauthenticated, ForestUnavailable
from bot.identity.link_guard import LinkGuard
from bot.identity.link_store import Link, LinkStore
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.tasks import TaskSet
from bot.state.shared_lock import LockTimeout, SharedLocks

log = logging.getLogger(__name__)

Result = TypeVar("Result")

CLIENT_VERSION = "1"
# Refresh this long before expiry, so a token never runs out in the middle of a vote.
REFRESH_MARGIN_SECONDS = 120.0
SLOW_DOWN_STEP_SECONDS = 5.0

# Some forest versions send an absolute unix time in ``expires_in_seconds``; no relative
# lifetime is anywhere near this large.
_ABSOLUTE_TIME_THRESHOLD = 1_000_000_000


def expiry_of(expires_in_seconds: int, now: float) -> float:
    """When a token expires, as unix seconds."""
    if expires_in_seconds >= _ABSOLUTE_TIME_THRESHOLD:
        return float(expires_in_seconds)
    return now + expires_in_seconds


class LoginEnd(enum.StrEnum):
    LINKED = "linked"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    # The forest account is not the Slack person's (RFC 8628 §5.4): nothing was linked.
    REFUSED = "refused"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class LoginResult:
    end: LoginEnd
    link: Link | None = None
    detail: str = ""
    # The forest account the code was approved with (also when nothing was linked).
    forest_username: str = ""


@dataclass(frozen=True)
class SlackPerson:
    team_id: str
    user_id: str
    user_name: str = ""
    team_name: str = ""

    @property
    def client_name(self) -> str:
        """Shown on forage's approval page, so the person sees which Slack account they link."""
        who = f"@{self.user_name}" if self.user_name else self.user_id
        where = self.team_name or self.team_id
        return f"Slack: {who} ({self.user_id}) in {where} ({self.team_id})"


class NeedsLogin(Exception):
    """The person has no usable link: they must run the device flow (again).

    ``sentence`` says why when there is more to say than "not linked yet" (empty); what the
    person reads is the presentation's to word."""

    def __init__(self, sentence: str = "") -> None:
        super().__init__(sentence or "not linked")
        self.sentence = sentence


LoginListener = Callable[[LoginResult], Awaitable[None]]


class LinkService:
    def __init__(
        self,
        forest: ForestClient,
        links: LinkStore,
        tasks: TaskSet,
        shared: SharedLocks,
        guard: LinkGuard,
        poll_floor: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._forest = forest
        self._links = links
        self._tasks = tasks
        self._poll_floor = poll_floor
        self._clock = clock
        self._logins: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._refreshing = KeyedLocks()
        self._shared = shared
        self._guard = guard

    async def start_login(self, person: SlackPerson, on_end: LoginListener) -> DeviceLogin:
        """Begin a device login; ``on_end`` hears how it ended. Raises ForestError."""
        grant = await self._forest.initiate_device_login(person.client_name, CLIENT_VERSION)
        slot = (person.team_id, person.user_id)
        earlier = self._logins.pop(slot, None)
        if earlier is not None:
            earlier.cancel()
        task = self._tasks.spawn(self._poll(person, grant, on_end), name="device login")
        self._logins[slot] = task
        task.add_done_callback(lambda done: self._forget_login(slot, done))
        return grant

    def _forget_login(self, slot: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._logins.get(slot) is task:
            del self._logins[slot]

    async def _poll(self, person: SlackPerson, grant: DeviceLogin, on_end: LoginListener) -> None:
        interval = max(float(grant.interval_seconds), self._poll_floor)
        deadline = self._clock() + grant.expires_in_seconds
        try:
            result = await self._await_grant(person, grant, interval, deadline)
        except asyncio.CancelledError:
            await on_end(LoginResult(LoginEnd.SUPERSEDED))
            raise
        await on_end(result)

    async def _await_grant(
        self, person: SlackPerson, grant: DeviceLogin, interval: float, deadline: float
    ) -> LoginResult:
        while self._clock() < deadline:
            await asyncio.sleep(interval)
            try:
                poll = await self._forest.poll_device_login(grant.device_code)
            except ForestError as error:
                if not error.retryable:
                    return LoginResult(LoginEnd.FAILED, detail=error.sentence)
                continue
            if poll.status == DeviceLoginStatus.SLOW_DOWN:
                interval += SLOW_DOWN_STEP_SECONDS
            elif poll.status == DeviceLoginStatus.DENIED:
                return LoginResult(LoginEnd.DENIED)
            elif poll.status == DeviceLoginStatus.EXPIRED:
                return LoginResult(LoginEnd.EXPIRED)
            elif poll.status == DeviceLoginStatus.APPROVED and poll.user and poll.tokens:
                user = poll.user
                refusal = await self._guard.refusal(person.user_id, user)
                if refusal is not None:
                    # The tokens are dropped unused: they are someone else's.
                    await self._guard.refused(person.user_id, user)
                    return LoginResult(
                        LoginEnd.REFUSED, detail=refusal.value, forest_username=user.username
                    )
                now = self._clock()
                link = Link(
                    team_id=person.team_id,
                    slack_user_id=person.user_id,
                    forest_user_id=user.user_id,
                    forest_username=user.username,
                    access_token=poll.tokens.access_token,
                    refresh_token=poll.tokens.refresh_token,
                    expires_at=expiry_of(poll.tokens.expires_in_seconds, now),
                    linked_at=now,
                )
                previous = await self._guard.take_over(person.team_id, person.user_id, user)
                await self._links.save(link)
                log.info(
                    "linked a Slack person to forest",
                    extra={"slack_user": person.user_id, "forest_user": link.forest_username},
                )
                await self._guard.linked(person.user_id, user, previous)
                return LoginResult(LoginEnd.LINKED, link)
        return LoginResult(LoginEnd.EXPIRED)

    async def link_of(self, team_id: str, slack_user_id: str) -> Link | None:
        return await self._links.get(team_id, slack_user_id)

    async def as_person(
        self, link: Link, call: Callable[[Link], Awaitable[Result]]
    ) -> tuple[Link, Result]:
        """``call`` forest with the person's ``link``, and once more after a forced refresh when
        forest refuses a token that looked fresh (revoked, clock skew); the link used and the
        answer. Raises NeedsLogin when the refresh is refused, and ForestError."""
        try:
            return link, await call(link)
        except ForestUnauthenticated:
            link = await self.fresh_link(link.team_id, link.slack_user_id, force_refresh=True)
            return link, await call(link)

    async def fresh_link(
        self, team_id: str, slack_user_id: str, force_refresh: bool = False
    ) -> Link:
        """The person's link with an access token that will not expire soon.

        Raises NeedsLogin when there is no link or forest refuses the refresh token, and
        ForestError when forest cannot be reached.
        """
        link = await self._links.get(team_id, slack_user_id)
        if link is None:
            raise NeedsLogin()
        if not force_refresh and link.expires_at - self._clock() > REFRESH_MARGIN_SECONDS:
            return link
        # One refresh at a time per person in this process, and across replicas: forest
        # rotates refresh tokens, so a second refresh with the same token is refused.
        async with self._refreshing.hold((team_id, slack_user_id)):
            try:
                async with self._shared.hold(f"refresh.{team_id}.{slack_user_id}"):
                    return await self._refresh(link, force_refresh)
            except LockTimeout:
                current = await self._links.get(team_id, slack_user_id)
                if current is not None and current.access_token != link.access_token:
                    return current
                raise ForestUnavailable(
                    "Your forest login is being renewed right now. Please try again in a moment."
                ) from None

    async def _refresh(self, link: Link, force_refresh: bool) -> Link:
        team_id, slack_user_id = link.team_id, link.slack_user_id
        # Another request or replica may have refreshed while we waited.
        current = await self._links.get(team_id, slack_user_id)
        if current is None:
            raise NeedsLogin()
        refreshed_meanwhile = current.access_token != link.access_token
        if refreshed_meanwhile or (
            not force_refresh and current.expires_at - self._clock() > REFRESH_MARGIN_SECONDS
        ):
            return current
        try:
            tokens = await self._forest.refresh(current.refresh_token)
        except ForestUnauthenticated:
            # Read again before deciding the link is dead: a replica that does not share the
            # lock (an older version mid-deploy) may have rotated the token and stored it.
            latest = await self._links.get(team_id, slack_user_id)
            if latest is not None and latest.refresh_token != current.refresh_token:
                return latest
            await self._links.forget(team_id, slack_user_id)
            raise NeedsLogin(
                "Your forest login has expired. Link your account again to vote."
            ) from None
        renewed = replace(
            current,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or current.refresh_token,
            expires_at=expiry_of(tokens.expires_in_seconds, self._clock()),
        )
        await self._links.save(renewed)
        return renewed

    async def logout(self, team_id: str, slack_user_id: str) -> Link | None:
        return await self._links.forget(team_id, slack_user_id)
