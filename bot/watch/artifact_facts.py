"""What a release is, from forest's artifact: title, description, links, commit and branch.

An intent names only its ``artifact_id``; forest lists a project's artifacts in one call
(``GetArtifactsByProject``, not paged), so the answer is kept: an artifact never changes once
annotated. A project is read again on a miss (a new release); an artifact forest did not list
is asked for again at most once per ``reread_after`` seconds, so a missing one costs little
while every new one is read at once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from bot.approval import Release
from bot.forest.client import ForestClient, ProjectRef
from bot.forest.errors import ForestError
from bot.forest.releases import Artifact, ReleaseIntent

log = logging.getLogger(__name__)

ARTIFACTS_KEPT = 5000
REREAD_AFTER_SECONDS = 10.0


class ArtifactFacts:
    def __init__(
        self,
        forest: ForestClient,
        kept: int = ARTIFACTS_KEPT,
        reread_after: float = REREAD_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._forest = forest
        self._kept = kept
        self._reread_after = reread_after
        self._clock = clock
        self._artifacts: OrderedDict[str, Artifact] = OrderedDict()
        # artifact id -> when a read of its project did not list it
        self._missed: OrderedDict[str, float] = OrderedDict()

    async def release(self, organisation: str, intent: ReleaseIntent) -> Release:
        """The release's facts; only its artifact id when forest cannot say more (a message
        with what is known beats none)."""
        artifact = await self._artifact(ProjectRef(organisation, intent.project), intent)
        if artifact is None:
            return Release(artifact_id=intent.artifact_id)
        return release_of(artifact)

    async def _artifact(self, project: ProjectRef, intent: ReleaseIntent) -> Artifact | None:
        known = self._artifacts.get(intent.artifact_id)
        if known is not None:
            self._artifacts.move_to_end(intent.artifact_id)
            return known
        missed_at = self._missed.get(intent.artifact_id)
        if missed_at is not None and self._clock() - missed_at < self._reread_after:
            return None
        try:
            artifacts = await self._forest.artifacts_of_project(project)
        except ForestError as error:
            self._note_missed(intent.artifact_id)
            log.warning(
                "could not read the release's artifact: %s",
                error.sentence,
                extra={"release_intent_id": intent.release_intent_id},
            )
            return None
        for artifact in artifacts:
            self._artifacts[artifact.artifact_id] = artifact
            self._artifacts.move_to_end(artifact.artifact_id)
        while len(self._artifacts) > self._kept:
            self._artifacts.popitem(last=False)
        found = self._artifacts.get(intent.artifact_id)
        if found is None:
            self._note_missed(intent.artifact_id)
            log.warning(
                "forest lists no artifact %s for the release",
                intent.artifact_id,
                extra={"release_intent_id": intent.release_intent_id},
            )
        return found

    def _note_missed(self, artifact_id: str) -> None:
        self._missed[artifact_id] = self._clock()
        self._missed.move_to_end(artifact_id)
        while len(self._missed) > self._kept:
            self._missed.popitem(last=False)


def release_of(artifact: Artifact) -> Release:
    source = artifact.source
    return Release(
        slug=artifact.slug,
        artifact_id=artifact.artifact_id,
        title=artifact.title,
        description=artifact.description or "",
        # The message links to the release's page in forage (FOREST_WEB_URL and the slug).
        web_url="",
        commit_sha=artifact.ref.commit_sha,
        commit_branch=artifact.ref.branch or "",
        # Forest does not say who released; the artifact's source is who annotated it.
        author=None,
        annotated_by=annotated_by(artifact),
        pr_url=artifact.pr or "",
        run_url=source.run_url or "",
        link_url=artifact.web or "",
    )


def annotated_by(artifact: Artifact) -> str:
    """Who annotated the artifact as forest recorded it: a person or a CI app, and how."""
    source = artifact.source
    who = (source.user or source.email or "").strip()
    kind = (source.source_type or "").strip()
    if who and kind:
        return f"{who} ({kind})"
    return who or kind
