"""The one door to Slack's Web API: every call the bot makes to Slack passes through ``SlackWeb``.

One policy for all of them. The client retries what a retry can fix (a dropped connection, a
5xx, a 429 after its Retry-After) a bounded number of times; what is left becomes one of three
exceptions of our own, so no other module knows slack_sdk's errors:

- ``SlackUnreachable``: no answer from Slack (connection, timeout).
- ``SlackRefused``: Slack answered with an error code (``ratelimited`` once retries ran out).
- ``SlackRefusedForGood``: a refusal that no retry will change (a channel that is gone, blocks
  Slack will not take, a revoked token).

Every call names its Slack method and, where it has one, its channel, and funnels through
``SlackWeb._call``. Given a budget, calls there wait their turn inside Slack's rate limits
(bot/slack/pacing.py): the urgent first, updates of one message coalesced, replies in one
thread merged, a 429 waited out; the client then leaves 429s to the pacer. Without one (the
benchmark's naive peer) every call goes at once and the client retries a 429 itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.runtime.metrics import Metrics
from bot.slack.pacing import Budget, Call, NotSent, Pacer, Priority, RateLimited

log = logging.getLogger(__name__)

SLACK_API_URL = "https://slack.com/api/"
REQUEST_TIMEOUT_SECONDS = 15
# Slack's error codes that no retry can fix.
REFUSED_FOR_GOOD = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_auth",
        "account_inactive",
        "restricted_action",
        "no_permission",
        "missing_scope",
    }
)
# A token Slack will not accept at all.
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})
RESPONSE_URL = "response_url"
# The code of a call that was still waiting its turn when the door closed.
STOPPING = "stopping"

Reply = dict[str, Any]


class SlackError(Exception):
    """Slack did not carry out a call. ``code`` says why: Slack's error code, an HTTP status,
    or the name of the network error."""

    def __init__(self, method: str, channel: str | None, code: str) -> None:
        super().__init__(f"{method} to {channel}: {code}" if channel else f"{method}: {code}")
        self.method = method
        self.channel = channel
        self.code = code


class SlackUnreachable(SlackError):
    """No answer from Slack, after the retries."""


class SlackRefused(SlackError):
    """Slack answered with an error, after the retries its limits allow."""


class SlackRefusedForGood(SlackRefused):
    """A refusal that trying again will not change."""


@dataclass(frozen=True)
class SlackIdentity:
    team_id: str
    bot_user_id: str
    bot_name: str = ""
    bot_id: str = ""


class MeasuredWebClient(AsyncWebClient):
    """Counts every Web API call's latency and errors, whichever code path made it (Bolt and
    Socket Mode use this client too)."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        if self.metrics is None:
            return await super().api_call(api_method, **kwargs)
        with self.metrics.slack_latency.labels(method=api_method).time():
            try:
                return await super().api_call(api_method, **kwargs)
            except SlackApiError as error:
                code = str(error.response.get("error") or error.response.status_code)
                self.metrics.slack_errors.labels(method=api_method, error=code).inc()
                raise
            except (aiohttp.ClientError, TimeoutError) as error:
                self.metrics.slack_errors.labels(
                    method=api_method, error=type(error).__name__
                ).inc()
                raise


def build_session(timeout: float = REQUEST_TIMEOUT_SECONDS) -> aiohttp.ClientSession:
    """The session every Slack call goes through, with a deadline that is really applied:
    slack_sdk ignores its own ``timeout`` when handed a session, and aiohttp's default is 300 s.
    A call past it fails as ``SlackUnreachable``."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))


def build_slack(
    token: str,
    base_url: str | None,
    session: aiohttp.ClientSession,
    metrics: Metrics | None = None,
    budget: Budget | None = None,
) -> SlackWeb:
    """The door, on a client that retries what Slack's answers say may be retried; paced
    inside Slack's limits when given a ``budget``."""
    retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=3),
    ]
    if budget is None:
        # Sleeps for Retry-After before trying again, as Slack asks. Paced, the pacer does
        # that instead, for the whole lane and not only for the one call.
        retry_handlers.insert(1, AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    client = MeasuredWebClient(
        token=token,
        base_url=base_url or SLACK_API_URL,
        session=session,
        # Only used should slack_sdk open a session of its own; ours carries the deadline.
        timeout=int(session.timeout.total or REQUEST_TIMEOUT_SECONDS),
        retry_handlers=retry_handlers,
    )
    client.metrics = metrics
    return SlackWeb(client, session, budget)


class SlackWeb:
    def __init__(
        self,
        client: AsyncWebClient,
        session: aiohttp.ClientSession,
        budget: Budget | None = None,
    ) -> None:
        self._client = client
        self._session = session
        self._pacer = None if budget is None else Pacer(self._send, budget)

    @property
    def paced(self) -> bool:
        """Whether calls wait their turn: then a caller need not wait for a call whose
        failure changes nothing for it (a tally, a thread reply), since nothing is dropped."""
        return self._pacer is not None

    @property
    def pacer(self) -> Pacer | None:
        return self._pacer

    async def close(self, timeout: float) -> None:
        """Make the calls still waiting for their turn (for at most ``timeout``)."""
        if self._pacer is not None:
            if self._pacer.waiting():
                log.info("sending %d queued Slack calls before stopping", self._pacer.waiting())
            await self._pacer.close(timeout)

    @property
    def bolt_client(self) -> AsyncWebClient:
        """The client underneath, for Bolt and the Socket Mode connection only: the bot's own
        calls go through the methods below."""
        return self._client

    # Messages in channels and threads.

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        priority: Priority = Priority.PERSON,
    ) -> str:
        """Post a message (links never unfurled); its ts. A reply in a thread may leave
        merged with the others waiting in that thread (then the ts is the merged one's)."""
        reply = await self._call(
            "chat.postMessage",
            channel,
            priority=priority,
            merge=thread_ts is not None and not blocks and not metadata,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=metadata,
            unfurl_links=False,
        )
        return str(reply["ts"])

    async def update_message(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]],
        priority: Priority = Priority.REFRESH,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Show a message's new state. While one waits its turn, a newer one replaces it;
        paced, ``still_wanted`` is asked before it leaves (False: it is dropped)."""
        # Always both: chat.update with text alone removes the blocks.
        await self._call(
            "chat.update",
            channel,
            priority=priority,
            coalesce=True,
            still_wanted=still_wanted,
            ts=ts,
            text=text,
            blocks=blocks,
        )

    async def delete_message(self, channel: str, ts: str) -> None:
        await self._call("chat.delete", channel, ts=ts)

    async def permalink(self, channel: str, ts: str) -> str:
        """Slack's permalink of a message; empty when Slack gave none."""
        reply = await self._call("chat.getPermalink", channel, message_ts=ts)
        return str(reply.get("permalink") or "")

    async def history(
        self, channel: str, oldest: str, limit: int, with_metadata: bool = False
    ) -> list[dict[str, Any]]:
        """The channel's messages since ``oldest`` (one page of at most ``limit``)."""
        reply = await self._call(
            "conversations.history",
            channel,
            oldest=oldest,
            include_all_metadata=with_metadata or None,
            limit=limit,
        )
        return list(reply.get("messages") or [])

    async def open_dm(self, user: str) -> str:
        """The channel id of the direct conversation with ``user``."""
        reply = await self._call("conversations.open", None, users=user)
        return str(reply["channel"]["id"])

    async def react(self, channel: str, ts: str, name: str) -> None:
        await self._call("reactions.add", channel, timestamp=ts, name=name)

    # What one person sees.

    async def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> None:
        await self._call(
            "chat.postEphemeral", channel, user=user, text=text, blocks=blocks, thread_ts=thread_ts
        )

    async def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        """Answer through a response URL (commands, button clicks)."""
        await self._funnel(RESPONSE_URL, None, lambda: self._post_response(response_url, payload))

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """Open a modal (the trigger is valid for 3 s, once); the view's id."""
        reply = await self._call("views.open", None, trigger_id=trigger_id, view=view)
        return str(reply["view"]["id"])

    async def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        await self._call("views.update", None, view_id=view_id, view=view)

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", None, user_id=user, view=view)

    # People and the bot itself.

    async def user_by_email(self, email: str) -> str | None:
        """The Slack user id with this email; None when Slack knows nobody by it."""
        try:
            reply = await self._call("users.lookupByEmail", None, email=email)
        except SlackRefused as error:
            if error.code == "users_not_found":
                return None
            raise
        return str(reply["user"]["id"])

    async def user_info(self, user_id: str) -> dict[str, Any] | None:
        """Slack's profile of ``user_id`` (``users.info``)."""
        reply = await self._call("users.info", None, user=user_id)
        user = reply.get("user")
        return user if isinstance(user, dict) else None

    async def identity(self) -> SlackIdentity:
        """Who the bot token belongs to (``auth.test``)."""
        reply = await self._call("auth.test", None)
        return SlackIdentity(
            team_id=str(reply["team_id"]),
            bot_user_id=str(reply["user_id"]),
            bot_name=str(reply.get("user") or ""),
            bot_id=str(reply.get("bot_id") or ""),
        )

    # The funnel.

    async def _call(
        self,
        method: str,
        channel: str | None,
        *,
        priority: Priority = Priority.PERSON,
        coalesce: bool = False,
        merge: bool = False,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
        **args: Any,
    ) -> Reply:
        """Call a Web API method (paced, when there is a pacer). Arguments that are None are
        left out."""
        present = {name: value for name, value in args.items() if value is not None}
        if channel is not None:
            present["channel"] = channel
        pacer = self._pacer
        if pacer is None:
            return await self._funnel(method, channel, lambda: self._send(method, present))
        paced = Call(
            method, present, priority, coalesce=coalesce, merge=merge, still_wanted=still_wanted
        )
        return await self._funnel(method, channel, lambda: pacer.call(paced))

    async def _send(self, method: str, args: dict[str, Any]) -> Reply:
        """One request, through slack_sdk's own method for it (which knows the method's HTTP
        verb and encoding). A 429 becomes RateLimited for the pacer to wait out."""
        send = getattr(self._client, method.replace(".", "_"))
        try:
            reply = await send(**args)
        except SlackApiError as error:
            if self._pacer is not None and error.response.status_code == 429:
                raise RateLimited(_retry_after(error.response.headers)) from None
            raise
        return dict(reply.data) if isinstance(reply.data, dict) else {}

    async def _funnel(
        self, method: str, channel: str | None, call: Callable[[], Awaitable[Reply]]
    ) -> Reply:
        """Every call to Slack passes here; Slack's failures become ours here and only here."""
        try:
            return await call()
        except SlackApiError as error:
            code = str(error.response.get("error") or error.response.status_code)
            kind = SlackRefusedForGood if code in REFUSED_FOR_GOOD else SlackRefused
            raise kind(method, channel, code) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SlackUnreachable(method, channel, type(error).__name__) from None
        except RateLimited:
            # Slack kept answering 429 however long the pacer waited.
            raise SlackRefused(method, channel, "ratelimited") from None
        except NotSent:
            raise SlackUnreachable(method, channel, STOPPING) from None

    async def _post_response(self, response_url: str, payload: dict[str, Any]) -> Reply:
        async with self._session.post(response_url, json=payload) as reply:
            if reply.status >= 400:
                raise SlackRefused(RESPONSE_URL, None, str(reply.status))
        return {}


def _retry_after(headers: Any) -> float:
    """Slack's Retry-After in seconds (1 when it sent none or none that reads)."""
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers else None
        if value is not None:
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0
