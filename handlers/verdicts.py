"""What a person is told privately after asking to vote."""

from __future__ import annotations

from blocks.elements import SlackMessage
from blocks.replies import not_linked, notice, vote_failed
from bot.approvals.voting import Verdict, VoteResult
from handlers.payloads import PendingVote

RETRY_ACTION_ID = "vote_resume"


def private_answer(result: VoteResult, pending: PendingVote) -> SlackMessage | None:
    """None when the public message and thread already say it all."""
    match result.verdict:
        case Verdict.RECORDED:
            # Recorded, yet not as asked (a bypass that was an ordinary approval): say so.
            return notice(result.sentence) if result.sentence else None
        case Verdict.IN_FLIGHT:
            return None
        case Verdict.NOT_LINKED:
            return not_linked(pending.encode(), result.sentence)
        case Verdict.FAILED:
            return vote_failed(RETRY_ACTION_ID, pending.encode())
        case _:
            return notice(result.sentence)
