"""Where the bot is in forest's event log: the last sequence it handled, per organisation.

Kept in the bot's key-value state, so a restart, or another replica taking over, resumes after
it and forest replays what happened in between.
"""

from __future__ import annotations

import nats.js.errors
from nats.js.kv import KeyValue


class Cursor:
    def __init__(self, kv: KeyValue, organisation: str) -> None:
        self._kv = kv
        self._key = f"cursor.{organisation}"

    async def load(self) -> int:
        """The last sequence handled; 0 when none was (forest then sends only new events)."""
        sequence, _ = await self._read()
        return sequence

    async def save(self, sequence: int) -> None:
        """Move the cursor forward to ``sequence``; never back (a slower replica's write)."""
        for _ in range(3):
            current, revision = await self._read()
            if sequence <= current:
                return
            try:
                if revision is None:
                    await self._kv.create(self._key, str(sequence).encode())
                else:
                    await self._kv.update(self._key, str(sequence).encode(), last=revision)
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                continue

    async def _read(self) -> tuple[int, int | None]:
        try:
            entry = await self._kv.get(self._key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return 0, None
        try:
            return int((entry.value or b"0").decode()), entry.revision
        except ValueError:
            return 0, entry.revision
