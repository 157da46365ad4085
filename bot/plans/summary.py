"""Reading a plan's text for what a reviewer must see first: how much changes, and what goes.

Terraform and OpenTofu end a plan with "Plan: N to add, N to change, N to destroy." and mark each
resource that goes with "# <address> will be destroyed" or "must be replaced". Anything else is
shown as it is; a summary is only claimed when those lines are there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Colour and cursor codes: plans run in CI are often coloured.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_PLAN_LINE = re.compile(
    r"^\s*Plan:\s*(?:(?P<import>\d+) to import,\s*)?(?P<add>\d+) to add,\s*"
    r"(?P<change>\d+) to change,\s*(?P<destroy>\d+) to destroy\b",
    re.MULTILINE,
)
_NO_CHANGES = re.compile(r"^\s*No changes\.", re.MULTILINE)
_GOES = re.compile(
    r"^\s*#\s+(?P<address>\S.*?)\s+(?P<how>will be destroyed|must be replaced)\s*$", re.MULTILINE
)
# A plan of megabytes is read only this far for the resources it destroys; the summary line is
# looked for in its last part, where Terraform writes it.
_SCAN_CHARS = 2_000_000
_TAIL_CHARS = 200_000
MAX_LISTED = 50


@dataclass(frozen=True)
class Doomed:
    """A resource the plan removes: destroyed, or replaced (destroyed and created again)."""

    address: str
    replaced: bool


@dataclass(frozen=True)
class PlanSummary:
    to_add: int = 0
    to_change: int = 0
    to_destroy: int = 0
    to_import: int = 0
    no_changes: bool = False
    # False: the text is not Terraform-style; show it, claim nothing about it.
    recognised: bool = False
    doomed: tuple[Doomed, ...] = ()
    # Resources removed beyond those listed in ``doomed``.
    doomed_unlisted: int = 0

    @property
    def line(self) -> str:
        """Terraform's own words: "Plan: 1 to add, 0 to change, 2 to destroy." """
        if self.no_changes:
            return "No changes."
        imported = f"{self.to_import} to import, " if self.to_import else ""
        return (
            f"Plan: {imported}{self.to_add} to add, {self.to_change} to change, "
            f"{self.to_destroy} to destroy."
        )


def clean(text: str) -> str:
    """The plan without colour codes and with one kind of line break."""
    return _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def summarise(text: str) -> PlanSummary:
    """What ``text`` (one destination's plan) says it will do, when it says it Terraform's way."""
    doomed_all = [
        Doomed(match["address"].strip(), match["how"] == "must be replaced")
        for match in _GOES.finditer(clean(text[:_SCAN_CHARS]))
    ]
    doomed = tuple(doomed_all[:MAX_LISTED])
    unlisted = len(doomed_all) - len(doomed)
    tail = clean(text[-_TAIL_CHARS:])
    # The last one counts: a plan may quote an earlier run.
    plan = next(reversed(list(_PLAN_LINE.finditer(tail))), None)
    if plan is not None:
        return PlanSummary(
            to_add=int(plan["add"]),
            to_change=int(plan["change"]),
            to_destroy=int(plan["destroy"]),
            to_import=int(plan["import"] or 0),
            recognised=True,
            doomed=doomed,
            doomed_unlisted=unlisted,
        )
    if _NO_CHANGES.search(tail):
        return PlanSummary(no_changes=True, recognised=True)
    return PlanSummary(doomed=doomed, doomed_unlisted=unlisted, recognised=bool(doomed))
