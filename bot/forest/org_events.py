"""Forest's organisation event log (EventService.Subscribe), as plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

RELEASE = "release"
PIPELINE = "pipeline"
CREATED = "created"
STAGE_CHANGED = "stage_changed"
COMPLETED = "completed"


@dataclass(frozen=True)
class OrgEvent:
    # increasing per organisation: store the last one handled and resume after it
    sequence: int
    event_id: str
    organisation: str
    project: str
    resource_type: str
    action: str
    resource_id: str
    timestamp: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
