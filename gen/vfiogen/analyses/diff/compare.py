"""`diff(old, new)`: check both specs, choose the ABIs, and run the matcher
of each entity kind in report order."""

from __future__ import annotations

from typing import Iterable

from vfiogen.analyses.diff.capabilities import compare_capabilities, compare_features
from vfiogen.analyses.diff.constants import compare_constants, compare_function_macros
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.analyses.diff.model import Report
from vfiogen.analyses.diff.records import compare_types
from vfiogen.analyses.diff.requests import compare_requests
from vfiogen.errors import DiffError, Loc, SpecFormatError
from vfiogen.ir.model import Spec

MATCHERS = (
    compare_requests,
    compare_types,
    compare_constants,
    compare_function_macros,
    compare_capabilities,
    compare_features,
)


def diff(
    old: Spec,
    new: Spec,
    old_name: str | None = None,
    new_name: str | None = None,
    abis: Iterable[str] | None = None,
) -> Report:
    """Compare two specs on the ABIs both have (or the given subset)."""
    common = [a for a in old.abis if a in new.abis]
    if abis is not None:
        wanted = list(abis)
        missing = [a for a in wanted if a not in common]
        if missing:
            raise DiffError(
                None,
                f"ABI {missing[0]} is not in both specs; they share {', '.join(common) or 'none'}",
            )
        common = wanted
    if not common:
        raise DiffError(
            None,
            f"the specs share no ABI (old: {', '.join(old.abis)}; new: {', '.join(new.abis)})",
        )
    for spec, label in ((old, old_name or old.source), (new, new_name or new.source)):
        check_spec(spec, common, label)
    report = Report(old_name or old.source, new_name or new.source, common)
    for only, side in ((old.abis, "old"), (new.abis, "new")):
        extra = [a for a in only if a not in common]
        if extra:
            report.notes.append(f"ABIs only in the {side} spec, not compared: {', '.join(extra)}")
    old_headers = {h.name for h in old.headers}
    new_headers = {h.name for h in new.headers}
    for h in sorted(new_headers - old_headers):
        report.notes.append(f"{h} is new: everything it declares is reported as added")
    for h in sorted(old_headers - new_headers):
        report.notes.append(f"{h} is gone: everything it declared is reported as removed")
    sides, findings = Sides(old, new, common), Findings(common)
    for match in MATCHERS:
        match(sides, findings)
    report.changes = findings.all()
    return report


def check_spec(spec: Spec, abis: list[str], label: str) -> None:
    """A spec read from JSON may be inconsistent; refuse it with a position
    rather than fail half-way through the diff."""
    where = Loc(label)
    for name, rec in spec.records.items():
        for abi in abis:
            if abi not in rec.layout:
                raise SpecFormatError(where, f"record {name} has no layout for ABI {abi}")
        for f in rec.fields:
            if any(abi not in f.layout for abi in abis):
                raise SpecFormatError(where, f"field {name}.{f.name} lacks a per-ABI layout")
            if f.type.kind == "record" and f.type.name not in spec.records:
                raise SpecFormatError(where, f"field {name}.{f.name}: unknown {f.type.name}")
    for name, req in spec.requests.items():
        for abi in abis:
            if abi not in req.numbers:
                raise SpecFormatError(where, f"request {name} has no number for ABI {abi}")
    for name, c in spec.constants.items():
        if c.per_abi is not None and any(a not in c.per_abi for a in abis):
            raise SpecFormatError(where, f"constant {name} lacks a per-ABI value")
        if c.values is not None and c.values not in spec.value_sets:
            raise SpecFormatError(where, f"constant {name}: unknown value set {c.values}")
