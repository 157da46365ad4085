"""The plan objects, built together; ``bot/wiring.py`` makes one ``Plans`` and hands its parts
to the listeners, the loops and the forest watch."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.kv import KeyValue

from bot.approvals.routing import Router
from bot.forest.client import ForestClient
from bot.identity.linking import LinkService
from bot.identity.people import People
from bot.plans.announcer import PlanAnnouncer
from bot.plans.deciding import PlanDecisions
from bot.plans.gates import Facts, PlanGates
from bot.plans.keeper import PlanKeeper
from bot.plans.open_plans import OpenPlans
from bot.plans.plan_store import PlanStore
from bot.plans.presenter import PlanPresenter
from bot.runtime.metrics import Metrics
from bot.slack.web import SlackWeb


@dataclass(frozen=True)
class Plans:
    store: PlanStore
    open: OpenPlans
    presenter: PlanPresenter
    announcer: PlanAnnouncer
    keeper: PlanKeeper
    decisions: PlanDecisions

    def gates(self, facts: Facts) -> PlanGates:
        """The forest watch's handler for plan stages."""
        return PlanGates(self.store, self.open, self.announcer, self.keeper, facts)


def build_plans(
    bucket: KeyValue,
    forest: ForestClient,
    people: People,
    linking: LinkService,
    router: Router,
    web: SlackWeb,
    owner: str,
    forest_web_url: str,
    claim_timeout: float,
    metrics: Metrics,
) -> Plans:
    store = PlanStore(bucket)
    presenter = PlanPresenter(forest, people, forest_web_url)
    keeper = PlanKeeper(store, presenter, web, forest)
    return Plans(
        store=store,
        open=OpenPlans(store),
        presenter=presenter,
        announcer=PlanAnnouncer(store, router, presenter, web, owner, claim_timeout=claim_timeout),
        keeper=keeper,
        decisions=PlanDecisions(store, forest, linking, keeper, presenter, metrics),
    )
