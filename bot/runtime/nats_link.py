"""One connection to one NATS server: connected with retries, reconnecting by itself.

The bot talks to two servers that may be one: its own (``NATS_URL``, JetStream for its streams
and buckets) and forest's (``FOREST_NATS_URL``, core subjects only; forest runs it without
JetStream).

Until the first connection, nats-py tries again every second by itself and never returns; the
attempt is cancelled when start-up is (a signal), and it is logged with the address (without
credentials) and the variable, now and then rather than every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS

from bot.config import ConfigError, nats_servers, redacted_servers

log = logging.getLogger(__name__)

T = TypeVar("T")

# A server that stays unreachable is reported this often, with the number of attempts.
UNREACHABLE_LOG_EVERY_SECONDS = 15.0
JETSTREAM_CHECK_SECONDS = 5.0
# Start-up asks a JetStream that does not answer again after these waits, doubling.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 10.0
# The one 503 that passes: "JetStream system temporarily unavailable", while a cluster elects
# its leader.
JETSTREAM_TEMPORARILY_UNAVAILABLE = 10008


class NatsLink:
    def __init__(self, url: str, variable: str, client_name: str = "forest-approvals-bot") -> None:
        self.url = url
        self.variable = variable
        # For log lines: every server of the URL, without user, password or token.
        self.where = f"{redacted_servers(url)} ({variable})"
        self._failures = 0
        self._last_logged: float | None = None
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
        """Connect, trying again until a server answers; cancel it to give up."""
        nc = NATS()
        self._nc = nc
        await nc.connect(
            servers=nats_servers(self.url),
            name=self._client_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=3,
            error_cb=self._error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        self._failures = 0
        log.info("connected to NATS at %s", self.where)
        return nc

    async def require_jetstream(self) -> None:
        """Raise ConfigError, naming the variable, when the server has no JetStream. A
        JetStream that does not answer yet (a cluster without a quorum, electing its leader)
        is waited for: start-up goes on once it answers, and a signal still stops it."""
        try:
            await answered_by_jetstream(
                lambda: self.nc.jetstream(timeout=JETSTREAM_CHECK_SECONDS).account_info(),
                f"the JetStream of {self.where}",
            )
        except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
            where = redacted_servers(self.url)
            raise ConfigError(self.variable, _NO_JETSTREAM.format(url=where)) from None
        except nats.js.errors.APIError as error:
            raise ConfigError(
                self.variable,
                f"points at a NATS without usable JetStream ({redacted_servers(self.url)}): "
                f"{error.description}",
            ) from None

    async def close(self) -> None:
        self._closing = True
        nc = self._nc
        if nc is None:
            return
        if nc.is_connected:
            with contextlib.suppress(Exception):
                await nc.drain()
        if not nc.is_closed:
            # Still trying to connect (start-up was stopped), or the drain failed.
            with contextlib.suppress(Exception):
                await nc.close()

    async def _reconnected(self) -> None:
        self._failures = 0
        self._last_logged = None
        log.info("reconnected to NATS at %s", self.where)
        for hook in self.on_reconnect:
            hook()

    async def _disconnected(self) -> None:
        if not self._closing:
            log.warning("disconnected from NATS at %s; reconnecting", self.where)

    async def _error(self, error: Exception) -> None:
        nc = self._nc
        if nc is not None and nc.is_connected:
            log.warning("NATS error at %s: %s", self.where, type(error).__name__)
            return
        self._failures += 1
        now = asyncio.get_running_loop().time()
        if self._last_logged is None or now - self._last_logged >= UNREACHABLE_LOG_EVERY_SECONDS:
            self._last_logged = now
            log.warning(
                "NATS at %s is not reachable (%s), %d attempt(s) so far; retrying",
                self.where,
                _describe(error),
                self._failures,
            )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_NO_JETSTREAM = (
    "points at a NATS without JetStream ({url}): the bot keeps its state in JetStream, so run "
    "its NATS with -js (forest's own NATS, without JetStream, belongs in FOREST_NATS_URL)"
)


async def answered_by_jetstream(ask: Callable[[], Awaitable[T]], what: str) -> T:
    """``ask()``, asked again while JetStream does not answer in time: at start-up a cluster
    may have no quorum yet, and a bot that gave up would only be restarted to ask again."""
    wait = FIRST_RETRY_SECONDS
    while True:
        try:
            return await ask()
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as error:
            if isinstance(error, nats.js.errors.ServiceUnavailableError) and (
                error.err_code != JETSTREAM_TEMPORARILY_UNAVAILABLE
            ):
                raise  # no JetStream there at all (a server without it answers no responders)
            log.warning("%s did not answer; asking again in %.0f s", what, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_RETRY_SECONDS)
