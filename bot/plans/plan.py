"""The plan domain: a PLAN stage of a forest pipeline that waits for a person's decision.

Plain dataclasses, like ``bot.approval``: nothing outside the forest client sees protobuf types.
A plan stage has no votes: one decision, by any member of the organisation, ends it.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.approval import Release


@dataclass(frozen=True)
class PlanKey:
    """One plan stage of one release intent."""

    release_intent_id: str
    stage_id: str

    @property
    def token(self) -> str:
        """A form safe for KV keys and button values (stage ids are free text)."""
        stage = base64.urlsafe_b64encode(self.stage_id.encode()).decode().rstrip("=")
        return f"{self.release_intent_id}.{stage}"

    @property
    def log_fields(self) -> dict[str, str]:
        return {"release_intent_id": self.release_intent_id, "stage_id": self.stage_id}

    @classmethod
    def from_token(cls, token: str) -> PlanKey:
        intent, _, stage = token.partition(".")
        if not intent or not stage:
            raise ValueError("not a plan key")
        padded = stage + "=" * (-len(stage) % 4)
        return cls(intent, base64.urlsafe_b64decode(padded.encode()).decode())


@dataclass(frozen=True)
class PlanStage:
    """A plan stage forest reports as waiting for approval, with what is known of its release."""

    organisation: str
    project: str
    release_intent_id: str
    stage_id: str
    environment: str = ""
    release: Release = field(default_factory=Release)
    # RFC 3339: when the plan finished and began to wait, if forest said; else when seen.
    waiting_since: str = ""

    @property
    def key(self) -> PlanKey:
        return PlanKey(self.release_intent_id, self.stage_id)


@dataclass(frozen=True)
class DestinationPlan:
    """The plan of one destination, as ``GetPlanOutput`` gives it."""

    destination_name: str
    plan_output: str
    status: str = ""
    destination_id: str = ""


@dataclass(frozen=True)
class PlanOutput:
    status: str
    destinations: tuple[DestinationPlan, ...] = ()


class Decided(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class PlanDecision:
    """How the plan was decided. Forest does not say who decided, so a decision made in forage
    names nobody; one made from Slack names the person."""

    decided: Decided
    slack_user_id: str = ""
    username: str = ""
    decided_at: datetime | None = None
    reason: str | None = None


class StageEnd(enum.StrEnum):
    """What came of the plan once it was decided."""

    DEPLOYING = "deploying"  # approved; the deploy that follows runs (or waits to)
    APPROVED = "approved"  # approved, and no deploy stage follows it
    DEPLOYED = "deployed"
    DEPLOY_FAILED = "deploy_failed"
    REJECTED = "rejected"  # the stage failed: "plan rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the stage or the intent failed for another reason


FINAL_ENDS = frozenset(
    {
        StageEnd.APPROVED,
        StageEnd.DEPLOYED,
        StageEnd.DEPLOY_FAILED,
        StageEnd.REJECTED,
        StageEnd.CANCELLED,
        StageEnd.FAILED,
    }
)


@dataclass(frozen=True)
class PlanView:
    """Everything the plan message shows; built by services, rendered by ``blocks``."""

    stage: PlanStage
    output: PlanOutput | None  # None: forest could not give the plan (yet)
    decision: PlanDecision | None = None
    end: StageEnd | None = None
    end_at: datetime | None = None
    web_url: str = ""
    # forest user id -> Slack user id, for people the bot knows on both sides
    slack_users: dict[str, str] = field(default_factory=dict)

    @property
    def waiting(self) -> bool:
        return self.decision is None and self.end is None
