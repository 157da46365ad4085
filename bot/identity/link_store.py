"""Links between Slack people and their forest accounts, stored encrypted in JetStream KV.

- ``link.<team>.<slack user>``: the forest identity and tokens, sealed with ``TokenCipher``.
- ``person.<forest user id>``: the Slack user id, so messages can mention forest users.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import nats.js.errors
from nats.js.kv import KeyValue

from bot.identity.token_cipher import TokenCipher, UndecryptableValue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Link:
    team_id: str
    slack_user_id: str
    forest_user_id: str
    forest_username: str
    access_token: str
    refresh_token: str
    expires_at: float  # unix seconds
    linked_at: float

    def __repr__(self) -> str:
        # Keeps tokens out of tracebacks and debug logs.
        return (
            f"Link(team_id={self.team_id!r}, slack_user_id={self.slack_user_id!r}, "
            f"forest_username={self.forest_username!r})"
        )


class LinkStore:
    def __init__(self, kv: KeyValue, cipher: TokenCipher) -> None:
        self._kv = kv
        self._cipher = cipher

    async def get(self, team_id: str, slack_user_id: str) -> Link | None:
        key = _link_key(team_id, slack_user_id)
        try:
            entry = await self._kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError):
            return None
        if not entry.value:
            return None
        try:
            opened = self._cipher.open_any(entry.value, key)
        except UndecryptableValue:
            # Written under another BOT_SECRET_KEY, or tampered with: the person links again.
            log.warning(
                "stored link cannot be decrypted; treating as unlinked",
                extra={"slack_user": slack_user_id},
            )
            return None
        if opened.stale:
            await self._reseal(key, opened.plaintext, entry.revision)
        return Link(**json.loads(opened.plaintext))

    async def _reseal(self, key: str, plaintext: bytes, revision: int | None) -> None:
        """Seal a value opened with an older BOT_SECRET_KEY again with the first one, unless it
        changed meanwhile (then its writer sealed it with the first key already)."""
        try:
            await self._kv.update(key, self._cipher.seal(plaintext, key), last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return

    async def save(self, link: Link) -> None:
        key = _link_key(link.team_id, link.slack_user_id)
        sealed = self._cipher.seal(json.dumps(asdict(link)).encode(), key)
        await self._kv.put(key, sealed)
        await self._kv.put(_person_key(link.forest_user_id), link.slack_user_id.encode())

    async def forget(self, team_id: str, slack_user_id: str) -> Link | None:
        link = await self.get(team_id, slack_user_id)
        await self._kv.delete(_link_key(team_id, slack_user_id))
        if link is not None:
            await self._kv.delete(_person_key(link.forest_user_id))
        return link

    async def slack_user_of(self, forest_user_id: str) -> str | None:
        if not forest_user_id:
            return None
        try:
            entry = await self._kv.get(_person_key(forest_user_id))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.InvalidKeyError):
            return None
        return entry.value.decode() if entry.value else None


def _link_key(team_id: str, slack_user_id: str) -> str:
    return f"link.{team_id}.{slack_user_id}"


def _person_key(forest_user_id: str) -> str:
    return f"person.{forest_user_id}"
