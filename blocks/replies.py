"""Thread replies under the approval message, and private (ephemeral) answers to one person."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.approval import ApprovalView, Decision, Outcome, Vote

from .approval_message import outcome_headline, plural
from .elements import (
    MAX_SECTION_TEXT,
    MAX_TEXT,
    SlackMessage,
    actions,
    answer,
    button,
    context,
)
from .release import author_of
from .text import as_utc, clip, escape, fit, link, one_line, person, slack_date, truncate

COMMENT_CHARS = 2000
NOT_LINKED = (
    "You're not linked to forest yet. Link your account once, and your votes go to forest as you."
)
APPROVERS_NAMED = 10

LINK_ACTION_ID = "link_start"
WHEN = "{date_short_pretty} at {time}"


def _comment(text: str | None) -> str:
    """A person's comment for a thread reply: escaped, cut, line breaks kept."""
    return clip((text or "").strip().replace("\r\n", "\n"), COMMENT_CHARS)


def _reply(text: str) -> str:
    return fit(text, MAX_TEXT)


# Thread replies


def approved_reply(
    slack_user_id: str | None, comment: str | None = None, *, username: str = ""
) -> str:
    """✅ <@U> approved, with the comment when there is one."""
    text = f"✅ {person(slack_user_id, username)} approved"
    if _comment(comment):
        text += f": {_comment(comment)}"
    return _reply(text)


def rejected_reply(
    slack_user_id: str | None, comment: str | None = None, *, username: str = ""
) -> str:
    """❌ <@U> rejected: needs more load testing."""
    text = f"❌ {person(slack_user_id, username)} rejected"
    if _comment(comment):
        text += f": {_comment(comment)}"
    return _reply(text)


def bypassed_reply(slack_user_id: str | None, reason: str, *, username: str = "") -> str:
    """⚠️ <@U> approved their own release as an org admin (bypass), one approval: hotfix."""
    text = (
        f"⚠️ {person(slack_user_id, username)} approved their own release as an org admin"
        " (bypass); it counts as one approval"
    )
    if _comment(reason):
        text += f": {_comment(reason)}"
    return _reply(text)


def vote_changed_reply(
    slack_user_id: str | None, vote: Vote, comment: str | None = None, *, username: str = ""
) -> str:
    """✅ <@U> changed their vote to approve, with the comment when there is one."""
    if vote == Vote.APPROVED:
        text = f"✅ {person(slack_user_id, username)} changed their vote to approve"
    else:
        text = f"❌ {person(slack_user_id, username)} changed their vote to reject"
    if _comment(comment):
        text += f": {_comment(comment)}"
    return _reply(text)


def join_names(names: Sequence[str], limit: int = APPROVERS_NAMED) -> str:
    """Names as a sentence: A; A and B; A, B and C; past ``limit``, A, B, … and 5 others."""
    names = list(names)
    if len(names) > limit:
        rest = len(names) - limit
        names = [*names[:limit], plural(rest, "other")]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _author(view: ApprovalView) -> str:
    """The release author as a mention or forest username; "" when the event named nobody."""
    return author_of(view.request.release.author, view.slack_users)


def approved_summary(view: ApprovalView) -> str:
    """✅ Approved by <@B> and <@C>. <@A>, your release is on its way."""
    decisions = view.state.decisions if view.state is not None else ()
    approvers = [
        person(view.slack_users.get(d.user_id), d.username)
        for d in decisions
        if d.decision == Vote.APPROVED
    ]
    text = f"✅ Approved by {join_names(approvers)}." if approvers else "✅ Approved."
    author = _author(view)
    if author:
        text += f" {author}, your release is on its way."
    else:
        text += " The release is on its way."
    return _reply(text)


def rejected_notice(view: ApprovalView, decision: Decision) -> str:
    """ "❌ <@C> rejected: why", then a line telling the author what the release still needs."""
    first = rejected_reply(
        view.slack_users.get(decision.user_id), decision.comment, username=decision.username
    )
    env = clip(one_line(view.request.target_environment), 60)
    author = _author(view)
    if view.state is not None and not view.state.approved:
        missing = view.state.required_approvals - view.state.current_approvals
        needs = f"still needs {plural(missing, 'more approval')}"
    else:
        needs = "was rejected"
    second = f"{author}, your release to {env} {needs}." if author else ""
    if not second:
        return first
    # The first line is cut on its own so the author is always told.
    return _reply(fit(first, MAX_TEXT - len(second) - 1) + "\n" + second)


def outcome_reply(
    outcome: Outcome, environment: str, *, at: datetime | None = None, web_url: str = ""
) -> str:
    """🚀 Deployed to production · Today at 10:42; other outcomes link to forage."""
    parts = [escape(outcome_headline(outcome, environment))]
    if at is not None:
        parts.append(slack_date(at, fmt=WHEN))
    if outcome != Outcome.SUCCEEDED and web_url:
        parts.append(link(web_url, "View in forage"))
    return _reply(" · ".join(parts))


def duration(seconds: float) -> str:
    """How long, roughly: less than a minute, 12 min, 2 h 5 min, 3 days."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return plural(hours // 24, "day")


def _parse_time(value: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def reminder_reply(view: ApprovalView, now: datetime) -> str:
    """⏰ Still needs 1 more approval (1 of 2). Waiting since Today at 10:15 (2 h)."""
    required = view.request.required_approvals
    current = 0
    if view.state is not None:
        required = view.state.required_approvals or required
        current = view.state.current_approvals
    missing = max(required - current, 0)
    text = f"⏰ Still needs {plural(missing, 'more approval')} ({current} of {required})."
    since = _parse_time(view.request.blocked_at) if view.request.blocked_at else None
    if since is not None:
        text += f" Waiting since {slack_date(since, fmt=WHEN)}"
        waited = (as_utc(now) - since).total_seconds()
        text += f" ({duration(waited)})." if waited >= 0 else "."
    return _reply(text)


# Private answers


def notice(text: str) -> SlackMessage:
    """A short private answer; ``text`` is shown literally (escaped)."""
    return answer(escape(truncate(text.strip(), MAX_SECTION_TEXT)))


def not_linked(pending_action: str, sentence: str = "") -> SlackMessage:
    """Asks the person to link their forest account; the button carries what they were doing.

    ``sentence`` says why, when there is more to say than "not linked yet" (a login that expired
    asks to link again); it is shown literally.
    """
    why = escape(truncate(sentence.strip(), MAX_SECTION_TEXT)) if sentence.strip() else ""
    return answer(
        why or NOT_LINKED,
        actions(button("Link your forest account", LINK_ACTION_ID, pending_action, "primary")),
    )


VOTE_NOT_RECORDED = "Forest didn't answer, so your vote was *NOT* recorded."


def vote_failed(
    retry_action_id: str,
    retry_value: str,
    *,
    now: datetime | None = None,
    sentence: str = VOTE_NOT_RECORDED,
) -> SlackMessage:
    """Forest did not answer: say plainly what that means, and offer to try again."""
    blocks: list[dict[str, Any]] = [actions(button("Try again", retry_action_id, retry_value))]
    if now is not None:
        blocks.append(context(f"Tried {slack_date(now, fmt=WHEN)}"))
    return answer(sentence, *blocks)
