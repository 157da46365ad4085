"""Modal submissions: the reason for a rejection or a bypass."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from blocks.modals import (
    BYPASS_CALLBACK_ID,
    REASON_BLOCK_ID,
    REJECT_CALLBACK_ID,
    key_token_of,
    reason_of,
)
from bot.approvals.voting import VoteKind
from handlers.deps import HandlerDeps, tracked
from handlers.payloads import PayloadError, PendingVote, actor_of, approval_key, modal_place
from handlers.verdicts import cast_and_answer

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]


class ReasonModals:
    def __init__(self, deps: HandlerDeps) -> None:
        self._deps = deps

    async def reject(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        await self._submit(ack, body, view, VoteKind.REJECT)

    async def bypass(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        await self._submit(ack, body, view, VoteKind.BYPASS)

    async def _submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], kind: VoteKind
    ) -> None:
        reason = reason_of(view)
        if not reason:
            await ack(response_action="errors", errors={REASON_BLOCK_ID: "Please give a reason."})
            return
        await ack()
        try:
            actor = actor_of(body)
            place = modal_place(view.get("private_metadata", ""))
            key = approval_key(place.key_token or key_token_of(view))
        except (PayloadError, ValueError) as error:
            log.warning("ignored a modal submission: %s", error)
            return
        pending = PendingVote(kind, key, place.channel_id, place.message_ts)
        await cast_and_answer(self._deps, actor, pending, comment=reason)


def register(app: AsyncApp, deps: HandlerDeps) -> None:
    modals = ReasonModals(deps)
    app.view(REJECT_CALLBACK_ID)(tracked(deps.tasks, modals.reject))
    app.view(BYPASS_CALLBACK_ID)(tracked(deps.tasks, modals.bypass))
