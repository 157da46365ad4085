"""JSON in and out of the demo page's HTTP handlers."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; {} for anything else, so handlers report what is missing."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def refused(sentence: str, status: int = 409) -> web.Response:
    """An action the page asked for and could not do, said so the page can show it."""
    return web.json_response({"ok": False, "error": sentence}, status=status)
