"""Flag sets: a new bit of a set may take a bit an OLD flag of the set had;
a flag may be bound to another set."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.ir.model import Constant
from vfiogen.ir.query import is_flag_bit


def flag_added(s: Sides, out: Findings, c: Constant, values: str) -> None:
    """A flag only NEW has; `values` is how its value reads."""
    vs = s.new.value_sets[c.values or ""]
    where = ", ".join(vs.fields) or vs.id
    taken = bit_taken(s, c)
    what = (
        f"bit {values} of {where} already means {taken} in OLD"
        if taken
        else f"new bit {values} of {where}"
    )
    out.add(rules.FLAG_ADDED, f.FlagAddition(taken), c.name, what)


def bit_taken(s: Sides, c: Constant) -> str | None:
    """An OLD member of the same flag set with the same single bit, which no
    longer has that bit (or is gone)."""
    old_set = s.old.value_sets.get(c.values or "")
    if old_set is None or not is_flag_bit(c.value):
        return None
    for m in old_set.members:
        oc = s.old.constants.get(m)
        if oc is not None and oc.value == c.value and m not in s.new.constants:
            return m
        if oc is not None and oc.value == c.value and m != c.name:
            nc = s.new.constants.get(m)
            if nc is not None and nc.value != c.value:
                return m
    return None


def flag_set_changed(out: Findings, o: Constant, n: Constant, entity: str) -> None:
    """A flag of both sides now documented with another flag set."""
    if o.values and n.values and o.values != n.values and entity == "flag":
        what = f"now documented with {n.values} (was {o.values})"
        out.add(rules.FLAG_SET, f.NOTHING, n.name, what, entity)
