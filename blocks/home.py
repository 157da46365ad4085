"""The app's Home tab: the approvals waiting for the person's vote."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.approval import PendingApproval

from .elements import context, header, section
from .pending import NOT_LINKED_FOR_LIST, headline, pending_entry
from .replies import WHEN
from .text import escape, slack_date, truncate

# A Home tab holds 100 blocks; six of them frame the list.
LISTED_AT_HOME = 90
HOME_TITLE = "Waiting for your vote"
FOOTER = "`/forest pending` shows this list anywhere · `/forest help` for everything else"


def _view(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "home", "blocks": list(blocks)}


_DIVIDER: dict[str, Any] = {"type": "divider"}


def home_view(items: Sequence[PendingApproval], now: datetime) -> dict[str, Any]:
    """The open approvals in the person's organisations that they have not voted on."""
    listed = [section(pending_entry(item), verbatim=True) for item in items[:LISTED_AT_HOME]]
    hidden = len(items) - LISTED_AT_HOME
    if hidden > 0:
        listed.append(context(f"…and {hidden} more, longest waiting first above."))
    if not listed:
        listed = [section("Nothing is waiting for your vote right now.")]
    return _view(
        header(HOME_TITLE),
        context(
            f"{headline(len(items))} Releases in your organisations that you have not voted on"
            f" and did not write. Updated {slack_date(now, fmt=WHEN)}."
        ),
        _DIVIDER,
        *listed,
        _DIVIDER,
        context(FOOTER),
    )


def home_not_linked() -> dict[str, Any]:
    return _view(
        header(HOME_TITLE),
        section(
            f"{NOT_LINKED_FOR_LIST} Run `/forest login` to link your account once;"
            " your votes then count as yours."
        ),
    )


def home_unavailable(sentence: str) -> dict[str, Any]:
    """Forest could not say what waits; the sentence says why."""
    return _view(
        header(HOME_TITLE),
        section(
            f"I can't show the list right now: {escape(truncate(sentence.strip(), 500))}"
            " Open this tab again in a moment."
        ),
    )
