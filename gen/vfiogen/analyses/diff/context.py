"""What every per-kind matcher shares: the two specs with the ABIs compared
(`Sides`), and where their findings go (`Findings`), judged by the rules."""

from __future__ import annotations

from typing import TypeVar

from vfiogen.analyses.diff.model import Change
from vfiogen.analyses.diff.reading import embedders, growable
from vfiogen.analyses.diff.rules import DOC, Aspect, Verdict
from vfiogen.analyses.diff.facts import NOTHING
from vfiogen.analyses.diff.text import merge_texts
from vfiogen.ir.model import Spec
from vfiogen.ir.query import Member, members

F = TypeVar("F")
Span = dict[str, tuple[int, int]]  # abi -> (offset, size)


class Sides:
    """OLD and NEW, the ABIs both are compared on, and what both say about
    records: which may grow at the tail, which are embedded in others."""

    def __init__(self, old: Spec, new: Spec, abis: list[str]) -> None:
        self.old, self.new, self.abis = old, new, abis
        self.growable = {**growable(old), **growable(new)}
        self.embedded = {**embedders(old), **embedders(new)}

    def old_members(self, record: str) -> dict[str, Member]:
        return members(self.old.records[record], self.old.records, self.abis)

    def new_members(self, record: str) -> dict[str, Member]:
        return members(self.new.records[record], self.new.records, self.abis)

    def same_layout(self, a: str, b: str) -> bool:
        """OLD's record `a` and NEW's `b`: the same size, alignment, member
        names and member places on every ABI."""
        ra, rb = self.old.records.get(a), self.new.records.get(b)
        if ra is None or rb is None:
            return False
        ma, mb = self.old_members(a), self.new_members(b)
        return (
            all(
                (ra.layout[x].size, ra.layout[x].align) == (rb.layout[x].size, rb.layout[x].align)
                for x in self.abis
            )
            and list(ma) == list(mb)
            and all(ma[k].layout == mb[k].layout for k in ma)
        )

    def overlaps(self, x: Span, y: Span) -> bool:
        return any(x[a][0] < y[a][0] + y[a][1] and y[a][0] < x[a][0] + x[a][1] for a in self.abis)


class Findings:
    """The changes found, in report order (documentation last), each with the
    severity and reason the rules give its facts."""

    def __init__(self, abis: list[str]) -> None:
        self.abis = abis
        self.changes: list[Change] = []
        self.docs: list[Change] = []

    def all(self) -> list[Change]:
        return self.changes + self.docs

    def add(
        self,
        aspect: Aspect[F],
        facts: F,
        name: str,
        what: str,
        entity: str | None = None,
        abi: str | None = None,
    ) -> None:
        """One change; `what` is its description, the rules add the reason."""
        verdict = aspect.judge(facts)
        self._append(aspect, verdict, name, what, entity, abi)

    def add_per_abi(
        self,
        aspect: Aspect[F],
        name: str,
        per: dict[str, tuple[F, str] | None],
        entity: str | None = None,
    ) -> None:
        """`per` maps each ABI to (facts, what) or None. One change when every
        ABI has it for the same rule and reason (the per-ABI words go into the
        description), else one change per affected ABI."""
        hit = {a: (aspect.judge(x[0]), x[1]) for a, x in per.items() if x is not None}
        if not hit:
            return
        first = next(iter(hit.values()))[0]
        if len(hit) == len(self.abis) and all(v == first for v, _ in hit.values()):
            what = merge_texts({a: w for a, (_, w) in hit.items()})
            self._append(aspect, first, name, what, entity, None)
            return
        for abi, (verdict, what) in hit.items():
            self._append(aspect, verdict, name, what, entity, abi)

    def doc(self, name: str, what: str | None) -> None:
        """A documentation change (`what` from `docs.describe`; None: none),
        reported after every other change."""
        if what:
            self.docs.append(_change(DOC, DOC.judge(NOTHING), name, what, None, None))

    def _append(
        self,
        aspect: Aspect[F],
        verdict: Verdict,
        name: str,
        what: str,
        entity: str | None,
        abi: str | None,
    ) -> None:
        self.changes.append(_change(aspect, verdict, name, what, entity, abi))


def _change(
    aspect: Aspect[F], verdict: Verdict, name: str, what: str, entity: str | None, abi: str | None
) -> Change:
    """The Change: detail is "what; reason" (either alone when the other is
    empty); the entity one of the aspect's (its first by default)."""
    kind = entity or aspect.entities[0]
    if kind not in aspect.entities:
        raise LookupError(f"{aspect.id} does not judge {kind} changes")
    reason = verdict.reason
    detail = f"{what}; {reason}" if what and reason else what or reason
    return Change(kind, name, aspect.change, verdict.severity, abi, detail, verdict.rule)
