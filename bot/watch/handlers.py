"""What the watch hands each intent it reads to: the extension point for kinds of approval.

Deploy stages held by an approval policy are one kind (``DeployGates``); plan stages waiting
for a decision are another. Each is a handler; the watch calls every handler with every intent
it reads, again and again, so a handler must be idempotent and cheap for what it already knows.
"""

from __future__ import annotations

from typing import Protocol

from bot.forest.releases import ReleaseIntent


class IntentHandler(Protocol):
    async def on_intent(self, organisation: str, intent: ReleaseIntent) -> None:
        """Act on ``intent`` as forest reports it now.

        Raising ForestError is fine: the watch logs it and the intent comes again (on its next
        event, or the next scan)."""
        ...
