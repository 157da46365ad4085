"""The fake forest's org event log: what forest's event bus writes and Subscribe streams.

Sequences come from one counter for all organisations (forest's is a database sequence), so they
increase per organisation, with gaps. A subscriber waits on a wake-up that every new event sets,
the way forest's stream wakes on its `forest.events.<org>` nudge, and on a fallback timer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# What forest's stream reads at once: the replay, then each wake-up.
REPLAY_LIMIT = 1000
BATCH_LIMIT = 100


@dataclass(frozen=True)
class LoggedEvent:
    sequence: int
    event_id: str
    timestamp: float
    organisation: str
    project: str
    resource_type: str
    action: str
    resource_id: str
    metadata: dict[str, str] = field(default_factory=dict, hash=False)


class EventLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._events: list[LoggedEvent] = []
        self._sequence = 0
        self._wakers: set[asyncio.Event] = set()

    def record(
        self,
        organisation: str,
        project: str,
        resource_type: str,
        action: str,
        resource_id: str,
        metadata: dict[str, str] | None = None,
        *,
        wake: bool = True,
    ) -> LoggedEvent:
        """Append an event. ``wake=False``: forest's nudge (core NATS, best effort) was lost,
        so streams only find it when they poll."""
        self._sequence += 1
        event = LoggedEvent(
            sequence=self._sequence,
            event_id=str(uuid.uuid4()),
            timestamp=self._clock(),
            organisation=organisation,
            project=project,
            resource_type=resource_type,
            action=action,
            resource_id=resource_id,
            metadata=dict(metadata or {}),
        )
        self._events.append(event)
        if wake:
            self.wake()
        return event

    def wake(self) -> None:
        for waker in self._wakers:
            waker.set()

    def events(self, organisation: str | None = None) -> list[LoggedEvent]:
        return [e for e in self._events if organisation is None or e.organisation == organisation]

    def max_sequence(self, organisation: str) -> int:
        return max((e.sequence for e in self.events(organisation)), default=0)

    def fetch_since(
        self,
        organisation: str,
        since_sequence: int,
        project: str = "",
        resource_types: Iterable[str] = (),
        actions: Iterable[str] = (),
        limit: int = BATCH_LIMIT,
    ) -> list[LoggedEvent]:
        types, wanted_actions = set(resource_types), set(actions)
        found = [
            e
            for e in self._events
            if e.organisation == organisation
            and e.sequence > since_sequence
            and (not project or e.project == project)
            and (not types or e.resource_type in types)
            and (not wanted_actions or e.action in wanted_actions)
        ]
        return found[:limit]

    def waker(self) -> asyncio.Event:
        """An event set whenever something is recorded; `forget` it when done."""
        waker = asyncio.Event()
        self._wakers.add(waker)
        return waker

    def forget(self, waker: asyncio.Event) -> None:
        self._wakers.discard(waker)
