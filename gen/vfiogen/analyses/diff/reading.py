"""What one spec says that the diff needs beyond the IR's own fields: a
constant's value on an ABI, a request's fd kind, a field's type as spelled,
which records may grow at the tail and which are embedded in others."""

from __future__ import annotations

from vfiogen.ir.model import Constant, Field, Request, Spec

# argsz styles under which the caller tells the kernel how many bytes it has.
NEGOTIATED = {"minsz", "grow", "enospc", "emsgsize", "size"}


def value_of(c: Constant, abi: str) -> int | str:
    return c.per_abi[abi] if c.per_abi else c.value


def fd_of(r: Request) -> str:
    return r.fd or r.fd_hint or "unknown"


def spelled(f: Field) -> str:
    """The field's type as the header spells it: the front end turns
    `__aligned_u64` into `__u64` with an explicit alignment of 8."""
    base = f.type.c()
    if not f.align:
        return base
    if base in ("__u64", "__s64") and f.align == 8:
        return f"__aligned_{base[2:]}"
    return f"{base} __attribute__((aligned({f.align})))"


def growable(spec: Spec) -> dict[str, str]:
    """Records whose tail may grow: the caller passes its size (argsz or
    iommufd's size, copy_struct_from_user), or it is a capability body found
    through `next` offsets. Value: the reason, for the report."""
    out: dict[str, str] = {}
    for r in spec.requests.values():
        if r.arg == "struct" and r.arg_type and r.argsz in NEGOTIATED:
            out.setdefault(r.arg_type, f"{r.name} negotiates its size ({r.argsz})")
    for name, rec in spec.records.items():
        first = next((f.name for f in rec.fields if f.name), "")
        if first in ("argsz", "size") and rec.fields[0].type.kind == "int":
            out.setdefault(name, f"its first field `{first}` tells the kernel its size")
    for cap in spec.capabilities.values():
        if cap.type:
            out.setdefault(cap.type, "a capability body, found through `next` offsets")
    return out


def embedders(spec: Spec) -> dict[str, str]:
    """Records embedded by value (or as array elements) in another record:
    their size is part of the other's layout, so it cannot grow."""
    out: dict[str, str] = {}
    for name, rec in spec.records.items():
        for f in rec.fields:
            t = f.type
            while t.kind == "array" and t.of is not None:
                t = t.of
            if t.kind == "record" and t.name in spec.records:
                target = spec.records[t.name]
                if not target.anonymous:
                    owner = name.split("::")[0]
                    out.setdefault(t.name, f"{owner}.{f.name}" if f.name else owner)
    return out
