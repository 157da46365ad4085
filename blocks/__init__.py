"""Block Kit for the approvals bot: pure functions from domain objects to Slack payloads."""

from .approval_message import approval_message
from .elements import SlackMessage
from .modals import bypass_modal, key_token_of, reason_of, reject_modal
from .replies import (
    approved_reply,
    approved_summary,
    bypassed_reply,
    not_linked,
    notice,
    outcome_reply,
    rejected_notice,
    rejected_reply,
    reminder_reply,
    vote_changed_reply,
    vote_failed,
)
from .text import escape, mention, slack_date, truncate

__all__ = [
    "SlackMessage",
    "approval_message",
    "approved_reply",
    "approved_summary",
    "bypass_modal",
    "bypassed_reply",
    "escape",
    "key_token_of",
    "mention",
    "not_linked",
    "notice",
    "outcome_reply",
    "reason_of",
    "reject_modal",
    "rejected_notice",
    "rejected_reply",
    "reminder_reply",
    "slack_date",
    "truncate",
    "vote_changed_reply",
    "vote_failed",
]
