"""Lookups over the spec the fuzz emitters share.

What a member holds (a user address, an fd of some kind: Field.kind, from
the overlay's [records]), the value sets bound to a field, the
CHECK_EXTENSION ids. Real pointers (TypeRef kind "pointer") are addresses
by their C type.
"""

from __future__ import annotations

import re

from vfiogen.ir.model import FD_KINDS, Field, Record, Spec

SCALAR_BYTES = {
    "char": 1,
    "signed char": 1,
    "unsigned char": 1,
    "_Bool": 1,
    "short": 2,
    "unsigned short": 2,
    "int": 4,
    "unsigned int": 4,
    "long long": 8,
    "unsigned long long": 8,
}


def width(f: Field) -> int:
    """Bytes of an integer field (0 for anything else; `long` is per ABI)."""
    t = f.type
    if t.kind == "enum":
        return 4
    return SCALAR_BYTES.get(t.base, 0) if t.kind == "int" else 0


def is_address(f: Field) -> bool:
    """A user address the kernel dereferences: a fuzzer may point it only at
    memory it owns."""
    return f.type.kind == "pointer" or (f.kind is not None and f.kind.kind == "user_address")


def is_mapping(f: Field) -> bool:
    """An address of memory the kernel maps or pins (not a buffer it reads)."""
    return f.kind is not None and f.kind.mapping


def is_fd(f: Field) -> bool:
    """An integer member that holds a file descriptor."""
    return f.kind is not None and f.kind.kind == "fd" and f.type.kind == "int"


def fd_kind(f: Field) -> str:
    """The fd kind an fd member takes; "" for an eventfd or any file."""
    fd = f.kind.fd if f.kind is not None else None
    return fd if fd is not None and fd in FD_KINDS else ""


def tail_fds(spec: Spec, record: str, member: str, case: str | None = None) -> str | None:
    """What a tail's elements are when they are fds ("group", "eventfd"; ""
    for any file), in the case `case` of a selected tail; None: not fds."""
    rec = spec.records.get(record)
    f = next((g for g in rec.fields if g.name == member), None) if rec else None
    if f is None or f.kind is None or f.kind.kind != "fd" or f.kind.when != case:
        return None
    return f.kind.fd or ""


def length_of(f: Field) -> str | None:
    """The sibling member whose length this member holds."""
    return f.kind.of if f.kind is not None and f.kind.kind == "length" else None


def int_value(spec: Spec, name: str) -> int | None:
    """A constant's value when it is one integer on every ABI."""
    c = spec.constants.get(name)
    if c is None or c.per_abi or not isinstance(c.value, int):
        return None
    return c.value


def bound_members(spec: Spec, rec: Record, f: Field) -> tuple[list[str], bool]:
    """The constants of the value sets bound to a member (also when the parent
    names it: "vfio_pci_dependent_device.devid" lives in an anonymous union),
    and whether every one of those sets is a flag set."""
    keys = {f"{rec.name}.{f.name}"}
    if rec.anonymous:
        keys.add(f"{rec.name.split('::')[0]}.{f.name}")
    sets = [vs for vs in spec.value_sets.values() if keys & set(vs.fields)]
    members = [n for vs in sets for n in vs.members if int_value(spec, n) is not None]
    return list(dict.fromkeys(members)), bool(sets) and all(vs.kind == "flags" for vs in sets)


def extensions(spec: Spec) -> list[str]:
    """The CHECK_EXTENSION ids to ask: the overlay's [extensions] (the spec's
    `extensions`, in value order), and any extension or flag gate a request
    names that no overlay declares (a vendor's overlay without the section)."""
    named = {r.extension for r in spec.requests.values() if r.extension}
    named |= {g for r in spec.requests.values() for g in r.flag_gates.values()}
    names = set(spec.extensions) | {n for n in named if int_value(spec, n) is not None}
    return sorted(names, key=lambda n: (int_value(spec, n), n))


def typedef_bytes(name: str) -> int:
    """__u8 -> 1, __s32 -> 4 (the element types of flag-selected tails)."""
    m = re.fullmatch(r"__[us](8|16|32|64)", name)
    return int(m.group(1)) // 8 if m else 1
