"""Text for Slack: escaping, cutting to a length, mentions, links and dates.

Slack's mrkdwn reserves ``&``, ``<`` and ``>``; anything a person typed (titles, comments,
usernames) goes through :func:`escape` so that ``<!channel>`` stays text. Lengths are counted in
Python characters, as Slack counts them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import quote

ELLIPSIS = "…"

_SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
# C0/C1 controls other than tab and newline, and the bidi embedding, override and isolate
# controls, which could make one person's text reorder the words around it.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Characters that only make sense after another one; a cut must not leave them dangling.
_JOINERS = "\u200c\u200d\ufe0e\ufe0f"


def sanitize(text: str) -> str:
    """Drop control characters that have no business in a message (newlines and tabs stay)."""
    return _UNSAFE.sub("", text)


def escape(text: str) -> str:
    """Make ``text`` literal in mrkdwn: no mentions, links or broadcasts hidden inside it."""
    return sanitize(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Collapse newlines and runs of whitespace to single spaces."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with "…" when anything was cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return _cut(text, limit - 1) + ELLIPSIS


def clip(text: str, limit: int) -> str:
    """Sanitize, cut to ``limit`` visible characters, then escape for mrkdwn.

    The escaped result may be longer than ``limit`` (``&`` becomes ``&amp;``), at most five times.
    Use :func:`fit` to hold a composed mrkdwn string to a hard limit.
    """
    return escape(truncate(sanitize(text), limit))


def fit(mrkdwn: str, limit: int) -> str:
    """Cut an already composed mrkdwn string to ``limit`` characters without breaking its markup.

    Never splits an entity such as ``&amp;`` or a ``<…>`` token (mention, link, date).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(mrkdwn) <= limit:
        return mrkdwn
    head = _cut(mrkdwn, limit - 1)
    opened = head.rfind("<")
    if opened > head.rfind(">"):
        head = head[:opened]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:] and len(head) - amp < 6:
        head = head[:amp]
    return head.rstrip() + ELLIPSIS


def _cut(text: str, size: int) -> str:
    """The first ``size`` characters or fewer, never ending inside an emoji or accented letter."""
    end = min(size, len(text))

    def inside_cluster(i: int) -> bool:
        if text[i - 1] == "\u200d":
            return True
        following = text[i] if i < len(text) else ""
        return following != "" and (following in _JOINERS or unicodedata.combining(following) > 0)

    while end > 0 and inside_cluster(end):
        end -= 1
    flags = 0
    while flags < end and "\U0001f1e6" <= text[end - 1 - flags] <= "\U0001f1ff":
        flags += 1
    if flags % 2:
        end -= 1
    return text[:end].rstrip()


def mention(slack_user_id: str) -> str:
    """``<@U123>``: Slack shows the person's current name, and it works across renames."""
    if not _SLACK_ID.fullmatch(slack_user_id):
        raise ValueError(f"not a Slack user id: {slack_user_id!r}")
    return f"<@{slack_user_id}>"


def person(slack_user_id: str | None, username: str = "", fallback: str = "someone") -> str:
    """A mention when the Slack account is known, else the forest username, escaped."""
    if slack_user_id and _SLACK_ID.fullmatch(slack_user_id):
        return mention(slack_user_id)
    name = one_line(sanitize(username))
    return clip(name, 80) if name else escape(fallback)


def safe_url(url: str) -> str:
    """``url`` fit to sit inside ``<…|…>``, or "" when it is not an http(s) URL worth linking."""
    url = url.strip()
    if not re.match(r"https?://[^\s/]", url, re.IGNORECASE):
        return ""
    quoted = quote(sanitize(url), safe=":/?#[]@!$&'()*+,;=%~-._")
    return quoted if len(quoted) <= 2000 else ""


def link(url: str, label: str) -> str:
    """A mrkdwn link with an escaped label; the bare escaped label when the URL is unusable."""
    label = escape(label)
    target = safe_url(url)
    return f"<{target}|{label}>" if target else label


def as_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken to be UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def slack_date(dt: datetime, fallback: str | None = None, *, fmt: str = "{time}") -> str:
    """A time Slack shows in each viewer's own time zone.

    ``fmt`` uses Slack's tokens (``{time}``, ``{date_short_pretty}``, ...). ``fallback`` is what
    clients that cannot format dates show; by default the time in UTC.
    """
    moment = as_utc(dt)
    if fallback is None:
        fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    shown = escape(one_line(fallback)).replace("|", "/")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{shown}>"
