"""The faults a soak injects while votes are cast, each switchable.

Each one begins when its window opens and ends when it closes; the soak keeps casting votes
(several at once) for the whole window, so every fault meets votes on their way: NATS killed and
started again on the same store, one node of a NATS cluster killed and restarted, JetStream's
store full, Slack methods that hang while another is slow, and one person's forest token close
to expiry while they vote through two replicas at once, so both refresh it together.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import nats.errors
import nats.js.errors
from nats.js.api import StreamConfig

from bot.identity.link_store import LinkStore
from bot.identity.token_cipher import TokenCipher
from bot.local.local_stack import SECRET_KEY, LocalStack
from bot.local.nats_server import NatsCluster, NatsServer
from bot.local.soak_report import SoakReport
from bot.wiring import LINKS_BUCKET

# JetStream's store for a run with a full-store fault: small, so that filling it is quick; the
# soak's own state is far smaller.
STORE_LIMIT = "48MB"
FILLER_STREAM = "SOAK_FILLER"
FILLER_CHUNK = b"x" * 900 * 1024
# The bucket whose leader a lost cluster node is: every vote reads it.
APPROVALS_STREAM = "KV_forest_approvals"
# Slack methods that answer nothing while the fault lasts; chat.postMessage (thread replies,
# new messages) answers this late meanwhile, within the bot's deadline for a call.
HUNG_METHODS = ("chat.update", "chat.postEphemeral")
SLOW_ANSWER_SECONDS = 1.0
# Votes forest refuses as the hang begins: their voters must still be told.
REFUSED_IN_HANG = 2
# The refresh race: the person's token expires within the bot's refresh margin, every token
# forest hands out meanwhile does too, and forest takes this long to refresh one, so that the
# replicas' refreshes overlap.
NEAR_EXPIRY_SECONDS = 30.0
SHORT_TOKEN_LIFETIME = 60.0
SLOW_REFRESH_SECONDS = 0.3
RACER = "bob"


@dataclass(frozen=True)
class SoakFaults:
    """Which faults a run injects; 0 seconds turns a window fault off."""

    # While approvals are announced: 429s on posts, a NATS restart, a bot process killed.
    slack_429s: bool = True
    nats_restart: bool = True
    bot_killed: bool = True
    # While votes are cast.
    forest_unavailable: bool = True
    refresh_race_seconds: float = 4.0
    slack_hang_seconds: float = 6.0
    nats_outage_seconds: float = 10.0  # a single server: the whole of it
    full_store_seconds: float = 4.0  # a single server only (the cluster has no store limit)
    node_loss_seconds: float = 10.0  # a cluster only: the node leading the approvals bucket

    def without(self, *names: str) -> SoakFaults:
        """These faults off."""
        off = {n: (0.0 if n.endswith("_seconds") else False) for n in names}
        return dataclasses.replace(self, **off)


@dataclass(frozen=True)
class Window:
    """One fault, open while votes are cast for ``seconds``."""

    name: str
    seconds: float
    open: Callable[[LocalStack, SoakReport], contextlib.AbstractAsyncContextManager[None]]
    # Cast each wave's votes through the replicas in turn, so that one person's votes reach
    # every replica at once.
    spread: bool = False


def windows(faults: SoakFaults, cluster: bool) -> list[Window]:
    """The window faults a run injects, in order."""
    planned = [
        Window("refresh race near expiry", faults.refresh_race_seconds, refresh_race, True),
        Window("slack methods hanging", faults.slack_hang_seconds, slack_hang),
    ]
    if cluster:
        planned.append(Window("nats cluster node lost", faults.node_loss_seconds, node_loss))
    else:
        planned.append(Window("nats outage", faults.nats_outage_seconds, nats_outage))
        planned.append(Window("jetstream store full", faults.full_store_seconds, full_store))
    return [window for window in planned if window.seconds > 0]


@contextlib.asynccontextmanager
async def nats_outage(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """The bot's nats-server killed, then started again on the same store."""
    server = stack.nats_server
    assert isinstance(server, NatsServer)
    server.kill()
    await server.wait_killed()
    report.faults["nats outage"] += 1
    try:
        yield
    finally:
        await server.start()
        await _reconnected(stack)


@contextlib.asynccontextmanager
async def node_loss(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """The cluster node leading the approvals bucket killed, then started again."""
    cluster = stack.nats_server
    assert isinstance(cluster, NatsCluster)
    info = await stack.nc.jetstream().stream_info(APPROVALS_STREAM)
    leader = info.cluster.leader if info.cluster else None
    victim = next(
        (n for n in cluster.nodes if n.cluster and n.cluster.name == leader), cluster.nodes[0]
    )
    victim.kill()
    await victim.wait_killed()
    report.faults["nats cluster node lost"] += 1
    try:
        yield
    finally:
        await victim.start()
        await cluster.wait_for_jetstream()
        await _reconnected(stack)


@contextlib.asynccontextmanager
async def full_store(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """JetStream's store filled to its limit, then emptied again."""
    js = stack.nc.jetstream()
    await js.add_stream(StreamConfig(name=FILLER_STREAM, subjects=["soak.filler"]))
    for _ in range(200):
        try:
            await js.publish("soak.filler", FILLER_CHUNK)
        except nats.js.errors.ServiceUnavailableError:
            break
    else:
        raise RuntimeError(f"JetStream's store did not fill up ({STORE_LIMIT} expected)")
    report.faults["jetstream store full"] += 1
    try:
        yield
    finally:
        await js.delete_stream(FILLER_STREAM)


@contextlib.asynccontextmanager
async def slack_hang(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """Slack's chat.update and chat.postEphemeral answer nothing (past the bot's deadline for
    a call) and its chat.postMessage answers late; forest refuses the first votes meanwhile,
    so that "NOT recorded" answers meet the hang."""
    for method in HUNG_METHODS:
        stack.slack.hang(method)
    stack.slack.delay("chat.postMessage", SLOW_ANSWER_SECONDS)
    stack.forest.fail_next(
        "ExternalApproveRelease", grpc.StatusCode.UNAVAILABLE, "soak", times=REFUSED_IN_HANG
    )
    report.faults["slack methods hanging"] += 1
    try:
        yield
    finally:
        for method in HUNG_METHODS:
            stack.slack.hang(method, False)
        stack.slack.delay("chat.postMessage", 0)


@contextlib.asynccontextmanager
async def refresh_race(stack: LocalStack, report: SoakReport) -> AsyncIterator[None]:
    """``RACER``'s stored token close to expiry, and every token forest hands out meanwhile
    too, so each of their votes refreshes it; forest's refresh is slow, so that the replicas'
    refreshes overlap (forest rotates refresh tokens: a second refresh with one is refused)."""
    links = LinkStore(await stack.nc.jetstream().key_value(LINKS_BUCKET), TokenCipher(SECRET_KEY))
    user = stack.person(RACER).slack_user_id
    link = await links.get(stack.slack.identity.team_id, user)
    if link is None:
        raise RuntimeError(f"{RACER} is not linked")
    credentials = stack.forest.credentials
    lifetime = credentials.access_token_lifetime
    credentials.access_token_lifetime = SHORT_TOKEN_LIFETIME
    stack.forest.delay("RefreshToken", SLOW_REFRESH_SECONDS)
    await links.save(dataclasses.replace(link, expires_at=time.time() + NEAR_EXPIRY_SECONDS))
    before = len(stack.forest.calls_to("RefreshToken"))
    report.faults["refresh race near expiry"] += 1
    try:
        yield
    finally:
        credentials.access_token_lifetime = lifetime
        stack.forest.delay("RefreshToken", 0)
        report.token_refreshes += len(stack.forest.calls_to("RefreshToken")) - before


async def _reconnected(stack: LocalStack, timeout: float = 30.0) -> None:
    """Until the soak's own connection writes to JetStream again (the bots reconnect too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.nc.is_connected:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await stack.nc.jetstream(timeout=1.0).account_info()
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("NATS did not come back")
