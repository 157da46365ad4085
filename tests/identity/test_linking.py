"""`/forest` and the device login: linking, unlinking, and keeping a person's token fresh."""

import asyncio
import dataclasses
import itertools
import json
from urllib.parse import urlencode

import nats.js.errors
import pytest
from tests_support import all_text, buttons, wait_until

import bot.identity.linking
from bot.identity.link_store import LinkStore
from bot.identity.token_cipher import TokenCipher
from bot.local.fake_forest import IssuedTokens
from bot.local.fake_slack_checks import block_problems
from bot.local.local_stack import CHANNEL, SECRET_KEY, LocalStack, approve_login, pending_login
from bot.local.slack_signing import form_payload, slash_command_payload
from bot.wiring import LINKS_BUCKET


def reply_text(stack: LocalStack) -> str:
    """What the person sees of the command's immediate answer."""
    reply = json.loads(stack.last_command_reply or "{}")
    blocks = " ".join(b.get("text", {}).get("text", "") for b in reply.get("blocks", []))
    return f"{reply.get('text', '')}\n{blocks}"


def answers(stack: LocalStack, response_url: str) -> list[str]:
    """What the bot said later through the command's response_url, oldest first."""
    return [str(post.body.get("text", "")) for post in stack.slack.responses(response_url)]


def record_issued_tokens(stack: LocalStack) -> list[IssuedTokens]:
    issued: list[IssuedTokens] = []
    credentials = stack.forest.credentials
    issue = credentials.issue_user_tokens

    def recording(username: str) -> IssuedTokens:
        issued.append(issue(username))
        return issued[-1]

    credentials.issue_user_tokens = recording  # type: ignore[method-assign]
    return issued


async def test_whoami_before_and_after_linking(stack: LocalStack):
    await stack.start_bot()
    await stack.command("bob", "whoami")
    assert "You're not linked to forest. Run `/forest login`" in reply_text(stack)
    await stack.link("bob")
    await stack.command("bob", "whoami")
    assert "You're linked to forest as *bob*." in reply_text(stack)
    await stack.command("carol", "whoami")
    assert "You're not linked to forest." in reply_text(stack)


async def test_logout_forgets_the_tokens(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    await stack.command("bob", "logout")
    assert "Unlinked from *bob*; your forest tokens are forgotten." in reply_text(stack)
    kv = await stack.nc.jetstream().key_value(LINKS_BUCKET)
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        keys = []
    assert not any(key.startswith("link.") for key in keys)

    await stack.click("bob", ts, "approval_approve")
    await wait_until(
        lambda: any("not linked" in all_text(e) for e in stack.slack.ephemerals(CHANNEL, "U0BOB"))
    )
    [answer] = [e for e in stack.slack.ephemerals(CHANNEL, "U0BOB") if "not linked" in all_text(e)]
    assert "link_start" in buttons(answer)
    await asyncio.sleep(0.3)
    assert stack.forest.calls_to("ExternalApproveRelease") == []
    await stack.command("bob", "logout")
    assert "You weren't linked to forest, so there was nothing to forget." in reply_text(stack)


async def test_help_and_unknown_subcommands_answer_kindly(stack: LocalStack):
    await stack.start_bot()
    for text in ("help", "", "  HELP  "):
        await stack.command("bob", text)
        # As Slack renders the mrkdwn: an unescaped "<reason>" would be read as a link.
        shown = stack.slack.as_seen(reply_text(stack))
        assert "/forest login" in shown and "/forest whoami" in shown, text
        assert "/forest logout" in shown and "`reject <reason>`" in shown, text
        assert "`bypass <reason>`" in shown, text
        assert block_problems(json.loads(stack.last_command_reply)["blocks"]) == []
    await stack.command("bob", "frobnicate now")
    shown = reply_text(stack)
    assert "I don't know `/forest frobnicate`." in shown
    assert "/forest login" in shown
    await stack.command("bob", "<!channel>")
    assert "I don't know `/forest &lt;!channel&gt;`." in reply_text(stack)
    assert stack.forest.calls == []


@pytest.mark.parametrize("escaped", [False, True], ids=["as_typed", "escaped"])
async def test_a_command_is_read_as_the_person_typed_it(stack: LocalStack, escaped: bool):
    # Slack sends &, < and > as entities; with the command's "Escape channels, users, and
    # links" on, people, channels and links as <@U…|name>, <#C…|name>, <https://…>.
    stack.slack.escape_commands = escaped
    stack.slack.add_channel("C0RELEASES", "releases")
    await stack.start_bot()
    for typed, word in (
        ("<p99>&co regressed", "<p99>&co"),
        ("@carol please", "@carol"),
        ("#releases", "#releases"),
        ("https://ci.example/run/1", "https://ci.example/run/1"),
    ):
        await stack.command("bob", typed)
        shown = stack.slack.as_seen(reply_text(stack))
        assert f"I don't know `/forest {word}`." in shown, (typed, stack.last_command_reply)
    await stack.link("bob")
    await stack.command("bob", "  WhoAmI  ")
    assert "You're linked to forest as" in reply_text(stack)


async def test_a_denied_device_login_says_so(stack: LocalStack):
    await stack.start_bot()
    response_url = await stack.command("bob", "login")
    grant = await stack.pending_login("bob")
    await wait_until(lambda: answers(stack, response_url))
    assert grant.user_code in answers(stack, response_url)[0]
    stack.forest.deny_device_code(grant.user_code)
    await wait_until(lambda: len(answers(stack, response_url)) == 2)
    assert answers(stack, response_url)[1] == (
        "The link was denied in forage, so your account is not linked."
    )
    assert all(post.status == 200 for post in stack.slack.responses(response_url))
    await stack.command("bob", "whoami")
    assert "You're not linked to forest." in reply_text(stack)


async def test_an_expired_device_login_says_so(stack: LocalStack):
    stack.forest.credentials.device_login_lifetime = 1
    await stack.start_bot()
    response_url = await stack.command("bob", "login")
    grant = await stack.pending_login("bob")
    await wait_until(lambda: answers(stack, response_url))
    assert "This link works for 1 minute." in answers(stack, response_url)[0]
    await wait_until(lambda: len(answers(stack, response_url)) == 2, timeout=5)
    assert answers(stack, response_url)[1] == (
        "The link code expired before it was approved. Run `/forest login` to get a new one."
    )
    with pytest.raises(ValueError, match="no longer pending"):
        stack.forest.approve_device_code(grant.user_code, "bob")
    polls = len(grant.polls)
    await asyncio.sleep(0.3)
    assert len(grant.polls) == polls  # the bot stopped asking


async def test_slow_down_makes_the_bot_poll_more_slowly(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bot.identity.linking, "SLOW_DOWN_STEP_SECONDS", 0.5)
    await stack.start_bot()  # forest asks for no interval: the bot polls every 0.05 s
    response_url = await stack.command("bob", "login")
    grant = await stack.pending_login("bob")
    await wait_until(lambda: len(grant.polls) >= 2)
    grant.interval_seconds = 1  # from now on forest answers SLOW_DOWN to faster polls
    since = len(grant.polls)
    await asyncio.sleep(3.0)
    later = grant.polls[since - 1 :]
    gaps = [b - a for a, b in itertools.pairwise(later)]
    # Each SLOW_DOWN added half a second until the bot waited at least the second forest asks
    # for; a bot polling on every 0.05 s would have polled about 60 times.
    assert 2 <= len(gaps) <= 6, gaps
    assert gaps[-1] >= 1.0, gaps

    stack.forest.approve_device_code(grant.user_code, "bob")
    await wait_until(lambda: any("linked to forest as" in a for a in answers(stack, response_url)))


async def test_the_device_login_names_the_slack_person_and_workspace(stack: LocalStack):
    await stack.start_bot()
    payload = slash_command_payload(
        stack.slack.identity.team_id,
        "U0BOB",
        "/forest",
        "login",
        stack.slack.new_response_url(CHANNEL, "U0BOB"),
        user_name="bob",
        team_domain="acme-corp",
    )
    assert (await stack.post(urlencode(payload).encode())).status == 200
    await wait_until(lambda: stack.forest.calls_to("InitiateDeviceLogin"))
    [call] = stack.forest.calls_to("InitiateDeviceLogin")
    name = call.request.client_name
    assert "@bob" in name and "U0BOB" in name, name
    assert "acme-corp" in name and "T0ACME" in name, name


async def test_an_expiring_token_is_refreshed_before_the_vote(stack: LocalStack):
    issued = record_issued_tokens(stack)
    stack.forest.credentials.access_token_lifetime = 60  # inside the bot's refresh margin
    await stack.start_bot()
    await stack.link("bob")
    stack.forest.credentials.access_token_lifetime = 3600
    _intent, ts = await stack.open_approval()

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"))
    methods = [c.method for c in stack.forest.calls]
    assert methods.index("RefreshToken") < methods.index("ExternalApproveRelease")
    [refresh] = stack.forest.calls_to("RefreshToken")
    assert refresh.request.refresh_token == issued[0].refresh_token
    [vote] = stack.forest.calls_to("ExternalApproveRelease")
    assert len(issued) == 2 and vote.token == issued[1].access_token != issued[0].access_token
    assert vote.actor == "bob"

    # The fresh token lasts: the next vote needs no refresh.
    await stack.click("bob", ts, "approval_reject")
    await wait_until(lambda: len(stack.slack.views) == 1)
    await stack.submit("bob", stack.slack.views[0].id, "on second thoughts")
    await wait_until(lambda: stack.forest.calls_to("ExternalRejectRelease"))
    assert len(stack.forest.calls_to("RefreshToken")) == 1
    assert stack.forest.calls_to("ExternalRejectRelease")[0].token == issued[1].access_token


async def test_a_refused_refresh_asks_to_link_again_and_records_nothing(stack: LocalStack):
    stack.forest.credentials.access_token_lifetime = 60
    await stack.start_bot()
    await stack.link("bob")
    intent, ts = await stack.open_approval()
    stack.forest.revoke_refresh_tokens("bob")

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("RefreshToken"))
    await wait_until(
        lambda: any("link_start" in buttons(e) for e in stack.slack.ephemerals(CHANNEL, "U0BOB"))
    )
    [answer] = [e for e in stack.slack.ephemerals(CHANNEL, "U0BOB") if "link_start" in buttons(e)]
    assert "Your forest login has expired. Link your account again to vote." in all_text(answer)
    assert buttons(answer)["link_start"]["value"].startswith("approve|")
    await asyncio.sleep(0.3)
    assert stack.forest.calls_to("ExternalApproveRelease") == []
    assert stack.forest.approval_state(intent, "production").decisions == ()
    assert stack.slack.thread(CHANNEL, ts) == []
    assert "0 of 2" in all_text(stack.slack.message(CHANNEL, ts))
    await stack.command("bob", "whoami")
    assert "You're not linked to forest." in reply_text(stack)


async def test_two_replicas_refreshing_one_token_at_once_keep_the_link(stack: LocalStack):
    stack.forest.credentials.access_token_lifetime = 60  # every vote wants a refresh
    replicas = [await stack.start_bot(), await stack.start_bot()]
    await stack.link("bob", replicas[0])
    approvals = [await stack.open_approval() for _ in replicas]
    # A slow refresh, so that both replicas want one at the same moment.
    stack.forest.delay("RefreshToken", 0.5)

    await asyncio.gather(
        *(
            stack.click("bob", ts, "approval_approve", bot=replica)
            for (_intent, ts), replica in zip(approvals, replicas, strict=True)
        )
    )
    await wait_until(lambda: len(stack.forest.calls_to("ExternalApproveRelease")) == 2, 10)
    assert all(c.actor == "bob" for c in stack.forest.calls_to("ExternalApproveRelease"))
    # One replica refreshed; the other waited for it and used the new token.
    assert len(stack.forest.calls_to("RefreshToken")) == 1
    for intent, _ts in approvals:
        [decision] = stack.forest.approval_state(intent, "production").decisions
        assert decision.username == "bob"
    assert not any("not linked" in all_text(e) for e in stack.slack.ephemerals(user="U0BOB"))
    await stack.command("bob", "whoami", replicas[1])
    assert "You're linked to forest as *bob*" in stack.last_command_reply


async def test_a_code_approved_with_someone_elses_forest_account_links_nothing(
    stack: LocalStack,
):
    await stack.start_bot()
    # Mallory asks for a code and gets Bob to approve it in forage, signed in as Bob.
    response_url = await stack.command("mallory", "login")
    grant = await stack.pending_login("mallory")
    stack.forest.approve_device_code(grant.user_code, "bob")

    await wait_until(lambda: len(answers(stack, response_url)) == 2)
    refusal = answers(stack, response_url)[1]
    assert "The forest account that approved this code, *bob*, is not yours" in refusal
    assert "Nothing was linked" in refusal
    await stack.command("mallory", "whoami")
    assert "You're not linked to forest" in reply_text(stack)
    # Bob hears that his account approved someone else's code.
    await wait_until(lambda: stack.slack.dm_messages("U0BOB"))
    [warning] = stack.slack.dm_messages("U0BOB")
    assert "<@U0MALLORY> asked to link your forest account *bob*" in warning.text
    assert "I refused" in warning.text
    assert stack.slack.dm_messages("U0MALLORY") == []

    # Mallory's click votes nothing as Bob; she is asked to link.
    stack.forest.add_member("acme", "mallory")
    _intent, ts = await stack.open_approval()
    await stack.click("mallory", ts, "approval_approve")
    await wait_until(lambda: stack.slack.ephemerals(CHANNEL, "U0MALLORY"))
    assert stack.forest.calls_to("ExternalApproveRelease") == []
    # Bob links his own account as ever, and is not warned about himself.
    await stack.link("bob")
    assert len(stack.slack.dm_messages("U0BOB")) == 1


async def test_a_forest_account_never_moves_to_another_slack_person_silently(
    stack: LocalStack,
):
    await stack.start_bot()
    await stack.link("bob")
    # A second Slack account with Bob's e-mail (an old account, a renamed one) links it too.
    stack.slack.add_user("U0BOBTWO", "bob@acme.io", "bob-two")
    response_url = stack.slack.new_response_url(CHANNEL, "U0BOBTWO")
    payload = slash_command_payload(
        stack.slack.identity.team_id,
        "U0BOBTWO",
        "/forest",
        "login",
        response_url,
        channel_id=CHANNEL,
    )
    assert (await stack.post(urlencode(payload).encode())).status == 200
    await approve_login(stack.forest, stack.slack, "U0BOBTWO", "bob", response_url)

    # The earlier link is gone, and its holder is told where the account went.
    await stack.command("bob", "whoami")
    assert "You're not linked to forest" in reply_text(stack)
    await wait_until(lambda: stack.slack.dm_messages("U0BOB"))
    [moved] = stack.slack.dm_messages("U0BOB")
    assert "Your forest account *bob* is now linked to <@U0BOBTWO>" in moved.text
    # Votes with the account are credited to the one person now linked.
    _intent, ts = await stack.open_approval()
    payload = stack.slack.click_payload(CHANNEL, ts, "U0BOBTWO", "approval_approve")
    await stack.post(form_payload(payload))
    await wait_until(lambda: stack.slack.thread(CHANNEL, ts))
    assert stack.slack.thread(CHANNEL, ts)[0].text.startswith("✅ <@U0BOBTWO> approved")


async def test_a_refused_refresh_reads_the_link_again_before_forgetting_it(stack: LocalStack):
    """A process that does not share the lock (an older version mid-deploy) rotates the token
    while this one's refresh is on its way: forest refuses this one, the link is not dead."""
    stack.forest.credentials.access_token_lifetime = 60  # the vote wants a refresh
    await stack.start_bot()
    await stack.link("bob")
    _intent, ts = await stack.open_approval()
    kv = await stack.nc.jetstream().key_value(LINKS_BUCKET)
    links = LinkStore(kv, TokenCipher(SECRET_KEY))
    stored = await links.get(stack.slack.identity.team_id, "U0BOB")
    assert stored is not None
    stack.forest.delay("RefreshToken", 0.5)

    await stack.click("bob", ts, "approval_approve")
    await wait_until(lambda: stack.forest.calls_to("RefreshToken"))
    # Meanwhile the other process spends the same refresh token and stores what it got.
    _username, rotated = stack.forest.credentials.refresh(stored.refresh_token)
    await links.save(
        dataclasses.replace(
            stored, access_token=rotated.access_token, refresh_token=rotated.refresh_token
        )
    )

    await wait_until(lambda: stack.forest.calls_to("ExternalApproveRelease"), 5)
    [vote] = stack.forest.calls_to("ExternalApproveRelease")
    assert (vote.actor, vote.token) == ("bob", rotated.access_token)
    await stack.command("bob", "whoami")
    assert "You're linked to forest as *bob*" in reply_text(stack)


async def test_an_unverified_forest_e_mail_proves_nothing(stack: LocalStack):
    # Erin's forest account claims her Slack e-mail, but forest never verified it.
    stack.forest.add_user("erin", email="erin@acme.io", email_verified=False)
    stack.slack.add_user("U0ERIN", "erin@acme.io", "erin")
    await stack.start_bot()
    response_url = stack.slack.new_response_url(CHANNEL, "U0ERIN")
    payload = slash_command_payload(
        stack.slack.identity.team_id, "U0ERIN", "/forest", "login", response_url, channel_id=CHANNEL
    )
    assert (await stack.post(urlencode(payload).encode())).status == 200
    grant = await pending_login(stack.forest, "U0ERIN", "erin")
    stack.forest.approve_device_code(grant.user_code, "erin")

    await wait_until(lambda: len(answers(stack, response_url)) == 2)
    assert "has no verified e-mail" in answers(stack, response_url)[1]
    assert "Nothing was linked" in answers(stack, response_url)[1]
    kv = await stack.nc.jetstream().key_value(LINKS_BUCKET)
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kv.get(f"link.{stack.slack.identity.team_id}.U0ERIN")
