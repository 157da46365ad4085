"""The one live message per approval gate: what is released, how the vote stands, what to click."""

from __future__ import annotations

from typing import Any

from bot.approval import ApprovalView, Decision, Outcome, Vote

from .elements import (
    BLOCKS_TEXT_BUDGET,
    MAX_SECTION_TEXT,
    MAX_TEXT,
    SlackMessage,
    actions,
    button,
    context,
    header,
    mrkdwn_text,
    section,
    text_size,
)
from .release import author_of, commit_of, links_of, name_of
from .text import clip, fit, link, one_line, person, safe_url, sanitize, slack_date, truncate

MAX_BLOCKS = 50
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10

TITLE_CHARS = 200
DESCRIPTION_CHARS = 300
COMMENT_CHARS = 200
DECISIONS_SHOWN = 25
VOTE_SECTIONS = 10
BAR_SEGMENTS = 10

ACTIONS_BLOCK_ID = "approval_actions"
APPROVE_ACTION_ID = "approval_approve"
REJECT_ACTION_ID = "approval_reject"
BYPASS_ACTION_ID = "approval_bypass"

_OUTCOME_HEADLINES = {
    Outcome.SUCCEEDED: "🚀 Deployed to {env}",
    Outcome.FAILED: "💥 Deploy to {env} failed",
    Outcome.CANCELLED: "⏹ Cancelled",
    Outcome.TIMED_OUT: "⌛ Timed out",
}
_OUTCOME_SHORT = {
    Outcome.SUCCEEDED: "deployed",
    Outcome.FAILED: "deploy failed",
    Outcome.CANCELLED: "cancelled",
    Outcome.TIMED_OUT: "timed out",
}
_OUTCOME_VERB = {
    Outcome.SUCCEEDED: "Finished",
    Outcome.FAILED: "Failed",
    Outcome.CANCELLED: "Cancelled",
    Outcome.TIMED_OUT: "Timed out",
}


def outcome_headline(outcome: Outcome, environment: str) -> str:
    """The plain-text headline of a finished release: "🚀 Deployed to production", …"""
    env = truncate(one_line(sanitize(environment)), 60)
    return _OUTCOME_HEADLINES[outcome].format(env=env)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def approval_message(view: ApprovalView) -> SlackMessage:
    """Render the approval message for its current state."""
    waiting = view.outcome is None and not (view.state is not None and view.state.approved)

    blocks: list[dict[str, Any]] = [_header(view), _title(view)]
    fields = _fields(view)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    tail: list[dict[str, Any]] = []
    if waiting:
        tail.append(_buttons(view))
    tail.append(_context(view))

    vote_budget = min(VOTE_SECTIONS, MAX_BLOCKS - len(blocks) - len(tail))
    chars_left = BLOCKS_TEXT_BUDGET - text_size(blocks) - text_size(tail)
    blocks.extend(_votes(view, vote_budget, chars_left))
    blocks.extend(tail)
    return SlackMessage(text=_fallback_text(view), blocks=blocks)


def _required(view: ApprovalView) -> int:
    if view.state is not None and view.state.required_approvals > 0:
        return view.state.required_approvals
    return view.request.required_approvals


def _current(view: ApprovalView) -> int:
    return view.state.current_approvals if view.state is not None else 0


def _gate(view: ApprovalView) -> str:
    # Also shown as plain text (the header), where nothing else removes control characters.
    project = truncate(one_line(sanitize(view.request.project)), 50)
    env = truncate(one_line(sanitize(view.request.target_environment)), 40)
    return f"{project} → {env}"


def _header(view: ApprovalView) -> dict[str, Any]:
    if view.outcome is not None:
        text = outcome_headline(view.outcome, view.request.target_environment)
    elif view.state is not None and view.state.approved:
        text = f"✅ {_gate(view)} approved"
    else:
        text = f"🔒 {_gate(view)} needs {plural(_required(view), 'approval')}"
    return header(text)


def release_name(view: ApprovalView) -> str:
    """What the release is called, on one line: its title, else its slug, else a short id."""
    return name_of(view.request.release, view.request.release_intent_id)


def _title(view: ApprovalView) -> dict[str, Any]:
    title = truncate(release_name(view), TITLE_CHARS)
    text = f"*{link(view.web_url, title)}*"
    description = view.request.release.description.strip()
    if description:
        text += "\n" + clip(description, DESCRIPTION_CHARS)
    return section(text, verbatim=True)


def _fields(view: ApprovalView) -> list[dict[str, Any]]:
    release = view.request.release
    pairs = [
        ("Author", author_of(release.author, view.slack_users, or_email=True)),
        # Who annotated the artifact in forest: often a CI app, so it is not called the author.
        ("Annotated by", clip(one_line(release.annotated_by), 200)),
        ("Commit", commit_of(release)),
        ("Policy", clip(one_line(view.request.policy_name), 200)),
        ("Release", clip(one_line(release.slug), 200)),
        ("Links", links_of(release, view.web_url)),
    ]
    return [
        mrkdwn_text(f"*{label}*\n{value}", MAX_FIELD_TEXT, verbatim=True)
        for label, value in pairs
        if value
    ][:MAX_FIELDS]


def progress_bar(current: int, required: int) -> str:
    """A bar like ▰▱: one segment per required vote, scaled down to at most ten segments."""
    required = max(required, 1)
    current = max(current, 0)
    segments = min(required, BAR_SEGMENTS)
    # Full only once enough votes are in: rounding must not make 9 of 10 look done.
    filled = segments if current >= required else min(current * segments // required, segments - 1)
    return "▰" * filled + "▱" * (segments - filled)


def decision_line(decision: Decision, slack_users: dict[str, str], *, bypass: bool = False) -> str:
    """One vote as a mrkdwn line: ✅ @bob approved · 10:17 — “comment”, or for an author's
    bypass ⚠️ @dave bypassed as author · 10:17: “reason”."""
    who = person(slack_users.get(decision.user_id), decision.username)
    if bypass:
        line = f"⚠️ {who} bypassed as author"
    elif decision.decision == Vote.APPROVED:
        line = f"✅ {who} approved"
    else:
        line = f"❌ {who} rejected"
    if decision.decided_at is not None:
        line += " · " + slack_date(decision.decided_at)
    comment = one_line(decision.comment or "")
    if comment:
        line += (": " if bypass else " — ") + f"“{clip(comment, COMMENT_CHARS)}”"
    return fit(line, MAX_SECTION_TEXT)


def _votes(view: ApprovalView, budget: int, chars: int) -> list[dict[str, Any]]:
    """The vote tally and one line per decision, in at most ``budget`` sections holding about
    ``chars`` characters in all. When not every decision fits, the newest are shown and the
    older ones are counted, with a link to forage where all of them are."""
    required = _required(view)
    current = _current(view)
    heading = f"*Votes*  {progress_bar(current, required)}  {current} of {required}"
    bypasses = sum(1 for d in view.state.decisions if view.is_bypass(d)) if view.state else 0
    if bypasses:
        heading += f" ({bypasses} by the author's bypass)"
    if view.state is None:
        heading += "\n_Waiting for forest…_"
        return [section(heading)]
    decisions = view.state.decisions
    if not decisions:
        return [section(heading + "\n_No votes yet._")]

    lines = [
        decision_line(d, view.slack_users, bypass=view.is_bypass(d))
        for d in decisions[-DECISIONS_SHOWN:]
    ]
    room = chars - len(heading) - len(_more_line(view, len(decisions))) - 2
    shown: list[str] = []
    for line in reversed(lines):
        if room < len(line) + 1:
            break
        shown.insert(0, line)
        room -= len(line) + 1
    while True:
        hidden = len(decisions) - len(shown)
        top = [heading, _more_line(view, hidden)] if hidden else [heading]
        chunks = _packed([*top, *shown], budget)
        if chunks is not None:
            return [section(chunk, verbatim=True) for chunk in chunks]
        shown.pop(0)


def _more_line(view: ApprovalView, hidden: int) -> str:
    more = f"_…and {plural(hidden, 'more decision')} before these_"
    target = safe_url(view.web_url)
    if target:
        more += f" · <{target}|See all in forage>"
    return more


def _packed(lines: list[str], sections: int) -> list[str] | None:
    """``lines`` in order, as few sections of at most MAX_SECTION_TEXT as they fill; None when
    they need more than ``sections``."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= MAX_SECTION_TEXT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks if len(chunks) <= max(sections, 1) else None


def _buttons(view: ApprovalView) -> dict[str, Any]:
    token = view.request.key.token
    return actions(
        button("Approve", APPROVE_ACTION_ID, token, "primary"),
        button("Reject", REJECT_ACTION_ID, token),
        button("Bypass (admin)", BYPASS_ACTION_ID, token, "danger"),
        block_id=ACTIONS_BLOCK_ID,
    )


def _context(view: ApprovalView) -> dict[str, Any]:
    forage = link(view.web_url, "View in forage") if safe_url(view.web_url) else ""
    if view.outcome is not None:
        parts = [clip(_gate(view), 200)]
        if view.outcome_at is not None:
            when = slack_date(view.outcome_at, fmt="{date_short_pretty} at {time}")
            parts.append(f"{_OUTCOME_VERB[view.outcome]} {when}")
    elif view.state is not None and view.state.approved:
        parts = ["Deploying…"]
    else:
        parts = ["Only org admins who authored this release can bypass."]
    if forage:
        parts.append(forage)
    return context(" · ".join(parts))


def _fallback_text(view: ApprovalView) -> str:
    if view.outcome is not None:
        status = _OUTCOME_SHORT[view.outcome]
    elif view.state is not None and view.state.approved:
        status = "approved"
    else:
        status = f"{_current(view)} of {plural(_required(view), 'approval')}"
    title = clip(release_name(view), TITLE_CHARS)
    return fit(f"{clip(_gate(view), 200)}: {title} — {status}", MAX_TEXT)
