"""The demo page in a real headless Chromium: people link, vote and bypass by clicking, and the
page shows each of them what Slack would show them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from slack_sdk.web.async_client import AsyncWebClient
from tests_support import wait_until

from bot.local.demo.command import RunningDemo, running_demo
from bot.local.local_stack import CHANNEL, FAST

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps dialling Google's hosts, which a closed network
# refuses; --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000


@pytest_asyncio.fixture
async def demo(tmp_path: Path) -> AsyncIterator[RunningDemo]:
    async with running_demo(tmp_path, tuning=FAST) as running:
        yield running


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; its absence fails the test, so a machine without it is noticed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: this test drives Debian's chromium package "
            "(apt-get install chromium).",
            pytrace=False,
        )
    return CHROMIUM


@pytest_asyncio.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def page(browser: Browser, demo: RunningDemo) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(demo.page_url)
    yield opened
    await context.close()
    assert errors == [], f"the page's script failed: {errors}"


# What a person sees


def top_level(page: Page, title: str) -> Locator:
    """A message in the channel (not a thread reply), found by the release title it shows."""
    return page.locator("#timeline > article.message").filter(has_text=title)


def own_blocks(message: Locator) -> Locator:
    """The message itself, without its thread."""
    return message.locator(":scope > .message-body > .blocks")


def thread_of(message: Locator) -> Locator:
    return message.locator(":scope > .message-body > .thread")


def private(page: Page, text: str) -> Locator:
    return page.locator("article.message.ephemeral").filter(has_text=text)


async def shows(locator: Locator, *texts: str) -> None:
    for text in texts:
        await expect(locator).to_contain_text(text, timeout=WAIT_MS)


async def act_as(page: Page, username: str) -> None:
    """Pick `username` at the top and wait until the page shows what they see."""
    await page.get_by_label("You are").select_option(username)
    await expect(page.locator("body")).to_have_attribute("data-viewer", username, timeout=WAIT_MS)


def pipeline_of(page: Page, title: str) -> Locator:
    """A release in the page's forest panel, with its stages."""
    return page.get_by_role("complementary", name="forest").locator("article.pipeline").filter(
        has_text=title
    )


# What a person does


async def finish_in_forest(page: Page, title: str, stage: str) -> None:
    """Play forest's runner: the stage's deploy finished."""
    await pipeline_of(page, title).get_by_role("button", name=f"Finish {stage}").click()
    button = pipeline_of(page, title).get_by_role("button", name=f"Finish {stage}")
    await expect(button).to_have_count(0, timeout=WAIT_MS)


async def approve_in_forage(page: Page, username: str) -> None:
    """Open the forage link the bot showed, check the code, and approve as `username`."""
    prompt = private(page, "Check that the code is")
    await shows(prompt, "Only visible to you", "Link your forest account")
    code = await prompt.locator("code").inner_text()
    async with page.expect_popup() as opened:
        await prompt.get_by_role("link", name="forage").click()
    forage = await opened.value
    await expect(forage.locator("#user-code")).to_have_text(code, timeout=WAIT_MS)
    await shows(forage.locator("#client-name"), f"@{username}", "in acme")
    await expect(forage.get_by_label("Signed in to forage as")).to_have_value(username)
    await forage.get_by_role("button", name="Approve").click()
    await shows(forage.get_by_role("status"), f"Approved as {username}")
    await forage.close()
    await shows(private(page, "You're linked to forest as"), username)


async def submit_modal(page: Page, title: str, field: str, text: str, submit: str) -> None:
    modal = page.get_by_role("dialog")
    await shows(modal, title)
    await modal.get_by_label(field).fill(text)
    await modal.get_by_role("button", name=submit, exact=True).click()
    await expect(modal).to_be_hidden(timeout=WAIT_MS)


async def test_people_link_vote_and_bypass_by_clicking(page: Page) -> None:
    approval = top_level(page, "fix: retry card captures on timeout (#812)")
    message, thread = own_blocks(approval), thread_of(approval)
    await shows(message, "payments-api → production needs 2 approvals", "0 of 2", "alice (cli)")
    for button in ("Approve", "Reject", "Bypass (admin)"):
        await expect(message.get_by_role("button", name=button)).to_be_visible()

    # bob links by typing the command; the device page is forage's, with his code.
    await act_as(page, "bob")
    await page.get_by_label("Message").fill("/forest login")
    await page.get_by_label("Message").press("Enter")
    await approve_in_forage(page, "bob")

    # carol sees none of bob's private answers; she clicks Approve before linking, and the
    # bot's "Link your forest account" button takes her through forage.
    await act_as(page, "carol")
    await expect(page.locator("article.message.ephemeral")).to_have_count(0)
    await message.get_by_role("button", name="Approve").click()
    not_linked = private(page, "You're not linked to forest yet")
    await not_linked.get_by_role("button", name="Link your forest account").click()
    await approve_in_forage(page, "carol")
    finish = private(page, "You're linked to forest as").locator(".blocks").get_by_role("button")
    await expect(finish).to_have_text("Finish your approval")
    await shows(message, "0 of 2")

    await act_as(page, "bob")
    await message.get_by_role("button", name="Approve").click()
    await shows(message, "1 of 2", "✅ @bob approved")
    await shows(thread, "✅ @bob approved")

    # carol rejects through the modal; Slack itself insists on the required reason.
    await act_as(page, "carol")
    await message.get_by_role("button", name="Reject").click()
    modal = page.get_by_role("dialog")
    await shows(modal, "Reject release", "fix: retry card captures on timeout (#812)")
    await modal.get_by_role("button", name="Reject", exact=True).click()
    await shows(modal, "Please complete this required field.")
    await submit_modal(page, "Reject release", "Why?", "needs more load testing", "Reject")
    await shows(message, "1 of 2", "❌ @carol rejected", "needs more load testing")
    await shows(thread, "❌ @carol rejected: needs more load testing")

    # carol changes her vote: the second approval approves the release and the buttons go.
    await message.get_by_role("button", name="Approve").click()
    await shows(message.locator(".block.header"), "payments-api → production approved")
    await expect(message.get_by_role("button")).to_have_count(0, timeout=WAIT_MS)
    await shows(message, "2 of 2", "Deploying…", "✅ @carol approved")
    await shows(
        thread,
        "✅ @carol changed their vote to approve",
        "✅ Approved by @bob and @carol. The release is on its way.",
    )

    # alice, who released it, sees the same message; forest does not say who released, so the
    # bot names who annotated the artifact and mentions nobody.
    await act_as(page, "alice")
    await expect(message.get_by_role("button")).to_have_count(0)

    # forest started production once the votes were in; its runner (the page) finishes it.
    await finish_in_forest(page, "fix: retry card captures on timeout (#812)", "deploy production")
    await shows(message.locator(".block.header"), "Deployed to production")

    # dave links with the shortcut, publishes his own release and bypasses it as an admin.
    await act_as(page, "dave")
    await page.get_by_role("button", name="/forest login").click()
    await approve_in_forage(page, "dave")
    await expect(page.get_by_label("Release author")).to_have_value("dave")
    await page.get_by_role("button", name="Publish").click()
    # The release deploys to staging first; no message while that runs.
    hotfix_title = "hotfix: stop double refunds on partial captures (#819)"
    await shows(pipeline_of(page, hotfix_title), "deploy staging", "running")
    await expect(top_level(page, hotfix_title)).to_have_count(0)
    await finish_in_forest(page, hotfix_title, "deploy staging")
    hotfix = top_level(page, hotfix_title)
    hotfix_message = own_blocks(hotfix)
    await shows(hotfix_message, "needs 2 approvals", "dave (cli)", "0 of 2")
    await hotfix_message.get_by_role("button", name="Bypass (admin)").click()
    await shows(page.get_by_role("dialog"), "This records your own approval")
    await submit_modal(page, "Bypass approval", "Reason", "hotfix for the outage", "Bypass")
    await shows(hotfix_message, "1 of 2 (1 by the author's bypass)", "⚠️ @dave bypassed as author")
    await shows(
        thread_of(hotfix),
        "⚠️ @dave approved their own release as an org admin (bypass);"
        " it counts as one approval: hotfix for the outage",
    )

    # bob approves it by replying in its thread; the bot reacts to his reply.
    await act_as(page, "bob")
    reply_box = hotfix.get_by_role("textbox", name="Reply in thread")
    await reply_box.fill("approve looks good")
    await reply_box.press("Enter")
    bobs_reply = thread_of(hotfix).locator('article.message[data-user="U0BOB"]')
    await shows(bobs_reply, "approve looks good")
    await expect(bobs_reply.locator(".reaction")).to_have_attribute(
        "data-reaction", "white_check_mark", timeout=WAIT_MS
    )
    await shows(hotfix_message.locator(".block.header"), "payments-api → production approved")
    await expect(hotfix_message.get_by_role("button")).to_have_count(0, timeout=WAIT_MS)
    await shows(
        thread_of(hotfix), "✅ @bob approved: looks good", "The release is on its way."
    )

    # mallory, outside the organisation, sees the channel and nobody's private answers.
    await act_as(page, "mallory")
    await expect(page.locator("article.message.ephemeral")).to_have_count(0)
    await shows(thread_of(hotfix), "approved their own release as an org admin (bypass)")


async def test_denying_the_device_login_in_forage_leaves_the_person_unlinked(page: Page) -> None:
    await act_as(page, "bob")
    # What the bot puts in its acknowledgement of a command is shown to the person alone.
    await page.get_by_role("button", name="/forest whoami").click()
    await shows(private(page, "You're not linked to forest"), "Run /forest login")
    await page.get_by_role("button", name="/forest login").click()
    prompt = private(page, "Check that the code is")
    async with page.expect_popup() as opened:
        await prompt.get_by_role("link", name="forage").click()
    forage = await opened.value
    await forage.get_by_role("button", name="Deny").click()
    await shows(forage.get_by_role("status"), "Denied")
    await forage.close()
    await shows(private(page, "denied in forage"), "not linked")

    # The private answer goes away when dismissed, as in Slack.
    denied = private(page, "denied in forage")
    await denied.get_by_role("button", name="Dismiss message").click()
    await expect(denied).to_have_count(0, timeout=WAIT_MS)


async def test_a_button_with_a_confirm_dialog_asks_before_it_is_sent(
    page: Page, demo: RunningDemo
) -> None:
    # The bot's own buttons have no confirm dialog today; the page must still show Slack's.
    slack = demo.stack.slack
    web = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Roll back"},
        "action_id": "demo_roll_back",
        "style": "danger",
        "confirm": {
            "title": {"type": "plain_text", "text": "Roll back payments-api?"},
            "text": {"type": "mrkdwn", "text": "This deploys the *previous* release."},
            "confirm": {"type": "plain_text", "text": "Roll back"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        },
    }
    await web.chat_postMessage(
        channel=CHANNEL,
        text="Roll back?",
        blocks=[{"type": "actions", "elements": [button]}],
    )
    message = page.locator("#timeline > article.message").filter(has_text="Roll back")
    await message.get_by_role("button", name="Roll back").click()
    dialog = page.get_by_role("alertdialog")
    await shows(dialog, "Roll back payments-api?", "This deploys the previous release.")
    await dialog.get_by_role("button", name="Keep it").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("alert")).to_be_hidden()

    await message.get_by_role("button", name="Roll back").click()
    await dialog.get_by_role("button", name="Roll back").click()
    # The bot has no listener for this button, so Slack's error is what the person sees.
    await shows(page.get_by_role("alert"), "The app did not respond")


async def test_the_page_is_told_why_slack_would_refuse_what_it_asked(demo: RunningDemo):
    # A click on a button the message does not show (a page left open on an old message).
    await wait_until(lambda: bool(demo.stack.slack.messages(CHANNEL)))
    message = demo.stack.slack.messages(CHANNEL)[0]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{demo.page_url}/api/click",
            json={"as": "bob", "ts": message.ts, "action_id": "no_such_button"},
        ) as reply,
    ):
        assert reply.status == 409
        assert await reply.json() == {
            "ok": False,
            "error": "That button is no longer on the message.",
        }


async def test_every_time_reads_in_the_viewers_own_zone_one_way(
    browser: Browser, demo: RunningDemo
) -> None:
    # Slack formats <!date^…> in each reader's zone, as it shows a message's own time.
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Tokyo", locale="en-US"
    )
    page = await context.new_page()
    try:
        await page.goto(demo.page_url)
        approval = top_level(page, "fix: retry card captures on timeout (#812)")
        message = own_blocks(approval)
        await act_as(page, "bob")
        await page.get_by_label("Message").fill("/forest login")
        await page.get_by_label("Message").press("Enter")
        await approve_in_forage(page, "bob")
        await message.get_by_role("button", name="Approve").click()
        await shows(message, "✅ @bob approved")
        voted = message.locator("time").first
        await expect(voted).to_have_attribute("datetime", re.compile(r"^\d{4}-"), timeout=WAIT_MS)
        shown = await voted.inner_text()
        moment = datetime.fromisoformat(
            (await voted.get_attribute("datetime")).replace("Z", "+00:00")
        )
        in_tokyo = moment.astimezone(ZoneInfo("Asia/Tokyo"))
        assert "UTC" not in await message.inner_text()
        assert shown == in_tokyo.strftime("%I:%M %p")
        sent = await approval.locator("time.sent").first.inner_text()
        assert re.fullmatch(r"\d{2}:\d{2} [AP]M", sent)
    finally:
        await context.close()


async def test_the_home_tab_lists_what_waits_for_the_viewer(page: Page) -> None:
    # bob links, then opens the app under Direct messages: Slack sends app_home_opened and the
    # page shows the Home tab the bot publishes.
    await act_as(page, "bob")
    await page.get_by_label("Message").fill("/forest login")
    await page.get_by_label("Message").press("Enter")
    await approve_in_forage(page, "bob")
    await page.get_by_role("button", name="Forest Approvals").click()
    home = page.get_by_label("Home tab")
    await shows(home, "Waiting for your vote", "payments-api → production")
    await expect(page.locator("#timeline")).to_be_hidden()
    # Back in the channel, the approval message is where it was.
    await page.get_by_role("button", name="# approvals").click()
    await shows(top_level(page, "fix: retry card captures on timeout (#812)"), "0 of 2")


async def test_an_infra_release_waits_for_its_plan_to_be_approved_or_rejected(page: Page) -> None:
    logs_title = "infra: keep payments logs for 400 days (#77)"
    replica_title = "infra: a read replica for the payments database (#81)"
    await act_as(page, "bob")
    await page.get_by_label("Message").fill("/forest login")
    await page.get_by_label("Message").press("Enter")
    await approve_in_forage(page, "bob")

    # alice releases an infra change: forest plans production first; no message while it runs.
    await act_as(page, "alice")
    await page.get_by_label("Release kind").select_option("infra")
    await page.get_by_role("button", name="Publish").click()
    await shows(pipeline_of(page, logs_title), "plan production", "running")
    await expect(top_level(page, logs_title)).to_have_count(0)
    await finish_in_forest(page, logs_title, "plan production")
    await shows(pipeline_of(page, logs_title), "plan awaits approval")
    plan_message = own_blocks(top_level(page, logs_title))
    await shows(plan_message, "Plan: 1 to add, 1 to change, 0 to destroy.")
    for button in ("Approve plan", "Reject plan", "View plan"):
        await expect(plan_message.get_by_role("button", name=button)).to_be_visible()

    # bob reads the whole plan in a modal, then approves it; forest goes on to apply it.
    await act_as(page, "bob")
    await plan_message.get_by_role("button", name="View plan").click()
    modal = page.get_by_role("dialog")
    await shows(modal, logs_title, "What the plan does", "~ days = 90 -> 400")
    await modal.get_by_role("button", name="Close").click()
    await expect(modal).to_be_hidden(timeout=WAIT_MS)
    await plan_message.get_by_role("button", name="Approve plan").click()
    await shows(thread_of(top_level(page, logs_title)), "✅ @bob approved the plan.")
    await expect(plan_message.get_by_role("button", name="Approve plan")).to_have_count(
        0, timeout=WAIT_MS
    )
    await shows(pipeline_of(page, logs_title), "deploy production", "running")
    await finish_in_forest(page, logs_title, "deploy production")
    await shows(pipeline_of(page, logs_title), "succeeded")

    # A second infra change: bob rejects its plan with a reason, and the release stops there.
    await act_as(page, "alice")
    await page.get_by_role("button", name="Publish").click()
    await finish_in_forest(page, replica_title, "plan production")
    replica = top_level(page, replica_title)
    await act_as(page, "bob")
    await own_blocks(replica).get_by_role("button", name="Reject plan").click()
    await submit_modal(page, "Reject plan", "Why?", "encrypt the replica at rest", "Reject plan")
    await shows(own_blocks(replica), "rejected", "the release stops here")
    await shows(thread_of(replica), "❌ @bob rejected the plan: encrypt the replica at rest")
    await shows(pipeline_of(page, replica_title), "failed", "cancelled")
