"""One connection to one NATS server: connected with retries, reconnecting by itself.

The bot talks to two servers that may be one: its own (``NATS_URL``, JetStream for its streams
and buckets) and forest's (``FOREST_NATS_URL``, core subjects only; forest runs it without
JetStream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS

from bot.config import ConfigError

log = logging.getLogger(__name__)

STARTUP_RETRY_SECONDS = 2.0
JETSTREAM_CHECK_SECONDS = 5.0


class NatsLink:
    def __init__(self, url: str, variable: str, client_name: str = "forest-approvals-bot") -> None:
        self.url = url
        self.variable = variable
        self._client_name = client_name
        self._nc: NATS | None = None
        self._closing = False
        # Called after every reconnect: what was subscribed may have missed messages.
        self.on_reconnect: list[Callable[[], None]] = []

    @property
    def nc(self) -> NATS:
        assert self._nc is not None, "connect() first"
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> NATS:
        """Connect, retrying until the server answers."""
        while True:
            try:
                self._nc = await nats.connect(
                    self.url,
                    name=self._client_name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=3,
                    error_cb=self._error,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                )
                return self._nc
            except (OSError, nats.errors.NoServersError, TimeoutError) as error:
                log.warning(
                    "NATS at %s (%s) is not reachable yet (%s); retrying",
                    self.url,
                    self.variable,
                    type(error).__name__,
                )
                await asyncio.sleep(STARTUP_RETRY_SECONDS)

    async def require_jetstream(self) -> None:
        """Raise ConfigError, naming the variable, when the server has no JetStream."""
        try:
            await self.nc.jetstream(timeout=JETSTREAM_CHECK_SECONDS).account_info()
        except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
            raise ConfigError(self.variable, _NO_JETSTREAM.format(url=self.url)) from None
        except nats.js.errors.APIError as error:
            raise ConfigError(
                self.variable,
                f"points at a NATS without usable JetStream ({self.url}): {error.description}",
            ) from None

    async def close(self) -> None:
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.drain()

    async def _reconnected(self) -> None:
        log.info("reconnected to NATS at %s", self.url)
        for hook in self.on_reconnect:
            hook()

    async def _disconnected(self) -> None:
        if not self._closing:
            log.warning("disconnected from NATS at %s; reconnecting", self.url)

    async def _error(self, error: Exception) -> None:
        log.warning("NATS error (%s): %s", self.variable, type(error).__name__)


_NO_JETSTREAM = (
    "points at a NATS without JetStream ({url}): the bot keeps its state in JetStream, so run "
    "its NATS with -js (forest's own NATS, without JetStream, belongs in FOREST_NATS_URL)"
)
