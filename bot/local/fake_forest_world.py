"""The fake forest's organisations, people, projects, policies and votes, and forest's rules.

The rules and their order follow forest's PolicyService: who may vote, which errors come first,
and how a vote is stored (one per intent, environment and user; a new one replaces the old and
moves to the end, because forest orders decisions by their time).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc

from bot.local.fake_forest_records import (
    APPROVED,
    DECISIONS,
    ROLES,
    Actor,
    ApprovalSnapshot,
    Decision,
    ForestError,
    Organisation,
    Policy,
    Project,
    ReleaseIntent,
    User,
)

# (organisation, project) as named in a request; None when the request left `project` out.
ProjectRef = tuple[str, str] | None


class ForestWorld:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.organisations: dict[str, Organisation] = {}
        self.users: dict[str, User] = {}
        self.roles: dict[tuple[str, str], str] = {}
        self.projects: dict[tuple[str, str], Project] = {}
        self.policies: list[Policy] = []
        self.intents: dict[str, ReleaseIntent] = {}
        self.decisions: dict[tuple[str, str], list[Decision]] = {}

    # seeding

    def add_organisation(self, name: str, organisation_id: str | None = None) -> Organisation:
        org = Organisation(organisation_id or str(uuid.uuid4()), name, self._clock())
        self.organisations[name] = org
        return org

    def add_user(
        self,
        username: str,
        email: str | None = None,
        user_id: str | None = None,
        email_verified: bool = True,
    ) -> User:
        user = User(user_id or str(uuid.uuid4()), username, [email] if email else [])
        if email and not email_verified:
            user.unverified.add(email)
        self.users[username] = user
        return user

    def add_member(self, organisation: str, username: str, role: str = "member") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self._organisation(organisation)
        self._user(username)
        self.roles[(organisation, username)] = role

    def remove_member(self, organisation: str, username: str) -> None:
        self.roles.pop((organisation, username), None)

    def add_project(self, organisation: str, name: str) -> Project:
        self._organisation(organisation)
        project = Project(str(uuid.uuid4()), organisation, name)
        self.projects[(organisation, name)] = project
        return project

    def add_policy(
        self,
        organisation: str,
        project: str,
        target_environment: str,
        *,
        name: str,
        required_approvals: int = 1,
        enabled: bool = True,
    ) -> Policy:
        self._project(organisation, project)
        policy = Policy(
            str(uuid.uuid4()),
            organisation,
            project,
            name,
            target_environment,
            required_approvals,
            enabled,
        )
        self.policies.append(policy)
        return policy

    def add_release_intent(
        self, organisation: str, project: str, author: str | None, intent_id: str | None = None
    ) -> str:
        self._project(organisation, project)
        if author is not None:
            self._user(author)
        canonical = str(uuid.UUID(intent_id)) if intent_id else str(uuid.uuid4())
        self.intents[canonical] = ReleaseIntent(
            canonical, organisation, project, author, created_at=self._clock()
        )
        return canonical

    # lookups

    def organisation(self, name: str) -> Organisation:
        return self._organisation(name)

    def project(self, organisation: str, name: str) -> Project:
        return self._project(organisation, name)

    def authorize(self, actor: Actor, organisation: str) -> None:
        """Forest's require_org_access: the org exists, and the actor is a member of it or an
        app scoped to it."""
        self._authorize(actor, organisation)

    def user_by_id(self, user_id: str) -> User | None:
        return next((u for u in self.users.values() if u.user_id == user_id), None)

    def user_by_email(self, email: str) -> User | None:
        wanted = email.casefold()
        return next(
            (u for u in self.users.values() if wanted in (e.casefold() for e in u.emails)), None
        )

    def memberships(self, username: str, role: str = "") -> list[tuple[Organisation, str]]:
        """The organisations `username` belongs to, with the role, by name."""
        found = [
            (self.organisations[org], held)
            for (org, member), held in self.roles.items()
            if member == username and (not role or held == role)
        ]
        return sorted(found, key=lambda pair: pair[0].name)

    # forest's rules

    def cast_vote(
        self,
        actor: Actor,
        project: ProjectRef,
        release_intent_id: str,
        target_environment: str,
        decision: str,
        *,
        comment: str | None = None,
        force_bypass: bool = False,
    ) -> tuple[str, ApprovalSnapshot]:
        """Record a vote; returns the canonical intent id and the state after it."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
        if actor.kind != "user":
            verb = "approve" if decision == APPROVED else "reject"
            raise ForestError(grpc.StatusCode.PERMISSION_DENIED, f"only users can {verb} releases")
        found = self._authorized_project(actor, project)
        intent_id = _parse_intent_id(release_intent_id)
        # Forest checks authorship on approve only: an author may reject their own intent.
        if decision == APPROVED and not force_bypass:
            self._refuse_author(intent_id, actor.name)
        policy = self._approval_policy(found, target_environment)
        self._record(intent_id, target_environment, self._user(actor.name), decision, comment)
        return intent_id, self.snapshot(intent_id, target_environment, policy)

    def read_state(
        self, actor: Actor, project: ProjectRef, release_intent_id: str, target_environment: str
    ) -> ApprovalSnapshot:
        found = self._authorized_project(actor, project)
        intent_id = _parse_intent_id(release_intent_id)
        policy = self._approval_policy(found, target_environment)
        # Like forest, an unknown intent reads as one without votes.
        return self.snapshot(intent_id, target_environment, policy)

    def snapshot(self, intent_id: str, target_environment: str, policy: Policy) -> ApprovalSnapshot:
        entries = tuple(self.decisions.get((intent_id, target_environment), ()))
        approvals = sum(1 for d in entries if d.decision == APPROVED)
        return ApprovalSnapshot(policy.required_approvals, approvals, entries)

    def intent(self, intent_id: str) -> ReleaseIntent:
        canonical = str(uuid.UUID(intent_id))
        if canonical not in self.intents:
            raise KeyError(f"no release intent {intent_id}; add_release_intent first")
        return self.intents[canonical]

    def approval_policy_of(self, intent_id: str, target_environment: str) -> Policy:
        intent = self.intent(intent_id)
        project = self._project(intent.organisation, intent.project)
        return self._approval_policy(project, target_environment)

    def _authorized_project(self, actor: Actor, project: ProjectRef) -> Project:
        if project is None:
            raise ForestError(grpc.StatusCode.INTERNAL, "project is required")
        organisation, name = project
        self._authorize(actor, organisation)
        found = self.projects.get((organisation, name))
        if found is None:
            raise ForestError(grpc.StatusCode.INTERNAL, "resolve project")
        return found

    def _authorize(self, actor: Actor, organisation: str) -> None:
        if organisation not in self.organisations:
            raise ForestError(grpc.StatusCode.NOT_FOUND, "organisation not found")
        if actor.kind == "app":
            if actor.name != organisation:
                raise ForestError(
                    grpc.StatusCode.PERMISSION_DENIED, "app is not scoped to this organisation"
                )
            return
        if (organisation, actor.name) not in self.roles:
            raise ForestError(
                grpc.StatusCode.PERMISSION_DENIED, "not a member of this organisation"
            )

    def _refuse_author(self, intent_id: str, username: str) -> None:
        intent = self.intents.get(intent_id)
        if intent is not None and intent.author == username:
            raise ForestError(
                grpc.StatusCode.PERMISSION_DENIED, "cannot approve your own release intent"
            )

    def _approval_policy(self, project: Project, target_environment: str) -> Policy:
        for policy in self.policies:
            if (
                policy.enabled
                and (policy.organisation, policy.project) == (project.organisation, project.name)
                and policy.target_environment == target_environment
            ):
                return policy
        raise ForestError(grpc.StatusCode.NOT_FOUND, "no approval policy found for environment")

    def _record(
        self,
        intent_id: str,
        target_environment: str,
        user: User,
        decision: str,
        comment: str | None,
    ) -> None:
        if intent_id not in self.intents:
            # forest's insert fails on the foreign key to release_intents
            raise ForestError(grpc.StatusCode.INTERNAL, "record approval decision")
        entries = self.decisions.setdefault((intent_id, target_environment), [])
        entries[:] = [d for d in entries if d.user_id != user.user_id]
        entries.append(Decision(user.user_id, user.username, decision, self._clock(), comment))

    def _organisation(self, name: str) -> Organisation:
        if name not in self.organisations:
            raise KeyError(f"no organisation {name!r}; add_organisation first")
        return self.organisations[name]

    def _user(self, username: str) -> User:
        if username not in self.users:
            raise KeyError(f"no user {username!r}; add_user first")
        return self.users[username]

    def _project(self, organisation: str, name: str) -> Project:
        if (organisation, name) not in self.projects:
            raise KeyError(f"no project {organisation}/{name}; add_project first")
        return self.projects[(organisation, name)]


def _parse_intent_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ForestError(grpc.StatusCode.INTERNAL, "invalid release_intent_id") from None
