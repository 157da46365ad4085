"""What the fake forest remembers: plain records, the error it answers with, and its clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import grpc
from google.protobuf.message import Message

from bot.local.fake_forest_pipelines import Pipeline

ADMIN = "admin"
MEMBER = "member"
ROLES = (ADMIN, MEMBER)

APPROVED = "approved"
REJECTED = "rejected"
DECISIONS = (APPROVED, REJECTED)

ActorKind = Literal["user", "app"]


class ForestError(Exception):
    """A refusal, answered over gRPC with this status code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


@dataclass
class ManualClock:
    """A clock that only moves when told to, for expiry and rate limit tests."""

    now: float = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Organisation:
    organisation_id: str
    name: str
    created_at: float


@dataclass
class User:
    user_id: str
    username: str
    emails: list[str] = field(default_factory=list)
    # Emails forest has not verified (forest reports them with verified = false).
    unverified: set[str] = field(default_factory=set)


@dataclass
class Project:
    project_id: str
    organisation: str
    name: str


@dataclass
class Policy:
    policy_id: str
    organisation: str
    project: str
    name: str
    target_environment: str
    required_approvals: int
    enabled: bool = True


@dataclass
class ReleaseIntent:
    intent_id: str
    organisation: str
    project: str
    # None when a machine (CI, an app) created the intent.
    author: str | None
    created_at: float = 0.0
    artifact_id: str = ""
    # None for an intent without a release pipeline
    pipeline: Pipeline | None = None
    # ACTIVE, SUCCEEDED or FAILED, as forest's coordinator sets it
    status: str = "ACTIVE"


@dataclass
class Artifact:
    """An annotated artifact (forest's annotation): what a release intent releases."""

    annotation_id: str
    artifact_id: str
    slug: str
    organisation: str
    project: str
    title: str
    created_at: float
    description: str | None = None
    web: str | None = None
    pr: str | None = None
    # who annotated it: often CI, not the person who releases
    source_user: str | None = None
    source_email: str | None = None
    source_type: str | None = None
    run_url: str | None = None
    source_user_id: str | None = None
    commit_sha: str = ""
    branch: str | None = None
    commit_message: str | None = None
    version: str | None = None
    repo_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Decision:
    user_id: str
    username: str
    decision: str
    decided_at: float
    comment: str | None = None

    @property
    def decided_at_rfc3339(self) -> str:
        return rfc3339(self.decided_at)


@dataclass(frozen=True)
class ApprovalSnapshot:
    required_approvals: int
    current_approvals: int
    decisions: tuple[Decision, ...] = ()


@dataclass(frozen=True)
class Actor:
    """Who a bearer token stands for: a user (by username) or an app (by its organisation)."""

    kind: ActorKind
    name: str
    token: str


@dataclass
class ReceivedCall:
    """One gRPC call as the fake received it, whatever the answer was."""

    method: str
    # username for a user, organisation name for an app, None for no or an unknown token
    actor: str | None
    actor_kind: ActorKind | None
    request: Message
    token: str | None = None


def rfc3339(timestamp: float) -> str:
    """Format like forest does (chrono's to_rfc3339 of a UTC time): `+00:00`, 0/3/6 digits."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if moment.microsecond == 0:
        return moment.isoformat(timespec="seconds")
    if moment.microsecond % 1000 == 0:
        return moment.isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="microseconds")
