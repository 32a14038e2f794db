"""Constants: object-like macros and enumerators matched by name, renames by
value (see `renames`), the entity kind of each (constant, enumerator, flag)
from the spec's value sets; function-like macros by name and expansion."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.analyses.diff.docs import comment, describe
from vfiogen.analyses.diff.flags import flag_added, flag_set_changed
from vfiogen.analyses.diff.reading import value_of
from vfiogen.analyses.diff.renames import RENAME_SIMILARITY, best_match, renames, similar
from vfiogen.analyses.diff.text import fmt, per_abi_text
from vfiogen.ir.model import Constant
from vfiogen.ir.query import entity_of, is_flag_bit


def compare_constants(s: Sides, out: Findings) -> None:
    o, n = s.old.constants, s.new.constants
    o_uneval = {u.name for u in s.old.unevaluated}
    n_uneval = {u.name for u in s.new.unevaluated}
    removed = [k for k in o if k not in n and k not in n_uneval]
    added = [k for k in n if k not in o and k not in o_uneval]
    was = {k: tuple(value_of(o[k], a) for a in s.abis) for k in removed}
    now = {k: tuple(value_of(n[k], a) for a in s.abis) for k in added}
    renamed = renames(
        removed, added, lambda x, y: _rename_score(o[x], n[y], was[x]) if was[x] == now[y] else None
    )
    new_name_of = {v: k for k, v in renamed.items()}
    for name, c in n.items():
        if name in o:
            _changed(s, out, o[name], c, added)
            continue
        if name in o_uneval:
            continue
        entity = entity_of(s.new, c)
        if name in new_name_of:
            facts = f.Renaming(name, new_name_of[name], value=fmt(c.value))
            out.add(rules.CONSTANT_ADDED, facts, name, "", entity)
        elif entity == "flag" and c.values:
            flag_added(s, out, c, per_abi_text({a: value_of(c, a) for a in s.abis}))
        else:
            vals = per_abi_text({a: value_of(c, a) for a in s.abis})
            home = f" in enum {c.enum.removeprefix('anon:')}" if c.enum else ""
            what = f"new {c.kind} {c.name} = {vals}{home}"
            out.add(rules.CONSTANT_ADDED, f.Renaming(name, None), name, what, entity)
    for name in removed:
        c = o[name]
        other = renamed.get(name)
        if other:
            what = f"renamed to {other}, same value {fmt(c.value)}"
        else:
            vals = per_abi_text({a: value_of(c, a) for a in s.abis})
            what = f"{c.kind} {name} = {vals} is gone"
        out.add(rules.CONSTANT_REMOVED, f.Renaming(name, other), name, what, entity_of(s.old, c))


def _rename_score(x: Constant, y: Constant, values: tuple[int | str, ...]) -> float | None:
    """For two constants of the same values: the same home (value set or
    enum) or a similar name, as plain values collide too easily alone."""
    score = similar(x.name, y.name)
    home = (x.values and x.values == y.values) or (x.enum and x.enum == y.enum)
    if home and not is_flag_bit(values[0]) and score < RENAME_SIMILARITY:
        return None
    if home:
        score += 1.0
    return score if score >= RENAME_SIMILARITY else None


def _changed(s: Sides, out: Findings, o: Constant, n: Constant, added: list[str]) -> None:
    name = n.name
    entity = entity_of(s.new, n)
    changed = [a for a in s.abis if value_of(o, a) != value_of(n, a)]
    if o.kind != n.kind:
        home = f" of enum {n.enum.removeprefix('anon:')}" if n.enum else ""
        if changed:
            ov = per_abi_text({a: value_of(o, a) for a in s.abis})
            nv = per_abi_text({a: value_of(n, a) for a in s.abis})
            what = f"{o.kind} = {ov} -> {n.kind}{home} = {nv}{_old_value_now(s, o, added)}"
        else:
            what = f"{o.kind} -> {n.kind}{home}, same value {fmt(n.value)}"
        out.add(rules.CONSTANT_KIND, f.KindChange(bool(changed)), name, what, entity)
    elif changed:
        moved_to = _old_value_now(s, o, added)
        per: dict[str, tuple[f.ConstantChange, str] | None] = {}
        for a in s.abis:
            change = f.ConstantChange(name, value_of(o, a), value_of(n, a))
            what = f"{fmt(change.before)} -> {fmt(change.after)}"
            if not change.count_grew:
                what += moved_to
            per[a] = (change, what) if a in changed else None
        out.add_per_abi(rules.CONSTANT_VALUE, name, per, entity)
    flag_set_changed(out, o, n, entity)
    if o.doc.split() != n.doc.split():
        out.doc(name, describe(comment(o.doc), comment(n.doc)))


def _old_value_now(s: Sides, o: Constant, added: list[str]) -> str:
    """` (its old value is now NAME)`: where a value went when its name was
    given to another value."""

    def score(x: str, y: str) -> float | None:
        c = s.new.constants[y]
        if any(value_of(c, a) != value_of(o, a) for a in s.abis):
            return None
        sim = similar(x, y)
        return sim if sim >= RENAME_SIMILARITY else None

    best = best_match(o.name, added, score)
    return f" (its old value is now {best})" if best else ""


def compare_function_macros(s: Sides, out: Findings) -> None:
    o, n = s.old.function_macros, s.new.function_macros
    for name, m in n.items():
        sig = f"{name}({', '.join(m.params)})"
        if name not in o:
            out.add(rules.MACRO_ADDED, f.NOTHING, name, f"new function-like macro {sig}")
        elif (
            " ".join(o[name].body.split()) != " ".join(m.body.split()) or o[name].params != m.params
        ):
            what = f"function-like macro {sig}: its expansion changed"
            out.add(rules.MACRO_CHANGED, f.NOTHING, name, what)
    for name, m in o.items():
        if name not in n:
            what = f"function-like macro {name}({', '.join(m.params)}) is gone"
            out.add(rules.MACRO_REMOVED, f.NOTHING, name, what)
