"""Private answers of the ``/forest`` command and the account-linking flow."""

from __future__ import annotations

from .approval_message import plural
from .elements import BUTTON_VALUE_CHARS, SlackMessage, actions, answer, button
from .replies import notice
from .text import clip, escape, link, one_line

RESUME_ACTION_ID = "vote_resume"
COMMAND = "/forest"

# mrkdwn: a literal < or > must be escaped, or Slack reads "<reason>" as a link.
HELP = (
    "*Forest approvals in Slack*\n"
    "• `/forest login`: link your Slack account to your forest account, so your votes count as"
    " yours.\n"
    "• `/forest whoami`: which forest account you are linked to.\n"
    "• `/forest logout`: unlink and forget your forest tokens.\n"
    "• `/forest pending`: the approvals waiting for your vote, with links to them (also in the"
    " app's Home tab).\n"
    "• `/forest help`: this help.\n"
    "In an approval's thread, reply `approve [comment]`, `reject &lt;reason&gt;` or (admins who"
    " authored the release) `bypass &lt;reason&gt;` to vote. In a plan's thread, `approve` or"
    " `reject &lt;reason&gt;` decides the plan."
)


def _account(forest_username: str) -> str:
    """A forest account's name as the messages show it: on one line, cut, escaped once."""
    return clip(one_line(forest_username), 80)


def device_login(
    verification_uri_complete: str, user_code: str, expires_in_seconds: int
) -> SlackMessage:
    """The link and code to approve in forage, with how long they stay valid."""
    minutes = plural(max(1, expires_in_seconds // 60), "minute")
    code = clip(one_line(user_code), 40)
    return answer(
        f"*Link your forest account*\n"
        f"1. Open {link(verification_uri_complete, 'forage')} (you sign in there).\n"
        f"2. Check that the code is `{code}` and approve.\n"
        f"This link works for {minutes}. I'll tell you here once you're linked."
    )


def linked(forest_username: str, pending_action: str | None = None) -> SlackMessage:
    """Linked; when the person was in the middle of a vote, one click finishes it."""
    text = f"✅ You're linked to forest as *{_account(forest_username)}*."
    if not pending_action or len(pending_action) > BUTTON_VALUE_CHARS:
        return answer(text)
    kind = pending_action.split("|", 1)[0]
    label = {
        "approve": "Finish your approval",
        "reject": "Finish your rejection",
        "bypass": "Finish your bypass",
        "plan-approve": "Finish approving the plan",
        "plan-reject": "Finish rejecting the plan",
    }.get(kind, "Finish your vote")
    return answer(text, actions(button(label, RESUME_ACTION_ID, pending_action, "primary")))


def login_denied() -> SlackMessage:
    return notice("The link was denied in forage, so your account is not linked.")


def login_expired() -> SlackMessage:
    return answer(
        "The link code expired before it was approved. Run `/forest login` to get a new one."
    )


def login_failed(sentence: str) -> SlackMessage:
    return notice(f"Linking failed: {sentence}")


def whoami(forest_username: str | None) -> SlackMessage:
    if forest_username is None:
        return answer("You're not linked to forest. Run `/forest login` to link your account.")
    return answer(f"You're linked to forest as *{_account(forest_username)}*.")


def logged_out(forest_username: str | None) -> SlackMessage:
    if forest_username is None:
        return answer("You weren't linked to forest, so there was nothing to forget.")
    return answer(f"Unlinked from *{_account(forest_username)}*; your forest tokens are forgotten.")


def help_text() -> SlackMessage:
    return answer(HELP)


def unknown_subcommand(subcommand: str) -> SlackMessage:
    shown = escape(one_line(subcommand)[:40])
    return answer(f"I don't know `{COMMAND} {shown}`.\n\n{HELP}")


def login_refused(reason: str, forest_username: str) -> SlackMessage:
    """Why a device login linked nothing (``reason``: bot.identity.link_guard.Refusal)."""
    name = _account(forest_username)
    sentence = {
        "not_yours": (
            f"The forest account that approved this code, *{name}*, is not yours: none of its"
            " verified e-mails is the one on your Slack profile. Nothing was linked. Run"
            " `/forest login` again and approve the code in forage signed in as yourself."
        ),
        "no_verified_email": (
            f"Your forest account *{name}* has no verified e-mail, so I cannot tell that it is"
            " yours. Nothing was linked: verify your e-mail in forage, then run `/forest login`"
            " again."
        ),
        "no_slack_email": (
            "Your Slack profile shows me no e-mail, so I cannot tell that the forest account is"
            " yours. Nothing was linked."
        ),
    }.get(
        reason, "Slack did not tell me your e-mail just now. Nothing was linked: please try again."
    )
    return answer(sentence)


def someone_tried_your_account(slack_user_id: str, forest_username: str) -> SlackMessage:
    """To the owner of a forest account that approved another Slack person's login code."""
    name = _account(forest_username)
    return answer(
        f"⚠️ <@{slack_user_id}> asked to link your forest account *{name}* to their Slack account,"
        " and the code was approved in forage with your account. I refused: it is not their"
        " account. If you did not mean to approve a code for someone else, tell your platform"
        " team."
    )


def your_account_moved(slack_user_id: str, forest_username: str) -> SlackMessage:
    """To the Slack person a forest account was linked to, when another one links it."""
    name = _account(forest_username)
    return answer(
        f"⚠️ Your forest account *{name}* is now linked to <@{slack_user_id}>, so your link to it"
        " was removed and votes with it count for them. If that was not you, tell your platform"
        " team and run `/forest login` to link it again."
    )
