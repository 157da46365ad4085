"""Blocked releases for the demo: forest announces each one exactly as in production."""

from __future__ import annotations

from dataclasses import dataclass

from bot.local.local_stack import LocalStack

RELEASE_AUTHORS = ("alice", "dave")


@dataclass(frozen=True)
class SampleRelease:
    title: str
    description: str
    slug: str
    commit_sha: str


# Different titles make it easy to tell the messages in the channel apart.
SAMPLES = (
    SampleRelease(
        "fix: retry card captures on timeout (#812)",
        "Retries the capture call twice with jitter.",
        "evidently-assisting-ladybeetle",
        "9f2c1e7",
    ),
    SampleRelease(
        "hotfix: stop double refunds on partial captures (#819)",
        "A partial capture followed by a refund refunded the full amount.",
        "briskly-sorting-heron",
        "4ab09d2",
    ),
    SampleRelease(
        "feat: 3-D Secure challenge for EU cards (#815)",
        "Asks the card issuer for a challenge when the payment is above the SCA limit.",
        "calmly-mending-otter",
        "c71e5aa",
    ),
    SampleRelease(
        "chore: bump grpcio to 1.85 (#821)",
        "Keeps the generated code and the runtime in step.",
        "quietly-tuning-lynx",
        "0d3b8f4",
    ),
)


class SampleReleases:
    """Publishes the next sample release, blocked on the production approval policy."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._published = 0

    async def publish(self, author: str) -> str:
        """Returns the release intent id."""
        if author not in RELEASE_AUTHORS:
            raise ValueError(f"releases in the demo are written by {' or '.join(RELEASE_AUTHORS)}")
        sample = SAMPLES[self._published % len(SAMPLES)]
        self._published += 1
        intent = self._stack.new_release(author=author)
        await self._stack.announce(
            intent,
            author=author,
            title=sample.title,
            description=sample.description,
            slug=sample.slug,
            commit_sha=sample.commit_sha,
        )
        return intent
