"""The one live message per plan stage: what is planned, where, for which release, the plan
itself within Slack's limits, and Approve plan / Reject plan while it waits.

Plan output is anything a tool printed, possibly megabytes: it is only ever shown as escaped
code, cut to fit, with a note and a link to forage where it was cut.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.plans.plan import Decided, DestinationPlan, PlanView, StageEnd
from bot.plans.summary import PlanSummary, clean, summarise

from .approval_message import plural
from .elements import MAX_TEXT, SlackMessage, actions, answer, button, context, header, section
from .release import author_of, commit_of, links_of, name_of
from .replies import duration
from .text import (
    as_utc,
    clip,
    escape,
    fit,
    link,
    one_line,
    person,
    safe_url,
    sanitize,
    slack_date,
    truncate,
)

APPROVE_PLAN_ACTION_ID = "plan_approve"
REJECT_PLAN_ACTION_ID = "plan_reject"
VIEW_PLAN_ACTION_ID = "plan_view"
PLAN_ACTIONS_BLOCK_ID = "plan_actions"

MAX_BLOCKS = 50
# Slack refuses a message whose blocks carry about 12,000 characters in all
# (msg_blocks_too_long); the message stays well below, and the plan text gets what is left.
MESSAGE_TEXT_BUDGET = 10_000
PLAN_TEXT_BUDGET = 7_000
SECTION_CODE_CHARS = 2_900
DESTINATIONS_SHOWN = 8
DOOMED_SHOWN = 10
TITLE_CHARS = 200
DESCRIPTION_CHARS = 300
REASON_CHARS = 500
MIN_CODE_CHARS = 200
WHEN = "{date_short_pretty} at {time}"
# A modal holds 100 blocks; the plan gets most of them.
MODAL_SECTIONS = 90
MODAL_TEXT_BUDGET = 60_000

_FENCE = "```"


def _env(view: PlanView) -> str:
    return truncate(one_line(sanitize(view.stage.environment)), 40) or "its environment"


def _gate(view: PlanView) -> str:
    project = truncate(one_line(sanitize(view.stage.project)), 50)
    env = truncate(one_line(sanitize(view.stage.environment)), 40)
    return f"{project} → {env}" if env else project


def release_name(view: PlanView) -> str:
    return name_of(view.stage.release, view.stage.release_intent_id)


def plan_headline(view: PlanView) -> str:
    """The plain-text header: what state the plan is in, for which project and environment."""
    end, decision = view.end, view.decision
    if end == StageEnd.DEPLOYED:
        return f"🚀 Deployed to {_env(view)}"
    if end == StageEnd.DEPLOY_FAILED:
        return f"💥 Deploy to {_env(view)} failed"
    if end == StageEnd.CANCELLED:
        return f"⏹ Plan for {_gate(view)} cancelled"
    if end == StageEnd.REJECTED or (decision and decision.decided == Decided.REJECTED):
        return f"❌ Plan for {_gate(view)} rejected"
    if end == StageEnd.FAILED:
        return f"💥 Plan for {_gate(view)} failed"
    if decision is not None or end in (StageEnd.DEPLOYING, StageEnd.APPROVED):
        return f"✅ Plan for {_gate(view)} approved"
    return f"📋 Plan for {_gate(view)} needs approval"


def plan_message(view: PlanView) -> SlackMessage:
    """Render the plan message for its current state."""
    blocks: list[dict[str, Any]] = [header(plan_headline(view)), _title(view)]
    fields = _fields(view)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    decision = _decision(view)
    if decision is not None:
        blocks.append(decision)
    summaries = _summaries(view)
    blocks.extend(summaries)
    tail: list[dict[str, Any]] = []
    if view.waiting:
        tail.append(_buttons(view))
    tail.append(_context(view))

    room_blocks = MAX_BLOCKS - len(blocks) - len(tail)
    room_text = min(PLAN_TEXT_BUDGET, MESSAGE_TEXT_BUDGET - text_size(blocks + tail))
    blocks.extend(_plans(view, room_blocks, room_text))
    blocks.extend(tail)
    return SlackMessage(text=_fallback_text(view), blocks=blocks)


def _title(view: PlanView) -> dict[str, Any]:
    title = truncate(release_name(view), TITLE_CHARS)
    text = f"*{link(view.web_url, title)}*"
    description = view.stage.release.description.strip()
    if description:
        text += "\n" + clip(description, DESCRIPTION_CHARS)
    return section(text)


def _fields(view: PlanView) -> list[dict[str, Any]]:
    release = view.stage.release
    pairs = [
        ("Author", author_of(release.author, view.slack_users, or_email=True)),
        # Who annotated the artifact in forest: often a CI app, so it is not called the author.
        ("Annotated by", clip(one_line(release.annotated_by), 200)),
        ("Commit", commit_of(release)),
        ("Release", clip(one_line(release.slug), 200)),
        ("Stage", clip(one_line(view.stage.stage_id), 200)),
        ("Links", links_of(release, view.web_url)),
    ]
    return [
        {"type": "mrkdwn", "text": fit(f"*{label}*\n{value}", 2000)}
        for label, value in pairs
        if value
    ]


def _decision(view: PlanView) -> dict[str, Any] | None:
    decision = view.decision
    if decision is None:
        return None
    verb = "Approved" if decision.decided == Decided.APPROVED else "Rejected"
    who = decision.slack_user_id or decision.username
    line = f"*{verb}*"
    if who:
        line += f" by {person(decision.slack_user_id or None, decision.username)}"
    else:
        line += " in forage"
    if decision.decided_at is not None:
        line += " · " + slack_date(decision.decided_at, fmt=WHEN)
    reason = (decision.reason or "").strip()
    if reason:
        quoted = "\n".join(f"> {part}" for part in clip(reason, REASON_CHARS).split("\n"))
        line += "\n" + quoted
    return section(line)


def _destinations(view: PlanView) -> tuple[DestinationPlan, ...]:
    return view.output.destinations if view.output is not None else ()


def _name(destination: DestinationPlan, index: int) -> str:
    name = one_line(sanitize(destination.destination_name)) or one_line(
        sanitize(destination.destination_id)
    )
    return clip(name, 80) if name else f"Destination {index + 1}"


def summary_line(summary: PlanSummary) -> str:
    """The plan's own summary line as mrkdwn, with destroys marked."""
    if summary.no_changes:
        return "`No changes.`"
    line = f"`{summary.line}`"
    if summary.to_destroy:
        line = f":warning: {line}"
    return line


def _doomed(summary: PlanSummary) -> str:
    if not summary.doomed:
        return ""
    names = []
    for doomed in summary.doomed[:DOOMED_SHOWN]:
        address = clip(one_line(doomed.address).replace("`", "'"), 120)
        names.append(f"`{address}`" + (" (replaced)" if doomed.replaced else ""))
    hidden = len(summary.doomed) - len(names) + summary.doomed_unlisted
    if hidden:
        names.append(f"and {hidden} more")
    return "*Destroys* " + ", ".join(names)


def _summaries(view: PlanView) -> list[dict[str, Any]]:
    """A readable summary of each destination's plan, first of all what it destroys."""
    if view.output is None:
        forage = link(view.web_url, "forage") if safe_url(view.web_url) else "forage"
        return [section(f"_Forest did not give the plan output here; read it in {forage}._")]
    destinations = _destinations(view)
    if not destinations:
        return [section("_The plan has no output._")]
    lines: list[str] = []
    for index, destination in enumerate(destinations[:DESTINATIONS_SHOWN]):
        summary = summarise(destination.plan_output)
        if summary.recognised:
            text = summary_line(summary)
            doomed = _doomed(summary)
            if doomed:
                text += "\n    " + doomed
        elif destination.plan_output.strip():
            count = clean(destination.plan_output).count("\n") + 1
            text = f"{plural(count, 'line')} of output"
        else:
            text = "_no output_"
        lines.append(f"• *{_name(destination, index)}*: {text}" if len(destinations) > 1 else text)
    hidden = len(destinations) - DESTINATIONS_SHOWN
    if hidden > 0:
        lines.append(f"_…and {plural(hidden, 'more destination')} in forage_")
    return [section("*What the plan does*\n" + "\n".join(lines))]


def code(text: str, budget: int) -> tuple[str, int]:
    """``text`` as an escaped mrkdwn code block of at most ``budget`` characters, and how many
    of its lines were left out."""
    lines = clean(text).rstrip("\n").split("\n")
    room = max(budget - 2 * len(_FENCE) - 1, 1)
    shown: list[str] = []
    used = 0
    for line in lines:
        escaped = _code_line(line)
        cost = len(escaped) + (1 if shown else 0)
        if used + cost > room:
            if not shown:
                shown.append(fit(escaped, room))
            break
        shown.append(escaped)
        used += cost
    body = "\n".join(shown) or " "
    return f"{_FENCE}{body}{_FENCE}", len(lines) - len(shown)


def _code_line(line: str) -> str:
    # Three backticks would end the block early: a zero-width space keeps them apart.
    return escape(line.expandtabs(4)).replace("```", "``\u200b`")


def _plans(view: PlanView, room_blocks: int, room_text: int) -> list[dict[str, Any]]:
    """Each destination's plan as code, sharing what room the message has left."""
    destinations = [d for d in _destinations(view)[:DESTINATIONS_SHOWN] if d.plan_output.strip()]
    # Each plan takes a section, and a context when it is cut.
    destinations = destinations[: max(room_blocks // 2, 0)]
    if not destinations or room_text < MIN_CODE_CHARS:
        return []
    headings = [
        f"*{_name(destination, index)}*\n" if len(destinations) > 1 else ""
        for index, destination in enumerate(destinations)
    ]
    needs = [
        _code_size(d.plan_output) + len(h) for d, h in zip(destinations, headings, strict=True)
    ]
    shares = _shares(needs, room_text)
    blocks: list[dict[str, Any]] = []
    cut_any = False
    for destination, heading, need, share in zip(
        destinations, headings, needs, shares, strict=True
    ):
        share = min(share, SECTION_CODE_CHARS)
        if share < min(need, MIN_CODE_CHARS):
            cut_any = True
            continue
        share -= len(heading)
        block, hidden = code(destination.plan_output, share)
        blocks.append(section(heading + block))
        if hidden:
            cut_any = True
            blocks.append(context(f"✂️ {plural(hidden, 'more line')} not shown here."))
    if cut_any and blocks:
        blocks[-1] = context(_cut_note(view, blocks[-1]))
    return blocks


def _cut_note(view: PlanView, last: dict[str, Any]) -> str:
    """The last block's words, with where to read the whole plan."""
    said = last["elements"][0]["text"] if last["type"] == "context" else ""
    where = "*View plan* shows more"
    if safe_url(view.web_url):
        where += f"; the whole plan is in {link(view.web_url, 'forage')}"
    note = f"{said} {where}." if said else f"✂️ The plan is cut. {where}."
    return note


def _code_size(text: str) -> int:
    # Escaping may lengthen the text; a little room on top keeps a plan that fits whole.
    return min(len(text) + len(text) // 8, 4 * SECTION_CODE_CHARS) + 2 * len(_FENCE) + 8


def _shares(sizes: list[int], budget: int) -> list[int]:
    """Split ``budget`` so small plans get what they need and large ones share the rest."""
    shares = [0] * len(sizes)
    left = budget
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for position, index in enumerate(order):
        fair = left // (len(sizes) - position)
        shares[index] = min(sizes[index], fair)
        left -= shares[index]
    return shares


def _buttons(view: PlanView) -> dict[str, Any]:
    token = view.stage.key.token
    return actions(
        button("Approve plan", APPROVE_PLAN_ACTION_ID, token, "primary"),
        button("Reject plan", REJECT_PLAN_ACTION_ID, token),
        button("View plan", VIEW_PLAN_ACTION_ID, token),
        block_id=PLAN_ACTIONS_BLOCK_ID,
    )


def _context(view: PlanView) -> dict[str, Any]:
    env = clip(_env(view), 60)
    at = f" {slack_date(view.end_at, fmt=WHEN)}" if view.end_at is not None else ""
    parts = {
        None: f"Approving lets the release go on to {env}; rejecting stops it.",
        StageEnd.DEPLOYING: f"Deploying to {env}…",
        StageEnd.APPROVED: f"Plan approved{at}.",
        StageEnd.DEPLOYED: f"Deployed{at}",
        StageEnd.DEPLOY_FAILED: f"The deploy failed{at}",
        StageEnd.REJECTED: "Plan rejected: the release stops here.",
        StageEnd.CANCELLED: f"Cancelled{at}",
        StageEnd.FAILED: f"The stage failed{at}",
    }
    text = parts[view.end]
    if view.end is None and view.decision is not None:
        text = "Waiting for forest…"
    if safe_url(view.web_url):
        text += " · " + link(view.web_url, "View in forage")
    return context(text)


def _fallback_text(view: PlanView) -> str:
    title = clip(release_name(view), TITLE_CHARS)
    status = escape(plan_headline(view))
    summaries = [summarise(d.plan_output) for d in _destinations(view)[:DESTINATIONS_SHOWN]]
    known = [s.line for s in summaries if s.recognised]
    said = f" ({escape(' '.join(known))})" if len(known) == 1 else ""
    return fit(f"{status}: {title}{said}", MAX_TEXT)


def text_size(blocks: list[dict[str, Any]]) -> int:
    """How many characters of text ``blocks`` hold, as Slack counts them against its total."""
    total = 0
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            total += len(text.get("text", ""))
        for field in block.get("fields", ()):
            total += len(field.get("text", ""))
        for element in block.get("elements", ()):
            inner = element.get("text")
            if isinstance(inner, dict):
                total += len(inner.get("text", ""))
            elif isinstance(inner, str):
                total += len(inner)
    return total


# The "View plan" modal


def plan_modal(view: PlanView) -> dict[str, Any]:
    """Every destination's plan, as much as a modal holds, with where the rest is."""
    blocks: list[dict[str, Any]] = [section(f"*{clip(release_name(view), TITLE_CHARS)}*")]
    blocks.extend(_summaries(view))
    budget = MODAL_TEXT_BUDGET
    cut = False
    for index, destination in enumerate(_destinations(view)):
        if len(blocks) >= MODAL_SECTIONS or budget < MIN_CODE_CHARS:
            cut = True
            break
        blocks.append(section(f"*{_name(destination, index)}*"))
        rest = clean(destination.plan_output).rstrip("\n")
        if not rest.strip():
            blocks.append(context("_no output_"))
            continue
        while rest and len(blocks) < MODAL_SECTIONS and budget >= MIN_CODE_CHARS:
            chunk, hidden = code(rest, min(SECTION_CODE_CHARS, budget))
            blocks.append(section(chunk))
            budget -= len(chunk)
            lines = rest.split("\n")
            rest = "\n".join(lines[len(lines) - hidden :]) if hidden else ""
        if rest:
            cut = True
    if cut:
        where = link(view.web_url, "forage") if safe_url(view.web_url) else "forage"
        blocks.append(context(f"✂️ The plan is longer than Slack shows; read all of it in {where}."))
    return _modal("Plan", blocks)


def plan_loading_modal() -> dict[str, Any]:
    """Opened at once (the trigger lasts 3 s), then replaced by the plan."""
    return _modal("Plan", [section("_Reading the plan from forest…_")])


def _modal(title: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": truncate(title, 24)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


# Thread replies under the plan message


def _author(view: PlanView) -> str:
    return author_of(view.stage.release.author, view.slack_users)


def plan_decision_reply(view: PlanView) -> str:
    """✅ <@B> approved the plan. <@A>, your release goes on to production. Or the rejection,
    with its reason, and that the release stops."""
    decision = view.decision
    if decision is None:
        return ""
    env = clip(_env(view), 60)
    decider = (
        person(decision.slack_user_id or None, decision.username)
        if decision.slack_user_id or decision.username
        else ""
    )
    author = _author(view)
    if decision.decided == Decided.APPROVED:
        first = (
            f"✅ {decider} approved the plan." if decider else "✅ The plan was approved in forage."
        )
        second = f"{author}, your release goes on to {env}." if author else ""
    else:
        first = (
            f"❌ {decider} rejected the plan" if decider else "❌ The plan was rejected in forage"
        )
        reason = (decision.reason or "").strip()
        first += f": {clip(reason, REASON_CHARS)}" if reason else "."
        second = f"{author}, your release to {env} stops here." if author else ""
    return fit(first + ("\n" + second if second else ""), MAX_TEXT)


def plan_end_reply(view: PlanView) -> str:
    """The stage's end once the deploy after it finished (or the stage ended otherwise); ""
    when the decision reply already says it all."""
    env = clip(_env(view), 60)
    at = f" · {slack_date(view.end_at, fmt=WHEN)}" if view.end_at is not None else ""
    forage = f" · {link(view.web_url, 'View in forage')}" if safe_url(view.web_url) else ""
    return (
        {
            StageEnd.DEPLOYED: f"🚀 Deployed to {env}{at}",
            StageEnd.DEPLOY_FAILED: f"💥 Deploy to {env} failed{at}{forage}",
            StageEnd.CANCELLED: f"⏹ Cancelled{at}{forage}",
            StageEnd.FAILED: f"💥 The plan stage failed{at}{forage}",
        }.get(view.end, "")
        if view.end
        else ""
    )


def plan_reminder_reply(view: PlanView, since: datetime, now: datetime) -> str:
    """⏰ This plan still waits for approve or reject. Waiting since Today at 10:15 (2 h)."""
    text = "⏰ This plan still waits for someone to approve or reject it."
    text += f" Waiting since {slack_date(since, fmt=WHEN)}"
    waited = (as_utc(now) - as_utc(since)).total_seconds()
    text += f" ({duration(waited)})." if waited >= 0 else "."
    return fit(text, MAX_TEXT)


def plan_reminder_dm(
    view: PlanView, since: datetime, now: datetime, permalink: str
) -> SlackMessage:
    """The thread's reminder, told to the release's author with a link to the plan message."""
    title = truncate(one_line(sanitize(release_name(view))), 150)
    about = f"The plan of your release {link(permalink, title)} for {clip(_env(view), 60)}."
    return answer(fit(f"{plan_reminder_reply(view, since, now)}\n{about}", 3000))
