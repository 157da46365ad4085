"""The Slack Web API client: one aiohttp session, Slack's rate limits honoured, retries bounded.

slack_sdk ignores its own ``timeout`` when it is handed a session, so the session carries the
deadline (``build_session``); a call Slack does not answer in time fails as an
``aiohttp.ClientError``, like any other call Slack did not answer.
"""

from __future__ import annotations

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

SLACK_API_URL = "https://slack.com/api/"
REQUEST_TIMEOUT_SECONDS = 15


def build_session(timeout: float = REQUEST_TIMEOUT_SECONDS) -> aiohttp.ClientSession:
    """The session every Slack call goes through, with a deadline that is really applied
    (aiohttp's own default is 300 s)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))


class SlackTimeout(aiohttp.ServerTimeoutError):
    """Slack did not answer a call within the session's deadline."""


class MeasuredWebClient(AsyncWebClient):
    """Counts every Web API call's latency and errors, whichever code path made it."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await self._measured_call(api_method, **kwargs)
        except TimeoutError as error:
            # aiohttp's deadline raises the builtin TimeoutError, which callers handling
            # "Slack did not answer" (aiohttp.ClientError) would not catch.
            if isinstance(error, aiohttp.ClientError):
                raise
            raise SlackTimeout(f"{api_method}: Slack did not answer in time") from error

    async def _measured_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
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


def build_web_client(
    token: str,
    base_url: str | None,
    session: aiohttp.ClientSession,
    metrics: Metrics | None = None,
) -> AsyncWebClient:
    client = MeasuredWebClient(
        token=token,
        base_url=base_url or SLACK_API_URL,
        session=session,
        # Only used if slack_sdk ever opens a session of its own; ours has the deadline.
        timeout=int(session.timeout.total or REQUEST_TIMEOUT_SECONDS),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
            # Sleeps for Retry-After before trying again, as Slack asks.
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )
    client.metrics = metrics
    return client
