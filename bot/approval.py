"""The approval domain: what forest asks for, what people decided, how it ended.

Plain dataclasses, so that nothing outside the forest client sees generated protobuf types.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from bot.plans.plan import PlanView


@dataclass(frozen=True)
class ApprovalKey:
    """One approval gate: a release intent waiting on one environment."""

    release_intent_id: str
    target_environment: str

    @property
    def token(self) -> str:
        """A form safe for KV keys and button values (environment names are free text)."""
        env = base64.urlsafe_b64encode(self.target_environment.encode()).decode().rstrip("=")
        return f"{self.release_intent_id}.{env}"

    @property
    def log_fields(self) -> dict[str, str]:
        """How a log line names this approval."""
        return {"release_intent_id": self.release_intent_id, "environment": self.target_environment}

    @classmethod
    def from_token(cls, token: str) -> ApprovalKey:
        intent, _, env = token.partition(".")
        if not intent or not env:
            raise ValueError("not an approval key")
        padded = env + "=" * (-len(env) % 4)
        return cls(intent, base64.urlsafe_b64decode(padded.encode()).decode())


@dataclass(frozen=True)
class Author:
    user_id: str = ""
    username: str = ""
    email: str = ""


@dataclass(frozen=True)
class Release:
    """What is being released. Every field is optional in the event."""

    slug: str = ""
    artifact_id: str = ""
    title: str = ""
    description: str = ""
    web_url: str = ""
    commit_sha: str = ""
    commit_branch: str = ""
    author: Author | None = None
    # From forest's artifact, when the bot found the release in forest itself: who annotated
    # it (often a CI app, not the person who released), and its other links.
    annotated_by: str = ""
    pr_url: str = ""
    run_url: str = ""
    link_url: str = ""

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Release:
        """A release as stored (``dataclasses.asdict`` of one): text fields missing or null are
        empty, and keys this version does not know are ignored."""
        author = document.get("author")
        return cls(
            **{name: str(document.get(name) or "") for name in _RELEASE_TEXT},
            author=Author(**author) if isinstance(author, dict) else None,
        )


_RELEASE_TEXT = tuple(f.name for f in fields(Release) if f.name != "author")


@dataclass(frozen=True)
class ApprovalRequest:
    """Forest's announcement that a release is blocked on an approval policy."""

    event_id: str
    organisation: str
    project: str
    release_intent_id: str
    target_environment: str
    required_approvals: int
    policy_name: str = ""
    blocked_at: str = ""
    release: Release = field(default_factory=Release)
    # The pipeline stage forest holds, when the bot found the block in forest itself: its
    # outcome is that stage's, not the whole intent's.
    stage_id: str = ""

    @property
    def key(self) -> ApprovalKey:
        return ApprovalKey(self.release_intent_id, self.target_environment)


class Vote(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Decision:
    """One person's current vote, as forest reports it."""

    user_id: str
    username: str
    decision: Vote
    decided_at: datetime | None = None
    comment: str | None = None


@dataclass(frozen=True)
class ApprovalState:
    required_approvals: int
    current_approvals: int
    decisions: tuple[Decision, ...] = ()

    @property
    def approved(self) -> bool:
        return self.required_approvals > 0 and self.current_approvals >= self.required_approvals

    def decision_of(self, user_id: str) -> Decision | None:
        return next((d for d in self.decisions if d.user_id == user_id), None)


class Outcome(enum.StrEnum):
    """How a release intent ended, once it has."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


@dataclass(frozen=True)
class ApprovalView:
    """Everything the approval message shows; built by services, rendered by ``blocks``."""

    request: ApprovalRequest
    state: ApprovalState | None
    web_url: str = ""
    outcome: Outcome | None = None
    # forest user id -> Slack user id, for people the bot knows on both sides
    slack_users: dict[str, str] = field(default_factory=dict)
    outcome_at: datetime | None = None
    # forest user ids whose approval is their own, recorded as an admin's bypass
    bypassed: frozenset[str] = frozenset()

    def is_bypass(self, decision: Decision) -> bool:
        """Forest records an author's approval only with ``force_bypass``: an approval by the
        release's author is a bypass, whoever cast it (Slack or forage)."""
        if decision.decision != Vote.APPROVED:
            return False
        author = self.request.release.author
        return decision.user_id in self.bypassed or bool(
            author and author.user_id and author.user_id == decision.user_id
        )


@dataclass(frozen=True)
class PendingApproval:
    """One approval waiting for a person's vote (or a plan for their decision), as their
    pending list shows it."""

    view: ApprovalView | PlanView
    permalink: str
    waiting_since: datetime


def valid_text(text: str) -> str:
    """``text`` with any half of a surrogate pair (JSON can carry one) made "?": the text this
    domain holds goes to forest's protobuf, Slack and our logs, which take only valid UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def release_page(forest_web_url: str, organisation: str, project: str, release: Release) -> str:
    """Where forage shows the release: its own address when forest gave one; else built from
    forest's web address (``FOREST_WEB_URL``); empty when neither is known."""
    if release.web_url:
        return release.web_url
    if not forest_web_url:
        # Without forage's address, the link forest's artifact carries, if any.
        return release.link_url
    base = f"{forest_web_url}/orgs/{quote(organisation)}/projects/{quote(project)}"
    return f"{base}/releases/{quote(release.slug)}" if release.slug else base
