"""The ``/forest`` slash command: login, whoami, logout, pending, help."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks import linking as linking_blocks
from blocks.linking import COMMAND
from blocks.pending import pending_list, pending_not_linked
from blocks.replies import notice
from bot.forest.errors import ForestError
from bot.identity.linking import NeedsLogin
from handlers.deps import HandlerDeps, tracked
from handlers.linking import start_linking
from handlers.payloads import Actor, PayloadError, command_actor, command_text

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]


class ForestCommand:
    def __init__(self, deps: HandlerDeps) -> None:
        self._deps = deps

    async def handle(self, ack: Ack, command: dict[str, Any]) -> None:
        subcommand = command_text(command).subcommand
        try:
            actor = command_actor(command)
        except PayloadError:
            await ack(text="Slack did not say who you are; please try again.")
            return
        if subcommand == "login":
            await ack()
            await start_linking(self._deps, actor, str(command.get("response_url", "")), None)
        elif subcommand == "whoami":
            link = await self._deps.linking.link_of(actor.team_id, actor.user_id)
            message = linking_blocks.whoami(link.forest_username if link else None)
            await ack(text=message.text, blocks=message.blocks)
        elif subcommand == "logout":
            link = await self._deps.linking.logout(actor.team_id, actor.user_id)
            message = linking_blocks.logged_out(link.forest_username if link else None)
            await ack(text=message.text, blocks=message.blocks)
        elif subcommand == "pending":
            # Forest is asked about every open approval: answer later, through the response URL.
            await ack()
            await self._answer_pending(actor, str(command.get("response_url", "")))
        elif subcommand in ("", "help"):
            message = linking_blocks.help_text()
            await ack(text=message.text, blocks=message.blocks)
        else:
            message = linking_blocks.unknown_subcommand(subcommand)
            await ack(text=message.text, blocks=message.blocks)

    async def _answer_pending(self, actor: Actor, response_url: str) -> None:
        if not response_url:
            log.warning("cannot answer without a response_url", extra={"slack_user": actor.user_id})
            return
        try:
            message = pending_list(
                await self._deps.pending.for_person(actor.team_id, actor.user_id)
            )
        except NeedsLogin:
            message = pending_not_linked()
        except ForestError as error:
            message = notice(error.sentence)
        await self._deps.answers.respond(response_url, message)


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    app.command(COMMAND)(tracked(deps.tasks, ForestCommand(deps).handle))
