"""``approvals-bot demo``: the real bot against local stand-ins, on a machine with nothing else.

It starts two embedded nats-servers (the bot's, with JetStream, and forest's, without), the fake
forest (seeded with an org, an app project whose production needs two approvals, an infra project
with plan stages, and a few people) and the fake Slack, runs the bot against them watching
forest, releases a first change through staging, and serves a Slack-like page where you act as
each person in turn and play forest's runner.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.local.demo.releases import SampleReleases
from bot.local.demo.server import address_of, listen, serve_demo_page
from bot.local.local_stack import CHANNEL, ORGANISATION, LocalStack, local_stack
from bot.local.nats_server import free_port
from bot.wiring import Tuning

log = logging.getLogger(__name__)

PAGE_HOST = "127.0.0.1"
DEFAULT_BOT_PORT = 3000
DEFAULT_PAGE_PORT = 8080


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class RunningDemo:
    stack: LocalStack
    page_url: str


@asynccontextmanager
async def running_demo(
    store: Path, *, bot_port: int = 0, page_port: int = 0, tuning: Tuning | None = None
) -> AsyncIterator[RunningDemo]:
    """The whole demo, with the first blocked release already announced."""
    try:
        listener = listen(PAGE_HOST, page_port)
    except OSError as error:
        raise DemoError(
            f"cannot serve the demo page on {PAGE_HOST}:{page_port} ({error.strerror}); "
            "pick another port with --ui-port"
        ) from None
    page_url = address_of(listener)
    forage_url = f"{page_url}/forage"
    try:
        # Staging has no policy in the demo: a release waits for votes only before production.
        async with local_stack(store, gate_staging=False) as stack:
            # Forage's links (device login, releases) open the demo's own forage pages.
            stack.forest.web_url = forage_url
            releases = SampleReleases(stack)
            releases.prepare()
            # The bot watches forest itself: no approval-required event is published.
            await stack.start_bot(
                tuning or Tuning(),
                HOST="127.0.0.1",
                PORT=str(bot_port),
                FOREST_WEB_URL=forage_url,
                FOREST_ORGANISATION=ORGANISATION,
            )
            async with serve_demo_page(stack, releases, listener):
                # The first release already passed staging, so it waits for votes at once.
                first = await releases.publish("alice")
                await releases.finish(first, "deploy-staging")
                yield RunningDemo(stack, page_url)
    finally:
        listener.close()


def pick_port(requested: int | None, default: int, flag: str, what: str) -> tuple[int, str]:
    """The port to serve ``what`` on, and a note when it is not the one expected.

    A port given on the command line must be free (DemoError otherwise); without one, the
    default is taken when free, else any free port, and the note says which."""
    if requested is not None:
        if requested and not _is_free(requested):
            raise DemoError(
                f"cannot serve {what} on {PAGE_HOST}:{requested} (address already in use); "
                f"pick another port with {flag}"
            )
        return requested, ""
    if _is_free(default):
        return default, ""
    port = free_port()
    return port, f"port {default} is taken, so {what} uses port {port} ({flag} picks one)"


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((PAGE_HOST, port))
        except OSError:
            return False
    return True


async def run_demo(port: int | None, ui_port: int | None, stop: asyncio.Event) -> None:
    bot_port, bot_note = pick_port(port, DEFAULT_BOT_PORT, "--port", "the bot")
    page_port, page_note = pick_port(ui_port, DEFAULT_PAGE_PORT, "--ui-port", "the demo page")
    with tempfile.TemporaryDirectory(prefix="approvals-demo-") as store:
        async with running_demo(Path(store), bot_port=bot_port, page_port=page_port) as demo:
            stack = demo.stack
            log.info(
                "demo running",
                extra={
                    "page": demo.page_url,
                    "bot": stack.bot_url(),
                    "fake_slack": stack.slack.base_url,
                    "fake_forest": stack.forest.url,
                    "nats": stack.nats_server.url,
                },
            )
            for note in (bot_note, page_note):
                if note:
                    print(f"  approvals-bot: {note}", flush=True)
            print(
                f"\n  The demo is running: open {demo.page_url} in your browser."
                "\n  Pick who you are at the top, link with /forest login, and vote;"
                "\n  the forest panel on the right finishes the stages forest runs."
                "\n  Ctrl-C stops it.\n",
                flush=True,
            )
            await _show_slack(stack, stop)


_MARKUP = re.compile(
    r"<@(?P<user>[UW][A-Z0-9]+)>"
    r"|<!date\^[^|>]*\|(?P<date>[^>]*)>"
    r"|<[^|>]*\|(?P<label>[^>]*)>"
)


def readable(text: str, names: dict[str, str]) -> str:
    """Slack's markup as a terminal reader would want it: ``<@U0BOB>`` as @bob, a date or a
    link as the words it shows."""

    def plain(match: re.Match[str]) -> str:
        if match["user"]:
            return f"@{names.get(match['user'], match['user'])}"
        return match["date"] if match["date"] is not None else match["label"]

    return _MARKUP.sub(plain, text)


async def _show_slack(stack: LocalStack, stop: asyncio.Event) -> None:
    """Log what the approval channel shows whenever it changes, until stopped."""
    shown: list[str] = []
    while not stop.is_set():
        current = [message.text or "" for message in stack.slack.messages(CHANNEL)]
        for message in stack.slack.messages(CHANNEL):
            current += [reply.text or "" for reply in stack.slack.thread(CHANNEL, message.ts)]
        if current != shown:
            for line in current:
                if line not in shown:
                    names = {user.id: user.name for user in stack.slack.workspace.users.values()}
                    log.info("slack shows: %s", readable(line, names))
            shown = current
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except TimeoutError:
            continue
