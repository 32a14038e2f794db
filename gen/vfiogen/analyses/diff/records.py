"""Types: named structs and unions (matched by name, renames by kind, member
types and layout), tagged enums (renames by enumerators), and the size and
alignment of a record on each ABI. Their members: `fields`."""

from __future__ import annotations

from vfiogen.analyses.diff import facts as f
from vfiogen.analyses.diff import rules
from vfiogen.analyses.diff.context import Findings, Sides
from vfiogen.analyses.diff.docs import describe, doc_text
from vfiogen.analyses.diff.fields import compare_fields
from vfiogen.analyses.diff.renames import renames, similar
from vfiogen.analyses.diff.text import per_abi_text
from vfiogen.ir.model import Record
from vfiogen.ir.query import Member


def compare_types(s: Sides, out: Findings) -> None:
    o = {k: r for k, r in s.old.records.items() if not r.anonymous}
    n = {k: r for k, r in s.new.records.items() if not r.anonymous}
    removed = [k for k in o if k not in n]
    added = [k for k in n if k not in o]

    def member_types(members: dict[str, Member]) -> list[str]:
        return [m.field.type.c() for m in members.values()]

    def score(x: str, y: str) -> float | None:
        same = (
            o[x].kind == n[y].kind
            and s.same_layout(x, y)
            and member_types(s.old_members(x)) == member_types(s.new_members(y))
        )
        return similar(x, y) if same else None

    renamed = renames(removed, added, score)
    new_name_of = {v: k for k, v in renamed.items()}
    for name, rec in n.items():
        if name in o:
            _record_changed(s, out, o[name], rec)
        elif name in new_name_of:
            out.add(rules.TYPE_ADDED, f.Renaming(name, new_name_of[name], rec.kind), name, "")
        else:
            sizes = per_abi_text({a: rec.layout[a].size for a in s.abis}, str)
            what = f"new {rec.kind}, size {sizes}"
            out.add(rules.TYPE_ADDED, f.Renaming(name, None, rec.kind), name, what)
    for name in removed:
        facts = f.Renaming(name, renamed.get(name), o[name].kind)
        out.add(rules.TYPE_REMOVED, facts, name, f"{o[name].kind} {name} is gone")
    _enums(s, out)


def _enums(s: Sides, out: Findings) -> None:
    o = {e.tag: e for e in s.old.enums.values() if e.tag}
    n = {e.tag: e for e in s.new.enums.values() if e.tag}
    for tag, e in n.items():
        if tag not in o:
            what = f"new enum {tag} ({len(e.enumerators)} enumerators)"
            out.add(rules.TYPE_ADDED, f.Renaming(tag, None, "enum"), tag, what)
        else:
            out.doc(f"enum {tag}", describe(doc_text(o[tag].doc), doc_text(e.doc)))
    renamed = renames(
        [k for k in o if k not in n],
        [k for k in n if k not in o],
        lambda x, y: 0.0 if o[x].enumerators == n[y].enumerators else None,
    )
    for tag in o:
        if tag not in n:
            facts = f.Renaming(tag, renamed.get(tag), "enum")
            out.add(rules.TYPE_REMOVED, facts, tag, f"enum {tag} is gone")


def _record_changed(s: Sides, out: Findings, o: Record, n: Record) -> None:
    name = n.name
    if o.kind != n.kind:
        out.add(rules.TYPE_KIND, f.NOTHING, name, f"{o.kind} -> {n.kind}")
        return
    om, nm = s.old_members(name), s.new_members(name)
    per: dict[str, tuple[f.RecordResize, str] | None] = {}
    for a in s.abis:
        ol, nl = o.layout[a], n.layout[a]
        if (ol.size, ol.align) == (nl.size, nl.align):
            per[a] = None
            continue
        if ol.size == nl.size:
            what = f"alignment {ol.align} -> {nl.align}, size {nl.size} unchanged"
        else:
            what = f"size {ol.size} -> {nl.size}" + (
                f", alignment {ol.align} -> {nl.align}" if ol.align != nl.align else ""
            )
        kept = all(
            k in nm and nm[k].layout[a] == m.layout[a] or f.is_reserved(k) for k, m in om.items()
        )
        facts = f.RecordResize(ol.size, nl.size, kept, s.embedded.get(name), s.growable.get(name))
        if kept and nl.size > ol.size:
            what += ", growth at the tail"
        per[a] = (facts, what)
    out.add_per_abi(rules.TYPE_LAYOUT, name, per)
    compare_fields(s, out, o, n, om, nm)
    out.doc(name, describe(doc_text(o.doc), doc_text(n.doc)))
