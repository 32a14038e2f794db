"""The reference docs of structs and unions: layout tables per group of
ABIs (the cells that differ marked), members, values, variable-length
tails, and who uses each type (the way back of every link to it).
"""

from __future__ import annotations

from collections.abc import Mapping

from typing import Any

from vfiogen.emit.docs.facts import DIRECTION_TEXT
from vfiogen.emit.docs.names import Names, loc_text, release_text, value_text
from vfiogen.emit.docs.view import (
    Cell,
    ErratumView,
    Fact,
    FieldValues,
    LayoutRow,
    LayoutTable,
    MemberView,
    TypePage,
)
from vfiogen.emit.docs.myst import code, linked, prose, role, slug, text
from vfiogen.ir.query import Member, members
from vfiogen.ir.model import Record, Spec, TypeRef, ValueSet


def value_sets_of(spec: Spec, rec: str, m: Member) -> list[ValueSet]:
    key = f"{rec}.{m.name}"
    out = [vs for vs in spec.value_sets.values() if key in vs.fields]
    if m.field.values and m.field.values in spec.value_sets:
        vs = spec.value_sets[m.field.values]
        if vs not in out:
            out.insert(0, vs)
    return out


def _set_ref(spec: Spec, names: Names, vs: ValueSet) -> str:
    if vs.kind == "enum":
        key = vs.id[len("enum ") :]
        en = spec.enums.get(key)
        title = f"enum {en.tag}" if en is not None and en.tag else anon_enum_title(key)
        return role("ref", names.enum_label(key), title)
    return role("ref", names.values_label(vs.id), f"{vs.kind} of {vs.id}")


def anon_enum_title(key: str) -> str:
    return f"enum {{{key.split(':', 1)[-1]}, ...}}"


def _ctype(t: TypeRef, names: Names) -> str:
    """A field's C type as markup, the record part linked."""
    if t.kind == "array":
        assert t.of is not None
        n = t.count_expr or ("" if t.count is None else str(t.count))
        return f"{_ctype(t.of, names)} {code('[' + n + ']')}"
    if t.kind == "pointer":
        assert t.of is not None
        return f"{_ctype(t.of, names)} {code('*')}"
    if t.kind == "record" and "::" not in t.name:
        return f"{t.base or 'struct'} {names.record(t.name)}"
    if t.kind == "record":
        return code(f"{t.base or 'struct'} {{...}}")
    if t.kind == "enum":
        return f"enum {names.link('enum', t.name) or code(t.name)}"
    return code(t.name)


def _c_decl(t: TypeRef, name: str) -> str | None:
    """`T name[n]` for the C domain, or None for a type C cannot spell here."""
    if t.kind == "array":
        assert t.of is not None
        n = t.count_expr or ("" if t.count is None else str(t.count))
        return _c_decl(t.of, f"{name}[{n}]")
    if t.kind == "pointer":
        assert t.of is not None
        return _c_decl(t.of, f"*{name}")
    if t.kind == "record" and "::" in t.name:
        return None
    return f"{t.c()} {name}"


def layouts(
    spec: Spec,
    rec: Record,
    names: Names,
    directions: Mapping[str, str] | None,
    label: str,
) -> list[LayoutTable]:
    """One table per group of ABIs that lay the record out alike; cells of
    later groups that differ from the first group are marked."""
    ms = members(rec, spec.records, spec.abis)
    groups: dict[tuple[Any, ...], list[str]] = {}
    for abi in spec.abis:
        key = (
            rec.layout[abi].size,
            rec.layout[abi].align,
            tuple(m.layout[abi] for m in ms.values()),
        )
        groups.setdefault(key, []).append(abi)
    tables: list[LayoutTable] = []
    ref_abi = spec.abis[0]
    for i, abis in enumerate(groups.values()):
        a = abis[0]
        rows = []
        for m in ms.values():
            off, size = m.layout[a]
            r_off, r_size = m.layout[ref_abi]
            sets = value_sets_of(spec, rec.name, m)
            path = " ".join(f"(in anonymous {k})" for k in m.path)
            rows.append(
                LayoutRow(
                    m.name,
                    names.member(rec.name, m.name),
                    Cell(off, off != r_off),
                    Cell(size, size != r_size),
                    _ctype(m.field.type, names) + (f" {path}" if path else ""),
                    [_set_ref(spec, names, vs) for vs in sets],
                    (
                        None
                        if directions is None
                        else DIRECTION_TEXT.get(directions.get(m.name, ""), "")
                    ),
                )
            )
        lay, ref = rec.layout[a], rec.layout[ref_abi]
        tables.append(
            LayoutTable(
                f"{label}-{i}" if len(groups) > 1 else label,
                abis,
                Cell(lay.size, lay.size != ref.size),
                Cell(lay.align, lay.align != ref.align),
                ", ".join(tables[0].abis) if i else None,
                rows,
            )
        )
    return tables


def member_views(
    spec: Spec, rec: Record, names: Names, directions: Mapping[str, str] | None
) -> list[MemberView]:
    doc = rec.doc.params if rec.doc is not None else {}
    out = []
    for m in members(rec, spec.records, spec.abis).values():
        out.append(
            MemberView(
                m.name,
                _c_decl(m.field.type, f"{rec.name}.{m.name}"),
                linked(doc.get(m.name) or m.field.doc, names.link),
                None if directions is None else DIRECTION_TEXT.get(directions.get(m.name, ""), ""),
                release_text(spec, m.field.since, m.field.until),
            )
        )
    return out


def tails(spec: Spec, rec: Record, names: Names) -> list[str]:
    out = []
    for t in spec.tails.values():
        if t.record != rec.name:
            continue
        where = names.member(rec.name, t.field)
        if t.count:
            out.append(f"{where}: {names.member(rec.name, t.count)} elements")
        if t.selector == "feature":
            out.append(
                f"{where}: the payload of the feature selected in "
                f"{names.member(rec.name, 'flags')} ({role('doc', '/features', 'registry')})"
            )
        elif t.selector:
            for flag, typ in t.cases.items():
                what = "nothing" if typ == "none" else type_word(spec, names, typ)
                out.append(
                    f"{where}: {what} when {names.member(rec.name, t.selector)} "
                    f"has {names.constant(flag)}"
                )
    return out


def type_word(spec: Spec, names: Names, typ: str) -> str:
    return names.record(typ) if typ in spec.records else code(typ)


def uses(spec: Spec, names: Names) -> dict[str, list[str]]:
    """record -> markup of everything that refers to it (the other direction
    of every link a request, registry or record makes to a type)."""
    out: dict[str, list[str]] = {}

    def add(rec: str | None, what: str) -> None:
        if rec and rec in spec.records and what not in out.setdefault(rec, []):
            out[rec].append(what)

    for r in spec.requests.values():
        if r.arg == "struct":
            add(r.arg_type, f"argument of {names.request(r.name)}")
    for c in spec.capabilities.values():
        add(c.type, f"capability {names.constant(c.name)}")
    for sc in spec.scopes.values():
        add(sc.header, f"capability header of the {role('ref', 'caps-' + slug(sc.name), sc.name)}")
    for f in spec.features.values():
        add(f.type, f"payload of device feature {names.constant(f.name)}")
    for tail in spec.tails.values():
        for flag, typ in tail.cases.items():
            add(
                typ,
                f"{names.member(tail.record, tail.field)} of {names.record(tail.record)} when "
                f"{code(tail.selector or '')} has {names.constant(flag)}",
            )
    for rec in spec.records.values():
        if rec.anonymous:
            continue
        for m in members(rec, spec.records, spec.abis).values():
            t: TypeRef | None = m.field.type
            while t is not None and t.kind in ("array", "pointer"):
                t = t.of
            if t is not None and t.kind == "record":
                add(t.name, f"member {names.member(rec.name, m.name)} of {names.record(rec.name)}")
    return out


def type_page(
    spec: Spec,
    names: Names,
    rec: Record,
    used_by: list[str],
    errata: list[tuple[str, ErratumView]],
) -> TypePage:
    doc = rec.doc
    ms = members(rec, spec.records, spec.abis)
    values = []
    for m in ms.values():
        sets = value_sets_of(spec, rec.name, m)
        if not sets:
            continue
        consts = []
        for vs in sets:
            for name in vs.members:
                c = spec.constants.get(name)
                if c is not None:
                    consts.append(f"{names.constant(name)} = {code(value_text(c, vs.kind))}")
        values.append(FieldValues(m.name, [_set_ref(spec, names, vs) for vs in sets], consts))
    blocks = prose(doc.description, names.link) if doc is not None and doc.description else []
    if blocks and doc is not None and blocks[0].body == linked(doc.summary, names.link):
        blocks = blocks[1:]
    facts = [
        Fact("since", text(release_text(spec, rec.since))),
        Fact("header", code(loc_text(rec.loc))),
    ]
    if rec.until:
        facts.insert(1, Fact("until", text(rec.until)))
    return TypePage(
        name=rec.name,
        docname=f"types/{rec.name}",
        kind=rec.kind,
        directive="c:union" if rec.kind == "union" else "c:struct",
        summary=linked(doc.summary, names.link) if doc is not None else "",
        doc=blocks,
        facts=facts,
        since=text(release_text(spec, rec.since, rec.until)),
        used_by=used_by,
        layouts=layouts(spec, rec, names, None, "layout-" + slug(rec.name)),
        members=member_views(spec, rec, names, None),
        values=values,
        tails=tails(spec, rec, names),
        errata=[e for subj, e in errata if subj == f"{rec.kind} {rec.name}"],
    )
