"""The plans that wait for a decision, for ``/forest pending`` and the Home tab.

Any member may decide a plan (forest has no author rule for plans), so a person is shown every
waiting plan in their organisations, their own releases' plans included.
"""

from __future__ import annotations

from datetime import datetime

from bot.approvals.pending import PendingApproval, Permalinks, forest_time_or_claim
from bot.plans.open_plans import OpenPlans
from bot.plans.plan import PlanView
from bot.plans.plan_store import PlanRecord, PlanStore
from bot.plans.presenter import PlanPresenter


def plan_waiting_since(record: PlanRecord) -> datetime:
    """When the plan began to wait, if forest said; else when the bot took it up."""
    return forest_time_or_claim(record.stage.waiting_since, record.claimed_at)


class PendingPlans:
    def __init__(
        self,
        open_plans: OpenPlans,
        store: PlanStore,
        presenter: PlanPresenter,
        permalinks: Permalinks,
    ) -> None:
        self._open = open_plans
        self._store = store
        self._presenter = presenter
        self._permalinks = permalinks

    async def waiting_in(self, organisations: set[str]) -> list[PendingApproval]:
        found: list[PendingApproval] = []
        for key in self._open.waiting():
            stored = await self._store.get(key)
            if stored is None:
                continue
            record = stored.record
            if not record.waiting or record.stage.organisation not in organisations:
                continue
            # The list names the plan; its output (maybe megabytes) stays in the message.
            view = PlanView(
                stage=record.stage, output=None, web_url=self._presenter.web_url(record.stage)
            )
            found.append(
                PendingApproval(
                    view=view,
                    permalink=await self._permalinks.of(record.channel, record.ts),
                    waiting_since=plan_waiting_since(record),
                )
            )
        return found
