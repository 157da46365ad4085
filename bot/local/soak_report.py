"""What a soak run saw: the counts it prints and the promises they decide."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SoakReport:
    events: int
    announcements: int = 0
    messages: int = 0
    # Each (intent, environment) has one message.
    approvals_with_two_messages: list[str] = field(default_factory=list)
    approvals_without_message: list[str] = field(default_factory=list)
    # Every attempt to vote (a click, a reply in the thread, a press of Try again) ends in one
    # of: recorded in forest, or the person told privately that it was NOT recorded.
    votes_attempted: int = 0
    clicks: int = 0
    thread_replies: int = 0
    tries_again: int = 0
    votes_recorded: int = 0  # attempts that ended with forest holding the vote
    votes_confirmed: int = 0  # ... and the person saw it counted (message, thread or privately)
    votes_told_not_recorded: int = 0  # ... told NOT recorded (and then tried again)
    votes_lost: list[str] = field(default_factory=list)  # neither, within the deadline
    # A "NOT recorded" for a vote forest does hold (the person tries again, forest keeps one).
    told_not_but_recorded: list[str] = field(default_factory=list)
    # Votes (a person on a release) that ended recorded, and those forest recorded once.
    votes_wanted: int = 0
    votes_recorded_once: int = 0
    votes_never_recorded: list[str] = field(default_factory=list)  # gave up trying again
    votes_recorded_twice: list[str] = field(default_factory=list)
    replies_shown_twice: list[str] = field(default_factory=list)
    recorded_unconfirmed: list[str] = field(default_factory=list)
    # A linked person told to link again (their link was lost, e.g. in a refresh race).
    links_lost: list[str] = field(default_factory=list)
    wrong_final: list[str] = field(default_factory=list)
    slow_acks: int = 0  # requests answered after Slack's 3 seconds
    # From a click or reply to forest holding the vote, or to the "NOT recorded" answer.
    slowest_recorded_seconds: float = 0.0
    slowest_not_recorded_seconds: float = 0.0
    token_refreshes: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    votes_under_fault: Counter[str] = field(default_factory=Counter)  # attempts per window
    seconds: float = 0.0
    rate_limited: int = 0  # calls the fake Slack answered 429 by its rate limits

    @property
    def duplicates(self) -> int:
        """A vote recorded twice, an approval with two messages, a reply shown twice."""
        return (
            len(self.votes_recorded_twice)
            + len(self.approvals_with_two_messages)
            + len(self.replies_shown_twice)
        )

    @property
    def ok(self) -> bool:
        return not (
            self.votes_lost
            or self.duplicates
            or self.wrong_final
            or self.approvals_without_message
            or self.votes_never_recorded
            or self.recorded_unconfirmed
            or self.links_lost
        )

    def lines(self) -> list[str]:
        def row(name: str, value: object) -> str:
            return f"{name:<50}{value}"

        return [
            row("events (distinct approvals)", self.events),
            row("announcements published", self.announcements),
            row("messages posted", self.messages),
            row("approvals with no message", len(self.approvals_without_message)),
            row(
                "votes attempted",
                f"{self.votes_attempted} ({self.clicks} clicks, {self.thread_replies} thread"
                f" replies, {self.tries_again} Try again)",
            ),
            row("votes acknowledged as recorded", self.votes_confirmed),
            row(
                "votes recorded exactly once in forest",
                f"{self.votes_recorded_once} of {self.votes_wanted}",
            ),
            row("votes told NOT recorded (then tried again)", self.votes_told_not_recorded),
            row("  of which forest had (told NOT wrongly)", len(self.told_not_but_recorded)),
            row("votes lost (must be 0)", len(self.votes_lost)),
            row(
                "duplicates (must be 0)",
                f"{self.duplicates} (votes recorded twice {len(self.votes_recorded_twice)},"
                f" approvals with two messages {len(self.approvals_with_two_messages)},"
                f" replies shown twice {len(self.replies_shown_twice)})",
            ),
            row("messages not matching forest (must be 0)", len(self.wrong_final)),
            row("recorded, never shown to the voter (must be 0)", len(self.recorded_unconfirmed)),
            row("votes never recorded however often tried (0)", len(self.votes_never_recorded)),
            row("linked people told to link again (must be 0)", len(self.links_lost)),
            row("requests answered after Slack's 3 s", self.slow_acks),
            row(
                "longest wait: recorded / told NOT recorded",
                f"{self.slowest_recorded_seconds:.1f}s / {self.slowest_not_recorded_seconds:.1f}s",
            ),
            row("forest token refreshes", self.token_refreshes),
            row("calls past Slack's rate limits", self.rate_limited),
            row(
                "faults injected",
                ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items())),
            ),
            row(
                "votes attempted during each fault",
                ", ".join(f"{name} {n}" for name, n in sorted(self.votes_under_fault.items())),
            ),
            row("took", f"{self.seconds:.1f}s"),
            *(f"  lost: {vote}" for vote in self.votes_lost[:5]),
            *(f"  told NOT but recorded: {vote}" for vote in self.told_not_but_recorded[:5]),
            *(f"  never recorded: {vote}" for vote in self.votes_never_recorded[:5]),
            *(f"  recorded twice: {vote}" for vote in self.votes_recorded_twice[:5]),
            *(f"  reply shown twice: {reply}" for reply in self.replies_shown_twice[:5]),
            *(f"  unconfirmed: {vote}" for vote in self.recorded_unconfirmed[:5]),
            *(f"  link lost: {link}" for link in self.links_lost[:5]),
            *(f"  not matching: {message}" for message in self.wrong_final[:5]),
            row("RESULT", "ok" if self.ok else "BROKEN PROMISES"),
        ]
