"""Casting a person's vote and telling them privately what the message and thread will not.

The one piece that the buttons, the reason modals and the votes typed in a thread share: build
the ballot from the verified request, cast it, answer.
"""

from __future__ import annotations

from blocks.elements import SlackMessage
from blocks.linking import RESUME_ACTION_ID
from blocks.replies import not_linked, notice, vote_failed
from bot.approvals.voting import Ballot, Verdict, VoteKind, VoteResult
from handlers.deps import HandlerDeps
from handlers.payloads import Actor, PendingVote

# What a vote typed in the thread gets on the person's reply once forest recorded it.
REACTIONS = {
    VoteKind.APPROVE: "white_check_mark",
    VoteKind.BYPASS: "white_check_mark",
    VoteKind.REJECT: "x",
}


def ballot_of(actor: Actor, pending: PendingVote, comment: str | None = None) -> Ballot:
    """The person's request to vote: who from the verified request, what from ``pending``."""
    return Ballot(
        team_id=actor.team_id,
        slack_user_id=actor.user_id,
        key=pending.key,
        kind=pending.kind,
        comment=comment,
        channel=pending.channel_id,
        message_ts=pending.message_ts,
    )


async def cast_and_answer(
    deps: HandlerDeps,
    actor: Actor,
    pending: PendingVote,
    comment: str | None = None,
    reply_ts: str | None = None,
) -> None:
    """Cast the vote; tell the person privately when the message will not say it all.

    A vote typed in the thread names the person's reply (``reply_ts``): a recorded vote gets a
    reaction on it, and any answer goes in the thread.
    """
    result = await deps.votes.cast(ballot_of(actor, pending, comment))
    counted = result.verdict in (Verdict.RECORDED, Verdict.RECORDED_UNSHOWN)
    recorded = REACTIONS[pending.kind] if counted else None
    await answer_privately(
        deps,
        actor,
        pending.channel_id,
        pending.message_ts,
        private_answer(result, pending),
        reply_ts=reply_ts,
        recorded=recorded,
    )


async def answer_privately(
    deps: HandlerDeps,
    actor: Actor,
    channel: str,
    message_ts: str,
    answer: SlackMessage | None,
    *,
    reply_ts: str | None = None,
    recorded: str | None = None,
) -> None:
    """Tell the person how their vote or decision on the message at (``channel``,
    ``message_ts``) went: ``answer`` only they see, or, for one typed as the thread reply
    ``reply_ts`` and recorded, the reaction ``recorded`` on that reply."""
    if reply_ts is not None and recorded is not None:
        await deps.answers.react(channel, reply_ts, recorded)
    if answer is not None:
        thread_ts = message_ts if reply_ts is not None else None
        await deps.answers.ephemeral(channel, actor.user_id, answer, thread_ts=thread_ts)


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
            sentence = f"{result.silent}, so your vote was *NOT* recorded."
            return vote_failed(RESUME_ACTION_ID, pending.encode(), sentence=sentence)
        case _:
            # REFUSED, UNCHANGED, and RECORDED_UNSHOWN (the message does not show the vote yet).
            return notice(result.sentence)
