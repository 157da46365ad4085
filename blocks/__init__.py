"""Block Kit for the approvals bot: pure functions from domain objects to Slack payloads."""

from .approval_message import approval_message
from .elements import SlackMessage
from .modals import bypass_modal, key_token_of, reason_of, reject_modal
from .replies import (
    approved_reply,
    approved_summary,
    bypassed_reply,
    closed_notice,
    not_admin_notice,
    not_linked,
    notice,
    outcome_reply,
    own_release_notice,
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
    "closed_notice",
    "escape",
    "key_token_of",
    "mention",
    "not_admin_notice",
    "not_linked",
    "notice",
    "outcome_reply",
    "own_release_notice",
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
