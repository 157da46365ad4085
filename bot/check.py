"""``approvals-bot check``: is the configuration right, and can the bot reach what it needs?

One line per check with a verdict; the exit code is non-zero when any check failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import nats
import nats.errors
import nats.js.errors

from bot.approvals.routing import load_router
from bot.config import ConfigError, Settings, load_settings
from bot.forest.client import ForestClient
from bot.forest.errors import ForestUnauthenticated, ForestUnavailable
from bot.slack.web import SlackRefused, SlackUnreachable, build_slack
from bot.state.approval_store import APPROVALS_BUCKET
from bot.watch.organisation import read_organisation

CHECK_TIMEOUT = 10.0
NATS_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Verdict:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<11} {self.detail}"


async def run_checks(env: Mapping[str, str]) -> list[Verdict]:
    try:
        settings = load_settings(env)
        load_router(settings.approvals_channel, settings.approvals_routes)
    except ConfigError as error:
        return [Verdict("config", False, line) for line in error.lines()]
    routes = (
        "" if settings.approvals_routes is None else f", routes from {settings.approvals_routes}"
    )
    verdicts = [Verdict("config", True, f"default channel {settings.approvals_channel}{routes}")]
    checks = (
        ("slack", _slack),
        ("nats", _nats),
        ("forest-nats", _forest_nats),
        ("forest", _forest),
    )
    for name, check in checks:
        verdicts.append(await _timed(name, check, settings))
    return verdicts


async def _timed(
    name: str, check: Callable[[Settings], Awaitable[str]], settings: Settings
) -> Verdict:
    try:
        detail = await asyncio.wait_for(check(settings), CHECK_TIMEOUT)
    except TimeoutError:
        return Verdict(name, False, f"no answer within {CHECK_TIMEOUT:.0f}s")
    except _Failed as failure:
        return Verdict(name, False, str(failure))
    return Verdict(name, True, detail)


class _Failed(Exception):
    pass


async def _slack(settings: Settings) -> str:
    async with aiohttp.ClientSession() as session:
        slack = build_slack(settings.slack_bot_token, settings.slack_api_url, session)
        try:
            identity = await slack.identity()
        except SlackRefused as error:
            raise _Failed(f"auth.test refused SLACK_BOT_TOKEN: {error.code}") from None
        except SlackUnreachable as error:
            raise _Failed(f"Slack is not reachable: {error.code}") from None
    mode = "Socket Mode" if settings.socket_mode else "HTTP mode"
    return f"bot {identity.bot_name} in workspace {identity.team_id} ({mode})"


async def _connect(url: str, variable: str) -> nats.NATS:
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        errors.append(error)

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=2,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                error_cb=remember,
            ),
            NATS_CONNECT_TIMEOUT,
        )
    except (OSError, nats.errors.NoServersError, TimeoutError) as error:
        cause = errors[-1] if errors else error
        raise _Failed(f"cannot connect to {url} ({variable}): {type(cause).__name__}") from None


async def _nats(settings: Settings) -> str:
    nc = await _connect(settings.nats_url, "NATS_URL")
    try:
        js = nc.jetstream()
        try:
            await js.account_info()
        except nats.js.errors.ServiceUnavailableError:
            raise _Failed(
                f"JetStream is not enabled at {settings.nats_url} (NATS_URL); the bot's state "
                "needs it: run that nats-server with -js"
            ) from None
        except nats.js.errors.APIError as error:
            raise _Failed(f"JetStream is not enabled: {error.description}") from None
        try:
            await js.key_value(APPROVALS_BUCKET)
            bucket = f"bucket {APPROVALS_BUCKET} present"
        except nats.js.errors.BucketNotFoundError:
            bucket = f"bucket {APPROVALS_BUCKET} will be created at start"
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return f"JetStream at {settings.nats_url}, {bucket}"


async def _forest_nats(settings: Settings) -> str:
    if settings.forest_nats == settings.nats_url:
        return f"forest's core subjects on NATS_URL ({settings.nats_url})"
    nc = await _connect(settings.forest_nats, "FOREST_NATS_URL")
    with contextlib.suppress(Exception):
        await nc.close()
    return f"forest's core subjects at {settings.forest_nats} (FOREST_NATS_URL)"


async def _forest(settings: Settings) -> str:
    forest = ForestClient(settings.forest_grpc_url, settings.forest_app_token, timeout=5.0)
    await forest.open()
    try:
        return await _forest_answers(forest, settings)
    finally:
        # Also when the check failed or ran out of time.
        await forest.close()


async def _forest_answers(forest: ForestClient, settings: Settings) -> str:
    try:
        await forest.token_check()
    except ForestUnavailable:
        raise _Failed(f"forest does not answer at {settings.forest_grpc_url}") from None
    except ForestUnauthenticated:
        raise _Failed("forest refused FOREST_APP_TOKEN") from None
    watched = await _organisation(forest, settings.forest_organisation)
    return f"forest answers at {settings.forest_grpc_url} and accepts the app token{watched}"


async def _organisation(forest: ForestClient, organisation: str | None) -> str:
    if organisation is None:
        return "; FOREST_ORGANISATION is not set, so only the approval-required event is read"
    try:
        intents = await read_organisation(forest, organisation)
    except ForestUnavailable:
        raise _Failed(f"forest does not answer for FOREST_ORGANISATION={organisation}") from None
    except ConfigError as error:
        raise _Failed(str(error)) from None
    return f"; watching {organisation} ({intents} active release intents)"
