"""The demo's web server: a Slack-like page for the channel, and the forage pages it links to.

It stands in for Slack's servers: the browser asks it to click, submit or type as a person, and it
sends the bot the signed requests Slack would send (see bot/local/demo/as_slack.py). The page learns
what changed by polling `/api/screen`, which reads the fake Slack the bot writes to.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.local.demo.as_slack import ActingAsSlack, RefusedAction
from bot.local.demo.forage import DeviceApprovals, ForagePages
from bot.local.demo.json_http import json_body, refused
from bot.local.demo.releases import RELEASE_AUTHORS, SampleReleases
from bot.local.demo.screen import PageMemory, screen_for
from bot.local.local_stack import CHANNEL, PEOPLE, LocalStack, Person

PAGE_DIR = Path(__file__).with_name("page")


class SlackPage:
    """The channel as each person sees it, and what they can do there."""

    def __init__(self, stack: LocalStack, releases: SampleReleases) -> None:
        self._stack = stack
        self._releases = releases
        self._memory = PageMemory()
        self._acting = ActingAsSlack(stack, CHANNEL, self._memory)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/api/screen", self.screen),
            web.post("/api/click", self.click),
            web.post("/api/modal/submit", self.submit_modal),
            web.post("/api/modal/close", self.close_modal),
            web.post("/api/dismiss", self.dismiss),
            web.post("/api/command", self.command),
            web.post("/api/message", self.message),
            web.post("/api/release", self.publish_release),
            web.get("/api/forest", self.pipelines),
            web.post("/api/forest/finish", self.finish_stage),
            web.post("/api/home/open", self.open_home),
        ]

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE_DIR / "index.html")

    async def open_home(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        await self._acting.open_home(_person(body.get("as")))
        return web.json_response({"ok": True})

    async def screen(self, request: web.Request) -> web.Response:
        person = _person(request.query.get("as"))
        shown = screen_for(self._stack.slack, CHANNEL, person, self._memory, RELEASE_AUTHORS)
        return web.json_response(shown, headers={"Cache-Control": "no-store"})

    async def click(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = _person(body.get("as"))
        ts, action_id = str(body.get("ts", "")), str(body.get("action_id", ""))
        if body.get("ephemeral"):
            await self._acting.click_ephemeral_button(person, ts, action_id)
        else:
            await self._acting.click_message_button(person, ts, action_id)
        return web.json_response({"ok": True})

    async def submit_modal(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = _person(body.get("as"))
        values = body.get("values")
        if not isinstance(values, dict):
            return refused("values must be {block_id: {action_id: text}}", 400)
        answer = await self._acting.submit_modal(person, str(body.get("view_id", "")), values)
        return web.json_response({"ok": True, "closed": answer.closed, "errors": answer.errors})

    async def close_modal(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        self._acting.close_modal(_person(body.get("as")), str(body.get("view_id", "")))
        return web.json_response({"ok": True})

    async def dismiss(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        self._acting.dismiss_ephemeral(_person(body.get("as")), str(body.get("ts", "")))
        return web.json_response({"ok": True})

    async def command(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = _person(body.get("as"))
        command, _, text = str(body.get("text", "")).strip().partition(" ")
        await self._acting.slash_command(person, command, text.strip())
        return web.json_response({"ok": True})

    async def message(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = _person(body.get("as"))
        text = str(body.get("text", "")).strip()
        if not text:
            return refused("Type something first.", 400)
        thread_ts = str(body.get("thread_ts") or "") or None
        await self._acting.post_message(person, text, thread_ts)
        return web.json_response({"ok": True})

    async def publish_release(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            intent = await self._releases.publish(
                str(body.get("author", "")), str(body.get("kind") or "app")
            )
        except ValueError as error:
            return refused(str(error), 400)
        return web.json_response({"ok": True, "release_intent_id": intent})

    async def pipelines(self, request: web.Request) -> web.Response:
        """forage's view of the demo's releases: each pipeline's stages and where it is."""
        shown = {"releases": self._releases.pipelines()}
        return web.json_response(shown, headers={"Cache-Control": "no-store"})

    async def finish_stage(self, request: web.Request) -> web.Response:
        """The page plays forest's runner: the stage's deploy (or plan) finished."""
        body = await json_body(request)
        try:
            await self._releases.finish(
                str(body.get("release_intent_id", "")),
                str(body.get("stage_id", "")),
                succeeded=body.get("outcome", "succeeded") != "failed",
            )
        except (ValueError, KeyError) as error:
            return refused(str(error).strip("'\""), 409)
        return web.json_response({"ok": True})


@web.middleware
async def _refusals_answered(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Whatever the page asked for that Slack would refuse is answered with the reason."""
    try:
        return await handler(request)
    except RefusedAction as refusal:
        return refused(str(refusal))


def _person(username: object) -> Person:
    person = next((p for p in PEOPLE if p.username == username), None)
    if person is None:
        names = ", ".join(p.username for p in PEOPLE)
        raise web.HTTPBadRequest(text=f"'as' must be one of {names}")
    return person


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything starts so the page's address is known (port 0
    picks a free one). Raises OSError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@asynccontextmanager
async def serve_demo_page(
    stack: LocalStack, releases: SampleReleases, listener: socket.socket
) -> AsyncIterator[None]:
    """Serve the Slack page and forage's device page on `listener` until the block ends."""
    app = web.Application(middlewares=[_refusals_answered])
    app.add_routes(SlackPage(stack, releases).routes())
    app.add_routes(ForagePages(DeviceApprovals(stack.forest), PAGE_DIR).routes())
    app.router.add_static("/static", PAGE_DIR)
    # No access log: the page polls several times a second.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        yield
    finally:
        await runner.cleanup()
