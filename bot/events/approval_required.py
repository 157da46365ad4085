"""Parsing forest's approval-required event.

Anything that is not a usable event raises ``PoisonEvent``: it can never succeed, so it is set
aside instead of being redelivered.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from bot.approval import ApprovalRequest, Author, Release, valid_text

REQUIRED_KEYS = (
    "event_id",
    "organisation",
    "project",
    "release_intent_id",
    "target_environment",
    "required_approvals",
)
SUBJECT_PREFIX = "forest.approval.required"
# Generous bounds: real values are far shorter, and these keep a hostile payload from
# filling our key-value store or Slack messages.
MAX_EVENT_BYTES = 256 * 1024
MAX_NAME_LENGTH = 256


class PoisonEvent(ValueError):
    """The payload can never be processed; the message says why."""


def parse_approval_required(payload: bytes) -> ApprovalRequest:
    if len(payload) > MAX_EVENT_BYTES:
        raise PoisonEvent(f"payload is {len(payload)} bytes, more than {MAX_EVENT_BYTES}")
    try:
        document = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        # ValueError covers bad UTF-8, bad JSON and numbers too long to read.
        raise PoisonEvent(f"payload is not UTF-8 JSON: {str(error)[:200]}") from None
    if not isinstance(document, dict):
        raise PoisonEvent("payload is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise PoisonEvent(f"payload lacks required keys: {', '.join(missing)}")

    required = document["required_approvals"]
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        raise PoisonEvent("required_approvals must be a whole number of at least 1")
    intent_id = _name(document, "release_intent_id")
    try:
        # One spelling per intent ("{…}", "urn:uuid:…", upper case all name the same one).
        intent_id = str(uuid.UUID(intent_id))
    except ValueError:
        raise PoisonEvent("release_intent_id is not a UUID") from None
    # Any name forest allows (up to MAX_NAME_LENGTH): where Slack's ids are shorter, the
    # messages and modals shorten or move the key, never the event.
    environment = _name(document, "target_environment")

    return ApprovalRequest(
        event_id=_name(document, "event_id"),
        organisation=_name(document, "organisation"),
        project=_name(document, "project"),
        release_intent_id=intent_id,
        target_environment=environment,
        required_approvals=required,
        policy_name=_optional_text(document, "policy_name"),
        blocked_at=_optional_text(document, "blocked_at"),
        release=_release(document.get("release")),
    )


def subject_matches(subject: str, organisation: str, project: str) -> None:
    """Raise PoisonEvent unless ``subject`` names the event's own organisation and project.

    Whoever may publish on one organisation's subject must not speak for another: an event on
    ``forest.approval.required.evilcorp.x`` naming ``acme`` would otherwise post into acme's
    channel, and the first event of an intent is the one shown for good.
    """
    expected = f"{SUBJECT_PREFIX}.{organisation}.{project}"
    if subject != expected:
        raise PoisonEvent(
            f"subject {subject[:300]!r} does not match the event's organisation and project "
            f"({expected[:300]!r})"
        )


def _name(document: dict[str, Any], key: str) -> str:
    value = document[key]
    if not isinstance(value, str) or not value.strip():
        raise PoisonEvent(f"{key} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise PoisonEvent(f"{key} is longer than {MAX_NAME_LENGTH} characters")
    if valid_text(value) != value:
        raise PoisonEvent(f"{key} is not valid Unicode text")
    return value.strip()


def _optional_text(document: Any, key: str) -> str:
    if not isinstance(document, dict):
        return ""
    value = document.get(key)
    # Optional fields are shown when present; a value of the wrong type is simply not shown.
    return valid_text(value) if isinstance(value, str) else ""


def _release(document: Any) -> Release:
    if not isinstance(document, dict):
        return Release()
    author = document.get("author")
    return Release(
        slug=_optional_text(document, "slug"),
        artifact_id=_optional_text(document, "artifact_id"),
        title=_optional_text(document, "title"),
        description=_optional_text(document, "description"),
        web_url=_optional_text(document, "web_url"),
        commit_sha=_optional_text(document, "commit_sha"),
        commit_branch=_optional_text(document, "commit_branch"),
        author=(
            Author(
                user_id=_optional_text(author, "user_id"),
                username=_optional_text(author, "username"),
                email=_optional_text(author, "email"),
            )
            if isinstance(author, dict)
            else None
        ),
    )
