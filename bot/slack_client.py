"""The Slack Web API client: one aiohttp session, Slack's rate limits honoured, retries bounded."""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

SLACK_API_URL = "https://slack.com/api/"
REQUEST_TIMEOUT_SECONDS = 15


def build_web_client(
    token: str, base_url: str | None, session: aiohttp.ClientSession
) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=base_url or SLACK_API_URL,
        session=session,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
            # Sleeps for Retry-After before trying again, as Slack asks.
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )
