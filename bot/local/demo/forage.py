"""The little of forage the demo needs: the page where a person approves a device login.

The bot's "/forest login" answer links to `<forage>/device?code=…`; here that page shows which
client asks and its code, and Approve / Deny act for the person signed in to forage (the person
picked on the Slack page). Every other forage address gets a short placeholder page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.local.demo.json_http import json_body, refused
from bot.local.fake_forest import FakeForest
from bot.local.local_stack import PEOPLE

FORAGE_PATH = "/forage"


@dataclass(frozen=True)
class DeviceRequest:
    code: str
    client_name: str
    scopes: list[str]
    expires_at: float


class DeviceApprovals:
    def __init__(self, forest: FakeForest) -> None:
        self._forest = forest

    def pending(self, code: str) -> DeviceRequest | None:
        wanted = _plain(code)
        for grant in self._forest.pending_device_logins():
            if _plain(grant.user_code) == wanted:
                return DeviceRequest(
                    grant.user_code, grant.client_name, grant.scopes, grant.expires_at
                )
        return None

    def approve(self, code: str, username: str) -> None:
        self._forest.approve_device_code(code, username)

    def deny(self, code: str) -> None:
        self._forest.deny_device_code(code)


def _plain(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


class ForagePages:
    def __init__(self, approvals: DeviceApprovals, page_dir: Path) -> None:
        self._approvals = approvals
        self._page_dir = page_dir

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{FORAGE_PATH}/device", self.device_page),
            web.get(f"{FORAGE_PATH}/api/device", self.device_request),
            web.post(f"{FORAGE_PATH}/api/device/approve", self.approve),
            web.post(f"{FORAGE_PATH}/api/device/deny", self.deny),
            web.get(FORAGE_PATH + "{rest:(/.*)?}", self.elsewhere),
        ]

    async def device_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self._page_dir / "forage.html")

    async def elsewhere(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self._page_dir / "forage_elsewhere.html")

    async def device_request(self, request: web.Request) -> web.Response:
        pending = self._approvals.pending(request.query.get("code", ""))
        if pending is None:
            return web.json_response({"pending": False})
        return web.json_response(
            {
                "pending": True,
                "code": pending.code,
                "client_name": pending.client_name,
                "scopes": pending.scopes,
                "people": [p.username for p in PEOPLE],
            }
        )

    async def approve(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        username = str(body.get("username", ""))
        if username not in {p.username for p in PEOPLE}:
            return refused(f"{username!r} has no forage account here.")
        try:
            self._approvals.approve(str(body.get("code", "")), username)
        except (LookupError, ValueError) as error:
            return refused(str(error))
        return web.json_response({"ok": True, "signed_in_as": username})

    async def deny(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            self._approvals.deny(str(body.get("code", "")))
        except (LookupError, ValueError) as error:
            return refused(str(error))
        return web.json_response({"ok": True})
