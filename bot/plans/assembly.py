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
from bot.plans.plan import PlanKey
from bot.plans.plan_store import PlanRecord, PlanStore
from bot.plans.presenter import PlanPresenter
from bot.runtime.keyed_locks import KeyedLocks
from bot.runtime.metrics import Metrics
from bot.runtime.tasks import TaskSet
from bot.slack.outbox import Outbox
from bot.slack.web import SlackWeb


@dataclass(frozen=True)
class Plans:
    store: PlanStore
    open: OpenPlans
    presenter: PlanPresenter
    announcer: PlanAnnouncer
    keeper: PlanKeeper
    decisions: PlanDecisions
    # The thread replies plan records owe, posted and taken over as an approval's are.
    outbox: Outbox[PlanKey, PlanRecord]

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
    tasks: TaskSet,
    reply_grace: float,
) -> Plans:
    store = PlanStore(bucket)
    presenter = PlanPresenter(forest, people, forest_web_url)
    index = OpenPlans(store)
    # One write of a plan's record at a time in this process: the keeper's and the outbox's.
    locks = KeyedLocks()
    outbox = Outbox(store, web, owner, index, locks, tasks, grace=reply_grace)
    keeper = PlanKeeper(store, presenter, web, forest, outbox, locks)
    return Plans(
        store=store,
        open=index,
        presenter=presenter,
        announcer=PlanAnnouncer(store, router, presenter, web, owner, claim_timeout=claim_timeout),
        keeper=keeper,
        decisions=PlanDecisions(store, forest, linking, keeper, presenter, metrics),
        outbox=outbox,
    )
