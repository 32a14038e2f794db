"""Questions every stage asks the IR, one definition each: the members of a
record as C code reaches them (through anonymous structs and unions), whether
a value is a flag bit, and the entity kind of a constant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vfiogen.ir.model import Constant, Field, Record, Spec


@dataclass(slots=True)
class Member:
    """A field as C code reaches it: members of anonymous structs and unions
    appear under their parent, at absolute offsets."""

    name: str
    field: Field
    path: tuple[str, ...]  # kinds of the anonymous records around it, outermost first
    peers: tuple[str, ...]  # other members of the innermost anonymous union
    layout: dict[str, tuple[int, int]]  # abi -> (offset, size)


def is_anonymous_member(f: Field) -> bool:
    """An unnamed struct/union member, whose fields C code names directly."""
    return not f.name and f.type.kind == "record"


def named_fields(rec: Record, records: dict[str, Record]) -> Iterator[Field]:
    """The named fields of `rec` in source order, those of anonymous members
    (at any depth) in their place. Needs no layout."""
    for f in rec.fields:
        if is_anonymous_member(f) and f.type.name in records:
            yield from named_fields(records[f.type.name], records)
        elif f.name:
            yield f


def members(rec: Record, records: dict[str, Record], abis: list[str]) -> dict[str, Member]:
    """Every named member with its absolute offset and size on each ABI."""
    out: dict[str, Member] = {}

    def walk(r: Record, base: dict[str, int], path: tuple[str, ...]) -> None:
        named = [f.name for f in r.fields if f.name]
        for f in r.fields:
            here = {a: base[a] + f.layout[a].offset for a in abis}
            if is_anonymous_member(f) and f.type.name in records:
                inner = records[f.type.name]
                walk(inner, here, path + (inner.kind,))
            elif f.name:
                peers = tuple(n for n in named if n != f.name) if r.kind == "union" else ()
                lay = {a: (here[a], f.layout[a].size) for a in abis}
                out[f.name] = Member(f.name, f, path, peers, lay)

    walk(rec, {a: 0 for a in abis}, ())
    return out


def is_flag_bit(value: int | str) -> bool:
    """One bit: a positive power of two."""
    return isinstance(value, int) and value > 0 and value & (value - 1) == 0


def is_flag_member(name: str, value: int | str) -> bool:
    """A constant a flag set may hold: one bit, or a mask of bits named so
    (VFIO_IRQ_SET_DATA_TYPE_MASK). Zero is the empty set, not a member."""
    return is_flag_bit(value) or (isinstance(value, int) and value > 0 and "MASK" in name)


def entity_of(spec: Spec, c: Constant) -> str:
    """ "flag" for a member of a flag set (macros bound to a flags field, or an
    enum of bits bound to a field), else "enumerator" or "constant"."""
    vs = spec.value_sets.get(c.values) if c.values else None
    if vs is not None:
        if vs.kind == "flags":
            return "flag"
        if vs.kind == "enum" and vs.members:
            vals = [spec.constants[m].value for m in vs.members if m in spec.constants]
            if vals and all(is_flag_bit(v) for v in vals):
                return "flag"
    return "enumerator" if c.kind == "enumerator" else "constant"
