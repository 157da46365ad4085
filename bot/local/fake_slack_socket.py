"""Slack's Socket Mode side: the websocket that apps.connections.open hands out.

The protocol as slack_sdk's SocketModeClient speaks it: the server greets with `hello`, sends
envelopes `{envelope_id, type, payload, accepts_response_payload}`, and the client acks each one
by sending `{"envelope_id": ..., "payload"?: ...}` back. A `disconnect` message asks the client
to fetch a new URL and reconnect. Pings are websocket control frames, answered automatically.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from bot.local.fake_slack_model import JsonDict

ENVELOPE_TYPES = frozenset({"interactive", "slash_commands", "events_api"})
# Slack shows the person an error when an interaction is not acknowledged within 3 seconds.
ACK_TIMEOUT_SECONDS = 3.0


class SocketModeHub:
    """The live Socket Mode connections and the envelopes waiting for their ack."""

    def __init__(self, app_id: str) -> None:
        self._app_id = app_id
        self._tickets: set[str] = set()
        self._connections: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[JsonDict]] = {}
        self._changed = asyncio.Event()
        self.received: list[JsonDict] = []
        self.sent: list[JsonDict] = []
        self.connects = 0

    @property
    def connected(self) -> int:
        return sum(1 for ws in self._connections if not ws.closed)

    def issue_ticket(self) -> str:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return ticket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._connections.append(ws)
        self.connects += 1
        try:
            await ws.send_json(self._hello())
            self._notify()
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(message.data)
        finally:
            self._connections.remove(ws)
            self._notify()
        return ws

    def _hello(self) -> JsonDict:
        return {
            "type": "hello",
            "num_connections": len(self._connections),
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._app_id},
        }

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            message = {"unparsed": data}
        self.received.append(message)
        future = self._pending.get(str(message.get("envelope_id")))
        if future is not None and not future.done():
            future.set_result(message)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_connected(self, timeout: float, connects: int = 1) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not self.connected or self.connects < connects:
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"no Socket Mode client connected within {timeout}s "
                f"({self.connects} connection(s) so far)"
            ) from None

    def _live(self) -> web.WebSocketResponse:
        # The newest connection: after a reconnect the older one is on its way out.
        for ws in reversed(self._connections):
            if not ws.closed:
                return ws
        raise AssertionError("no Socket Mode client is connected")

    async def send(
        self,
        envelope_type: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool = False,
        timeout: float = ACK_TIMEOUT_SECONDS,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> JsonDict | None:
        """Deliver one envelope and return the ack's payload (None when the ack had none)."""
        if envelope_type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {sorted(ENVELOPE_TYPES)}")
        envelope = self._envelope(envelope_type, payload, accepts_response_payload)
        if envelope_type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        envelope_id = envelope["envelope_id"]
        future: asyncio.Future[JsonDict] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = future
        try:
            await self._live().send_json(envelope)
            self.sent.append(envelope)
            ack = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(
                f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s; "
                "the app did not ack (Bolt sends no ack when no listener matched). "
                f"Payload: {short_json(payload)}"
            ) from None
        finally:
            self._pending.pop(envelope_id, None)
        return ack.get("payload")

    def _envelope(self, envelope_type: str, payload: JsonDict, accepts: bool) -> JsonDict:
        return {
            "envelope_id": str(uuid.uuid4()),
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts,
        }

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the connected clients to reconnect, as Slack does every few hours."""
        for ws in list(self._connections):
            if not ws.closed:
                message = {"type": "disconnect", "reason": reason}
                await ws.send_json({**message, "debug_info": {"host": "applink-fake"}})

    async def drop(self) -> None:
        """Close every websocket without warning, like a network failure would."""
        for ws in list(self._connections):
            await ws.close(code=1011, message=b"dropped")

    async def close(self) -> None:
        for ws in list(self._connections):
            await ws.close(code=1001, message=b"server stopping")
        for future in self._pending.values():
            future.cancel()


def short_json(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
