"""The release's facts as forest holds them, in place of what an approval event claims.

The event's publisher is trusted less than forest: its title, description, link and commit are
shown only when forest cannot say. Forest can when it lists the intent (an ACTIVE one) and the
artifact it releases; then its artifact's facts replace the event's, all of them, so nothing the
event made up stays beside them. The author stays the event's: forest's artifact names who
annotated it (often a CI app), and the bypass rule asks forest itself who the author is.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.approval import ApprovalRequest, Release
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError
from bot.forest.releases import Artifact

log = logging.getLogger(__name__)


class ReleaseFacts:
    def __init__(self, forest: ForestClient) -> None:
        self._forest = forest

    async def confirmed(self, request: ApprovalRequest) -> ApprovalRequest:
        """``request`` with forest's facts of its release when forest has them."""
        try:
            artifact = await self._artifact_of(request)
        except ForestError as error:
            log.warning(
                "forest could not give the release's facts; showing the event's: %s",
                type(error).__name__,
                extra=request.key.log_fields,
            )
            return request
        if artifact is None:
            return request
        return replace(request, release=_from_forest(artifact, request.release))

    async def _artifact_of(self, request: ApprovalRequest) -> Artifact | None:
        intents = await self._forest.release_intents(request.organisation, request.project)
        intent = next(
            (i for i in intents if i.release_intent_id == request.release_intent_id), None
        )
        if intent is None or not intent.artifact_id:
            return None
        claimed = request.release.slug
        if claimed:
            # The event's slug is a hint: used only when forest says it is this intent's.
            try:
                artifact = await self._forest.artifact_by_slug(claimed)
            except ForestError:
                artifact = None
            if artifact is not None and artifact.artifact_id == intent.artifact_id:
                return artifact
        project = ProjectRef(request.organisation, request.project)
        artifacts = await self._forest.artifacts_of_project(project)
        return next((a for a in artifacts if a.artifact_id == intent.artifact_id), None)


def _from_forest(artifact: Artifact, claimed: Release) -> Release:
    return Release(
        slug=artifact.slug,
        artifact_id=artifact.artifact_id,
        title=artifact.title,
        description=artifact.description or "",
        web_url=artifact.web or "",
        commit_sha=artifact.ref.commit_sha,
        commit_branch=artifact.ref.branch or "",
        author=claimed.author,
    )
