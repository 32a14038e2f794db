"""Fields: the members of a record as C code reaches them (through anonymous
structs and unions), matched by name; a field of the same offset and type
under a new name is a rename. Where a new field lies decides its severity."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.analyses.diff.docs import comment, describe
from vfiogen.analyses.diff.reading import spelled
from vfiogen.analyses.diff.renames import renames
from vfiogen.ir.abi import ABIS
from vfiogen.ir.model import Record
from vfiogen.ir.query import Member


def compare_fields(
    s: Sides, out: Findings, o: Record, n: Record, om: dict[str, Member], nm: dict[str, Member]
) -> None:
    rec = n.name
    removed = [k for k in om if k not in nm]
    added = [k for k in nm if k not in om]
    renamed = renames(
        removed,
        added,
        lambda x, y: (
            0.0
            if om[x].layout == nm[y].layout and om[x].field.type.c() == nm[y].field.type.c()
            else None
        ),
    )
    new_name_of = {v: k for k, v in renamed.items()}
    for k, m in nm.items():
        if k in om:
            _field_changed(s, out, rec, om[k], m)
        elif k in new_name_of:
            x = new_name_of[k]
            what = f"{m.field.type.c()} {k} takes the place of {x}, same offset and type"
            facts = f.Renaming(k, x, reserved=f.is_reserved(x))
            out.add(rules.FIELD_RENAMED, facts, f"{rec}.{k}", what)
        else:
            _field_added(s, out, o, n, om, nm, m)
    for k in removed:
        m = om[k]
        y = renamed.get(k)
        users = tuple(
            x for x, nmem in nm.items() if x not in om and s.overlaps(nmem.layout, m.layout)
        )
        removal = f.FieldRemoval(k, y, users)
        decl = f"{m.field.type.c()} {k}"
        if y and removal.reserved:
            what = f"reserved field now named {y}"
        elif y:
            what = f"renamed to {y}, same offset and type"
        elif removal.reserved:
            what = f"reserved field {decl} removed or reused"
        else:
            what = f"{decl} is gone"
        out.add(rules.FIELD_REMOVED, removal, f"{rec}.{k}", what)


def _field_added(
    s: Sides,
    out: Findings,
    o: Record,
    n: Record,
    om: dict[str, Member],
    nm: dict[str, Member],
    m: Member,
) -> None:
    rec = n.name
    decl = f"{spelled(m.field)} {m.name}"
    in_union = bool(m.path and m.path[-1] == "union") or n.kind == "union"
    per: dict[str, tuple[f.FieldPlacement, str] | None] = {}
    for a in s.abis:
        off, size = m.layout[a]
        old_size = o.layout[a].size
        hits = tuple(
            k
            for k, om_ in om.items()
            if size
            and om_.layout[a][1]
            and off < om_.layout[a][0] + om_.layout[a][1]
            and om_.layout[a][0] < off + size
        )
        alternative = (
            bool(hits)
            and in_union
            and all(k in nm and nm[k].layout[a] == om[k].layout[a] for k in hits)
        )
        facts = f.FieldPlacement(
            rec, off, size, old_size, hits, alternative, s.embedded.get(rec), s.growable.get(rec)
        )
        per[a] = (facts, _placement(decl, facts))
    out.add_per_abi(rules.FIELD_ADDED, f"{rec}.{m.name}", per)


def _placement(decl: str, p: f.FieldPlacement) -> str:
    """Where a new field lies, in words."""
    hits = ", ".join(p.overlaps)
    if p.flexible_at_tail:
        return f"{decl}: flexible array added at the tail (offset {p.offset})"
    if p.union_alternative:
        return f"{decl} added at offset {p.offset} as an alternative to {hits} in a union"
    if p.in_reserved:
        return f"{decl} added at offset {p.offset} in reserved {hits}"
    if p.overlaps:
        return f"{decl} added at offset {p.offset} over {hits} of OLD"
    if p.in_padding:
        return f"{decl} added at offset {p.offset} in padding"
    if p.negotiated and not p.embedded_in:
        return f"{decl} added at the tail (offset {p.offset}, old size {p.old_size})"
    return f"{decl} added at offset {p.offset}, past the old end ({p.old_size})"


def _align_note(s: Sides, o: Member, n: Member) -> str:
    """`, alignment 4 -> 8 on i386`: what an explicit alignment changes."""
    ot, nt = o.field.type, n.field.type
    if o.field.align == n.field.align or ot.kind != "int" or nt.kind != "int":
        return ""
    moved = []
    for a in s.abis:
        before = max(ABIS[a].scalar(ot.base)[1], o.field.align or 1)
        after = max(ABIS[a].scalar(nt.base)[1], n.field.align or 1)
        if before != after:
            moved.append(f"alignment {before} -> {after} on {a}")
    return f" ({', '.join(moved)})" if moved else ""


def _field_changed(s: Sides, out: Findings, rec: str, o: Member, n: Member) -> None:
    full = f"{rec}.{n.name}"
    if spelled(o.field) != spelled(n.field):
        same = all(o.layout[a] == n.layout[a] for a in s.abis)
        facts = f.FieldRetype(
            n.name, o.field.type.kind, n.field.type.kind, same, _align_note(s, o, n) if same else ""
        )
        what = f"type {spelled(o.field)} -> {spelled(n.field)}"
        out.add(rules.FIELD_TYPE, facts, full, what)
    per: dict[str, tuple[f.FieldMove, str] | None] = {}
    for a in s.abis:
        (oo, os_), (no, ns) = o.layout[a], n.layout[a]
        if (oo, os_) == (no, ns):
            per[a] = None
            continue
        moves = []
        if oo != no:
            moves.append(f"offset {oo} -> {no}")
        if os_ != ns:
            moves.append(f"size {os_} -> {ns}")
        per[a] = (f.FieldMove(n.name), ", ".join(moves))
    out.add_per_abi(rules.FIELD_PLACE, full, per)
    if o.path != n.path:
        peers = f" with {', '.join(n.peers)}" if n.peers else ""
        where = f"an anonymous {n.path[-1]}{peers}" if n.path else "the record itself"
        same_offset = all(o.layout[a][0] == n.layout[a][0] for a in s.abis)
        out.add(rules.FIELD_NESTING, f.FieldMove(n.name, same_offset), full, f"moved into {where}")
    if o.field.counted_by != n.field.counted_by:
        what = f"__counted_by {o.field.counted_by or '-'} -> {n.field.counted_by or '-'}"
        out.add(rules.FIELD_COUNTED_BY, f.NOTHING, full, what)
    if o.field.doc.split() != n.field.doc.split():
        out.doc(full, describe(comment(o.field.doc), comment(n.field.doc)))
