"""What a spec declares, by the names C code uses: members of a record as C
reaches them (through anonymous structs and unions), and the entity kind of
a constant. Shared by the diff and the release history."""

from __future__ import annotations

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


def members(rec: Record, records: dict[str, Record], abis: list[str]) -> dict[str, Member]:
    out: dict[str, Member] = {}

    def walk(r: Record, base: dict[str, int], path: tuple[str, ...]) -> None:
        named = [f.name for f in r.fields if f.name]
        for f in r.fields:
            here = {a: base[a] + f.layout[a].offset for a in abis}
            if not f.name and f.type.kind == "record" and f.type.name in records:
                inner = records[f.type.name]
                walk(inner, here, path + (inner.kind,))
            elif f.name:
                peers = tuple(n for n in named if n != f.name) if r.kind == "union" else ()
                lay = {a: (here[a], f.layout[a].size) for a in abis}
                out[f.name] = Member(f.name, f, path, peers, lay)

    walk(rec, {a: 0 for a in abis}, ())
    return out


def is_flag_value(v: int | str) -> bool:
    return isinstance(v, int) and v > 0 and v & (v - 1) == 0


def entity_of(spec: Spec, c: Constant) -> str:
    """ "flag" for a member of a flag set (macros bound to a flags field, or an
    enum of bits bound to a field), else "enumerator" or "constant"."""
    vs = spec.value_sets.get(c.values) if c.values else None
    if vs is not None:
        if vs.kind == "flags":
            return "flag"
        if vs.kind == "enum" and vs.members:
            vals = [spec.constants[m].value for m in vs.members if m in spec.constants]
            if vals and all(is_flag_value(v) for v in vals):
                return "flag"
    return "enumerator" if c.kind == "enumerator" else "constant"
