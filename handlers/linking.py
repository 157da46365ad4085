"""Starting the device login for a person and telling them how it ended."""

from __future__ import annotations

import logging

from blocks import linking as linking_blocks
from blocks.replies import notice
from bot.forest.errors import ForestError
from bot.identity.linking import LoginEnd, LoginResult, SlackPerson
from handlers.deps import HandlerDeps
from handlers.payloads import Actor

log = logging.getLogger(__name__)


async def start_linking(
    deps: HandlerDeps,
    actor: Actor,
    response_url: str,
    pending_action: str | None,
    *,
    replace: bool = False,
) -> None:
    """Answer with forage's link and code; later, through the same response URL, the result.

    ``replace``: the person clicked a private prompt; each answer takes its place, so the
    spent "Link your forest account" prompt and then the code do not linger."""
    if not response_url:
        log.warning("cannot link without a response_url", extra={"slack_user": actor.user_id})
        return
    person = SlackPerson(actor.team_id, actor.user_id, actor.user_name, actor.team_name)

    async def tell_result(result: LoginResult) -> None:
        message = {
            LoginEnd.LINKED: lambda: linking_blocks.linked(
                result.link.forest_username if result.link else "", pending_action
            ),
            LoginEnd.DENIED: linking_blocks.login_denied,
            LoginEnd.EXPIRED: linking_blocks.login_expired,
            LoginEnd.FAILED: lambda: linking_blocks.login_failed(result.detail),
            LoginEnd.REFUSED: lambda: linking_blocks.login_refused(
                result.detail, result.forest_username
            ),
        }.get(result.end)
        if message is not None:
            await deps.answers.respond(response_url, message(), replace=replace)

    try:
        grant = await deps.linking.start_login(person, tell_result)
    except ForestError as error:
        await deps.answers.respond(response_url, notice(error.sentence), replace=replace)
        return
    await deps.answers.respond(
        response_url,
        linking_blocks.device_login(
            grant.verification_uri_complete, grant.user_code, grant.expires_in_seconds
        ),
        replace=replace,
    )
