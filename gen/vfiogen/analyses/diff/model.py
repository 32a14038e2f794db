"""What a diff produces: `Change`s collected in a `Report`, the input of the
renderers (`vfiogen.emit.reports.diff`) and of `vfiogen diff --format json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Entity = Literal["request", "type", "field", "constant", "enumerator", "flag", "capability", "doc"]
ChangeKind = Literal["added", "removed", "changed"]
Severity = Literal["breaking", "compatible", "cosmetic"]

ENTITIES: tuple[str, ...] = (
    "request",
    "type",
    "field",
    "constant",
    "enumerator",
    "flag",
    "capability",
    "doc",
)
CHANGES: tuple[str, ...] = ("added", "removed", "changed")
SEVERITIES: tuple[str, ...] = ("breaking", "compatible", "cosmetic")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference; its JSON object has the issue's shape, field for field.
    `rule` names the rule of `rules.RULES` that set severity and reason; it is
    for tests and tools, not part of the JSON (nor of equality)."""

    entity: str
    name: str  # for a field: "type.field"
    change: str
    severity: str
    abi: str | None  # None: the same on every compared ABI
    detail: str  # "what; why"
    rule: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "name": self.name,
            "change": self.change,
            "severity": self.severity,
            "abi": self.abi,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Report:
    old: str
    new: str
    abis: list[str]
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown to people, not in JSON

    @property
    def breaking(self) -> bool:
        return any(c.severity == "breaking" for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "changes": [c.to_json() for c in self.changes]}
