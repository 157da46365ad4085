"""`/forest pending`: what waits for my vote, with links to the messages."""

from tests_support import all_text, wait_until

from bot.local.local_stack import CHANNEL, LocalStack


def permalink(ts: str) -> str:
    return f"https://acme.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"


async def pending_answer(stack: LocalStack, username: str) -> str:
    """What ``username`` reads after typing `/forest pending`."""
    response_url = await stack.command(username, "pending")
    await wait_until(lambda: stack.slack.responses(response_url))
    [answer] = stack.slack.responses(response_url)
    return "\n".join(
        [answer.body["text"], *(b["text"]["text"] for b in answer.body["blocks"] if "text" in b)]
    )


async def open_approval(stack: LocalStack, title: str, author: str, **event) -> str:
    """Announce a release by ``author``; returns the ts of its approval message."""
    _, ts = await stack.open_approval(author=author, title=title, **event)
    return ts


async def test_pending_lists_what_waits_with_links_and_leaves_out_voted_and_own(
    stack: LocalStack,
):
    await stack.start_bot()
    for person in ("bob", "alice"):
        await stack.link(person)
    waiting = await open_approval(stack, "fix: retry card captures", author="alice")
    own = await open_approval(stack, "chore: bump bob's deps", author="bob")
    voted = await open_approval(stack, "feat: dave's new checkout", author="dave")
    await stack.click("bob", voted, "approval_approve")
    await wait_until(lambda: "1 of 2" in all_text(stack.slack.message(CHANNEL, voted)))

    answer = await pending_answer(stack, "bob")

    assert answer.startswith("1 approval waits for your vote.")
    assert f"<{permalink(waiting)}|fix: retry card captures>" in answer
    assert "payments-api → production in acme" in answer
    assert "0 of 2 approvals" in answer and "by alice" in answer
    assert "bob's deps" not in answer
    assert "dave's new checkout" not in answer

    # Alice sees bob's and dave's releases, not her own.
    answer = await pending_answer(stack, "alice")
    assert answer.startswith("2 approvals wait for your vote.")
    assert f"<{permalink(own)}|chore: bump bob's deps>" in answer
    assert f"<{permalink(voted)}|feat: dave's new checkout>" in answer
    assert "retry card captures" not in answer


async def test_approved_releases_no_longer_wait(stack: LocalStack):
    await stack.start_bot()
    await stack.link("bob")
    await stack.link("carol")
    ts = await open_approval(
        stack, "fix: staging config", author="alice", environment="staging", required_approvals=1
    )
    await stack.click("carol", ts, "approval_approve")
    await wait_until(
        lambda: "approved" in stack.slack.message(CHANNEL, ts).blocks[0]["text"]["text"]
    )

    answer = await pending_answer(stack, "bob")
    assert answer.startswith("Nothing is waiting for your vote.")


async def test_pending_asks_an_unlinked_person_to_link(stack: LocalStack):
    await stack.start_bot()
    await open_approval(stack, "fix: retry card captures", author="alice")
    response_url = await stack.command("carol", "pending")
    await wait_until(lambda: stack.slack.responses(response_url))
    [answer] = stack.slack.responses(response_url)
    assert "not linked to forest" in answer.body["text"]
    actions = [e for b in answer.body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [button["action_id"] for button in actions] == ["link_start"]


async def test_approvals_of_organisations_the_person_is_not_in_are_not_listed(stack: LocalStack):
    await stack.start_bot()
    await stack.link("mallory")
    await open_approval(stack, "fix: retry card captures", author="alice")
    answer = await pending_answer(stack, "mallory")
    assert answer.startswith("Nothing is waiting for your vote.")


async def test_help_mentions_pending(stack: LocalStack):
    await stack.start_bot()
    await stack.command("bob", "help")
    assert "/forest pending" in stack.last_command_reply
