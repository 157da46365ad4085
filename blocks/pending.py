"""What waits for a person's vote (``/forest pending``), and the reminder a release's author gets
in a direct message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.approval import ApprovalView, PendingApproval
from bot.plans.plan import PlanView

from .approval_message import plural, release_name
from .elements import (
    BLOCKS_TEXT_BUDGET,
    MAX_SECTION_TEXT,
    MAX_TEXT,
    SlackMessage,
    actions,
    answer,
    button,
    context,
    section,
    text_size,
)
from .plan_message import release_name as plan_release_name
from .replies import LINK_ACTION_ID, WHEN, reminder_reply
from .text import clip, fit, link, one_line, sanitize, slack_date, truncate

# A message holds 50 blocks; the Home tab shows the whole list.
LISTED_IN_MESSAGE = 40
TITLE_CHARS = 150
NAME_CHARS = 60
NOT_LINKED_FOR_LIST = (
    "You're not linked to forest yet, so I can't tell which approvals wait for you."
)


def _name(text: str) -> str:
    return clip(one_line(text), NAME_CHARS)


def release_title(view: ApprovalView) -> str:
    """The release's name as the approval message gives it, as plain text."""
    return truncate(one_line(sanitize(release_name(view))), TITLE_CHARS)


def pending_entry(item: PendingApproval) -> str:
    """*<link|title>* then project → environment in org · votes · author · how long it waits."""
    if isinstance(item.view, PlanView):
        return _plan_entry(item, item.view)
    request = item.view.request
    state = item.view.state
    where = (
        f"{_name(request.project)} → {_name(request.target_environment)}"
        f" in {_name(request.organisation)}"
    )
    if state is not None:
        votes = f"{state.current_approvals} of {state.required_approvals} approvals"
    else:
        votes = f"needs {plural(request.required_approvals, 'approval')}"
    parts = [where, votes]
    author = request.release.author
    if author is not None and author.username:
        parts.append(f"by {clip(one_line(author.username), 80)}")
    parts.append(f"waiting since {slack_date(item.waiting_since, fmt=WHEN)}")
    return f"*{link(item.permalink, release_title(item.view))}*\n" + " · ".join(parts)


def _plan_entry(item: PendingApproval, view: PlanView) -> str:
    """*<link|title>* then 📋 plan for project → environment in org · how long it waits."""
    stage = view.stage
    where = f"📋 plan for {_name(stage.project)} → {_name(stage.environment)}"
    parts = [f"{where} in {_name(stage.organisation)}", "needs approve or reject"]
    parts.append(f"waiting since {slack_date(item.waiting_since, fmt=WHEN)}")
    title = truncate(one_line(sanitize(plan_release_name(view))), TITLE_CHARS)
    return f"*{link(item.permalink, title)}*\n" + " · ".join(parts)


def headline(count: int) -> str:
    if count == 0:
        return "Nothing is waiting for your vote."
    verb = "waits" if count == 1 else "wait"
    return f"{plural(count, 'approval')} {verb} for your vote."


def pending_list(items: Sequence[PendingApproval]) -> SlackMessage:
    """The private answer to ``/forest pending``: as many entries as Slack takes in a message
    (50 blocks, and about 12,000 characters of text in all); the Home tab shows every one."""
    blocks: list[dict[str, Any]] = [section(f"*{headline(len(items))}*")]
    room = BLOCKS_TEXT_BUDGET - text_size(blocks) - len(_more(len(items)))
    for item in items[:LISTED_IN_MESSAGE]:
        entry = section(pending_entry(item), verbatim=True)
        if text_size(entry) > room:
            break
        blocks.append(entry)
        room -= text_size(entry)
    hidden = len(items) - (len(blocks) - 1)
    if hidden > 0:
        blocks.append(context(_more(hidden)))
    return SlackMessage(text=fit(headline(len(items)), MAX_TEXT), blocks=blocks)


def _more(hidden: int) -> str:
    return f"…and {hidden} more: open the app's Home tab for all of them."


def pending_not_linked() -> SlackMessage:
    """Asks the person to link first: which approvals wait depends on their organisations."""
    link = button("Link your forest account", LINK_ACTION_ID, None, "primary")
    return answer(NOT_LINKED_FOR_LIST, actions(link))


def reminder_dm(view: ApprovalView, now: datetime, permalink: str) -> SlackMessage:
    """The thread's reminder, told to the author with a link to the approval message."""
    about = (
        f"Your release {link(permalink, release_title(view))} to"
        f" {_name(view.request.target_environment)} ({_name(view.request.project)})."
    )
    text = fit(f"{reminder_reply(view, now)}\n{about}", MAX_SECTION_TEXT)
    return answer(text)
