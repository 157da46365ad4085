"""Forest's errors as typed exceptions, each carrying a sentence a person can read.

This is the one place that turns gRPC status codes and forest's messages into words. Forest's own
text (``details``) is read to pick the sentence and logged for operators, but never shown to
people: it can hold anything, a stack trace or an internal address included.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import grpc

log = logging.getLogger(__name__)
# Forest's text as logged: enough to diagnose, bounded against a huge message.
MAX_LOGGED_DETAILS = 500


class Action(enum.StrEnum):
    """What the bot was doing when forest answered, so the sentence fits the moment."""

    VOTE = "vote"
    READ = "read"
    LOGIN = "login"
    REFRESH = "refresh"
    ROLES = "roles"


@dataclass(frozen=True)
class Context:
    action: Action
    organisation: str = ""
    project: str = ""
    environment: str = ""


class ForestError(Exception):
    """Base of all forest failures. ``str(error)`` is the sentence shown to people."""

    retryable = False

    def __init__(
        self, sentence: str, code: grpc.StatusCode | None = None, details: str = ""
    ) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.code = code
        self.details = details


class ForestUnavailable(ForestError):
    """Forest did not answer in time; trying again may work."""

    retryable = True


class ForestPermissionDenied(ForestError):
    pass


class ForestNotFound(ForestError):
    pass


class ForestUnauthenticated(ForestError):
    """The token was refused: the person must log in again (or the app token is wrong)."""


class ForestRejectedRequest(ForestError):
    """Forest found the request itself wrong (bad id, missing project)."""


_OWN_RELEASE = "cannot approve your own release"
_ONLY_USERS = "only users can approve"
_NO_POLICY = "no approval policy"


def refuses_own_release(error: ForestError) -> bool:
    """Forest's refusal of the author's own approval without ``force_bypass``: the only proof
    of authorship the bot has."""
    return isinstance(error, ForestPermissionDenied) and _OWN_RELEASE in error.details.lower()


def translate(error: grpc.aio.AioRpcError, context: Context, logged: bool = True) -> ForestError:
    """The error as the sentence a person reads; forest's own text goes to the log (unless
    ``logged`` is False: a probe that expects an error)."""
    code = error.code()
    details = error.details() or ""
    translated = _translate(code, details, context)
    if not logged:
        return translated
    log.log(
        _level_of(code, details, context),
        "forest refused a %s call: %s",
        context.action.value,
        code.name,
        extra={
            "forest_code": code.name,
            "forest_details": details[:MAX_LOGGED_DETAILS],
            "organisation": context.organisation,
            "project": context.project,
            "environment": context.environment,
        },
    )
    return translated


def _level_of(code: grpc.StatusCode, details: str, context: Context) -> int:
    """Refusals that are forest's answers, not faults an operator should look at: NOT_FOUND
    for a policy read (the environment has no approval policy; asked for every stage forest
    runs), and a refused own approval (the author is told, and a bypass asks it on purpose to
    prove who the author is)."""
    lowered = details.lower()
    if code == grpc.StatusCode.NOT_FOUND and _NO_POLICY in lowered:
        return logging.DEBUG if context.action == Action.READ else logging.INFO
    if code == grpc.StatusCode.PERMISSION_DENIED and _OWN_RELEASE in lowered:
        return logging.INFO
    return logging.WARNING


def _translate(code: grpc.StatusCode, details: str, context: Context) -> ForestError:
    lowered = details.lower()
    org = context.organisation or "this organisation"

    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        sentence = {
            Action.VOTE: "Forest didn't answer, so your vote was NOT recorded. Please try again.",
            Action.LOGIN: "Forest didn't answer, so linking could not start. Please try again.",
        }.get(context.action, "Forest didn't answer in time. Please try again in a moment.")
        return ForestUnavailable(sentence, code, details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        if _OWN_RELEASE in lowered:
            sentence = (
                "You can't approve your own release. Ask a teammate, or bypass if you are an "
                "org admin."
            )
        elif _ONLY_USERS in lowered:
            sentence = "Forest only accepts votes cast by people, and the bot could not act as you."
        elif context.action in (Action.VOTE, Action.ROLES):
            sentence = (
                f"You are not a member of {org} in forest, so you can't vote on this release."
            )
        else:
            sentence = f"Forest refused access to {org}."
        return ForestPermissionDenied(sentence, code, details)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if context.action == Action.READ:
            sentence = "Forest refused the bot's app token; ask the platform team to check it."
        else:
            sentence = (
                "Your forest login has expired. Run `/forest login` to link your account again."
            )
        return ForestUnauthenticated(sentence, code, details)
    if code == grpc.StatusCode.NOT_FOUND:
        if _NO_POLICY in lowered:
            where = " → ".join(part for part in (context.project, context.environment) if part)
            sentence = f"{where or 'This environment'} has no approval policy in forest any more."
        else:
            sentence = "Forest does not know this release any more."
        return ForestNotFound(sentence, code, details)
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT):
        return ForestRejectedRequest(
            f"Forest could not handle the request{_nothing_done(context)} Please try again, "
            "and tell the platform team if it keeps happening.",
            code,
            details,
        )
    return ForestError(
        f"Forest answered with an unexpected error{_nothing_done(context)} Please try again, "
        "and tell the platform team if it keeps happening.",
        code,
        details,
    )


def _nothing_done(context: Context) -> str:
    return ", so your vote was NOT recorded." if context.action == Action.VOTE else "."
