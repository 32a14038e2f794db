"""The diff's severity rules. The table, rule by rule: each rule of
`vfiogen.analyses.diff.rules` is exercised by a crafted pair of small
synthetic specs (built here, two ABIs whose layouts differ: x86_64 and
i386), and the change it produces carries the severity and reason written
below, which a person decided, not copied from the table. Single changes
on a copy of a pinned release's spec: test_diff_breaking.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import pytest

from vfiogen.analyses.diff.compare import diff
from vfiogen.analyses.diff.model import CHANGES, ENTITIES, SEVERITIES, Change
from vfiogen.analyses.diff.rules import ASPECTS, OTHERWISE, RULES
from vfiogen.errors import Loc
from vfiogen.ir.abi import ABIS as ALL_ABIS
from vfiogen.ir.model import (
    SCHEMA_VERSION,
    Capability,
    Constant,
    DocBlock,
    Enum,
    Feature,
    Field,
    FieldLayout,
    FunctionMacro,
    HeaderFile,
    Ioc,
    Record,
    RecordLayout,
    Request,
    Spec,
    TypeRef,
    ValueSet,
)

ABIS = ["x86_64", "i386"]  # i386 aligns __u64 to 4, x86_64 to 8
LOC = Loc("synth.h", 1)
INTS = {
    "__u8": "unsigned char",
    "__u16": "unsigned short",
    "__u32": "unsigned int",
    "__s32": "int",
    "__u64": "unsigned long long",
}
Member = Union[tuple[str, str], tuple[str, str, dict[str, object]], Record]


# --- a tiny header builder: C-like declarations, layout by the psABI rules ------------


def typeref(text: str) -> TypeRef:
    if text.endswith("]"):
        elem, count = text[:-1].split("[")
        return TypeRef("array", of=typeref(elem), count=int(count) if count else None)
    kind, _, tag = text.partition(" ")
    if kind in ("struct", "union"):
        return TypeRef("record", tag, kind)
    if kind == "enum":
        return TypeRef("enum", tag)
    return TypeRef("int", text, INTS[text])


def _up(n: int, align: int) -> int:
    return -(-n // align) * align


class Header:
    """Builds a Spec the way the front end would fill it in."""

    def __init__(self) -> None:
        self.spec = Spec(
            SCHEMA_VERSION,
            "test",
            "synthetic",
            None,
            None,
            [HeaderFile("linux/synth.h", "0" * 64)],
            list(ABIS),
        )
        self.anon = 0

    def size_align(self, t: TypeRef, abi: str) -> tuple[int, int]:
        if t.kind == "int":
            return ALL_ABIS[abi].scalar(t.base)
        if t.kind == "enum":
            return 4, 4
        if t.kind == "record":
            lay = self.spec.records[t.name].layout[abi]
            return lay.size, lay.align
        assert t.kind == "array" and t.of is not None
        size, align = self.size_align(t.of, abi)
        return size * (t.count or 0), align

    def record(
        self, name: str, *members: Member, kind: str = "struct", anonymous: bool = False
    ) -> Record:
        fields = []
        for m in members:
            if isinstance(m, Record):
                fields.append(Field("", TypeRef("record", m.name, m.kind), LOC))
            else:
                extra = m[2] if len(m) == 3 else {}  # type: ignore[misc]
                fields.append(Field(m[1], typeref(m[0]), LOC, **extra))  # type: ignore[arg-type]
        rec = Record(name, "union" if kind == "union" else "struct", LOC, fields, anonymous)
        for abi in ABIS:
            end, rec_align = 0, 1
            for f in fields:
                size, align = self.size_align(f.type, abi)
                align = max(align, f.align or 1)
                offset = 0 if kind == "union" else _up(end, align)
                f.layout[abi] = FieldLayout(offset, size)
                end, rec_align = max(end, offset + size), max(rec_align, align)
            rec.layout[abi] = RecordLayout(_up(end, rec_align), rec_align)
        self.spec.records[name] = rec
        return rec

    def struct(self, name: str, *members: Member) -> Record:
        return self.record(name, *members)

    def union(self, name: str, *members: Member) -> Record:
        return self.record(name, *members, kind="union")

    def anonymous(self, parent: str, kind: str, *members: Member) -> Record:
        self.anon += 1
        return self.record(f"{parent}::anon{self.anon}", *members, kind=kind, anonymous=True)

    def request(self, name: str, nr: int, arg_type: str | None = "s", **overlay: object) -> Request:
        fields: dict[str, object] = {"fd": "device", "arg": "struct" if arg_type else "none"}
        fields.update(overlay)
        req = Request(
            name,
            LOC,
            Ioc("_IO", 0x3B, nr, None, "none"),
            {abi: 0x3B00 + nr for abi in ABIS},
            fd_hint=str(fields["fd"]),
            annotated=True,
            arg_type=arg_type,
            **fields,  # type: ignore[arg-type]
        )
        self.spec.requests[name] = req
        return req

    def const(self, name: str, value: int, kind: str = "macro", **more: object) -> Constant:
        c = Constant(name, LOC, kind, value, **more)  # type: ignore[arg-type]
        self.spec.constants[name] = c
        return c

    def flags(self, field: str, **bits: int) -> None:
        """A flag set bound to `field`, with macros NAME = bit."""
        self.spec.value_sets[field] = ValueSet(field, LOC, "flags", list(bits), [field])
        for name, value in bits.items():
            self.const(name, value, values=field)

    def enum(self, tag: str, **values: int) -> None:
        self.spec.enums[tag] = Enum(tag, LOC, tag, list(values))
        for name, value in values.items():
            self.const(name, value, "enumerator", enum=tag)

    def macro(self, name: str, params: list[str], body: str) -> None:
        self.spec.function_macros[name] = FunctionMacro(name, LOC, params, body)

    def capability(self, name: str, id: int, type: str | None = "s", version: int = 1) -> None:
        self.spec.capabilities[name] = Capability(name, LOC, id, "region_info", version, type)

    def feature(self, name: str, index: int, type: str | None = "s", ops: str = "get,set") -> None:
        self.spec.features[name] = Feature(name, LOC, index, type, ops.split(","))


# --- the cases: one per rule -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    severity: str
    reason: str
    target: tuple[str, str, str]  # entity, name, change
    make: Callable[[Header, bool], None]  # fills in OLD (False) or NEW (True)

    def specs(self) -> tuple[Spec, Spec]:
        old, new = Header(), Header()
        self.make(old, False)
        self.make(new, True)
        return old.spec, new.spec


CASES: dict[str, Case] = {}
Maker = Callable[[Header, bool], None]


def case(
    rule: str, severity: str, reason: str, entity: str, name: str, change: str
) -> Callable[[Maker], Maker]:
    def register(make: Maker) -> Maker:
        assert rule not in CASES, rule
        CASES[rule] = Case(rule, severity, reason, (entity, name, change), make)
        return make

    return register


def arg(h: Header) -> None:
    """The argument struct most request cases use: `struct s`."""
    h.struct("s", ("__u32", "argsz"), ("__u32", "flags"), ("__u32", "out"))


def also(*more: tuple[str, str, str, str, str, str]) -> Callable[[Maker], Maker]:
    """Further rules the same spec pair exercises."""

    def register(make: Maker) -> Maker:
        for rule, severity, reason, entity, name, change in more:
            case(rule, severity, reason, entity, name, change)(make)
        return make

    return register


# requests


@case(
    "request.added.reused",
    "breaking",
    "old binaries issuing VFIO_A now reach VFIO_B",
    "request",
    "VFIO_B",
    "added",
)
def _number_reused(h: Header, new: bool) -> None:
    arg(h)
    if new:
        h.request("VFIO_B", 1, arg_type=None)  # another argument: no rename
    else:
        h.request("VFIO_A", 1)


@case(
    "request.added.new", "compatible", "old binaries never issue it", "request", "VFIO_B", "added"
)
def _request_added(h: Header, new: bool) -> None:
    arg(h)
    h.request("VFIO_A", 1)
    if new:
        h.request("VFIO_B", 2)


@case("request.renamed.new_name", "compatible", "same number", "request", "VFIO_A2", "added")
@also(
    (
        "request.removed.renamed",
        "breaking",
        "a source break (binaries are unaffected)",
        "request",
        "VFIO_A",
        "removed",
    )
)
def _request_renamed(h: Header, new: bool) -> None:
    arg(h)
    h.request("VFIO_A2" if new else "VFIO_A", 1)


@case(
    "request.removed.gone",
    "breaking",
    "old binaries get ENOTTY and source using it no longer compiles",
    "request",
    "VFIO_A",
    "removed",
)
def _request_removed(h: Header, new: bool) -> None:
    arg(h)
    if not new:
        h.request("VFIO_A", 1)


def request_change(rule: str, severity: str, reason: str, **before_after: object) -> None:
    """A case where VFIO_A differs only in overlay facts: name -> (old, new)."""

    def make(h: Header, new: bool) -> None:
        arg(h)
        h.struct("t", ("__u32", "argsz"), ("__u32", "flags"), ("__u32", "out"))
        h.struct("u", ("__u64", "argsz"))
        facts = {k: v[new] for k, v in before_after.items()}  # type: ignore[index]
        nr = facts.pop("nr", 1)
        h.request("VFIO_A", nr, **facts)  # type: ignore[arg-type]

    case(rule, severity, reason, "request", "VFIO_A", "changed")(make)


request_change("request.number.moved", "breaking", "old binaries issue the old number", nr=(1, 3))
request_change(
    "request.fd.other", "breaking", "old binaries issue it on the other fd", fd=("device", "group")
)
request_change(
    "request.arg.kind", "breaking", "old binaries pass the old kind", arg=("struct", "value")
)
request_change(
    "request.arg_type.same_layout",
    "compatible",
    "same layout on every ABI",
    arg_type=("s", "t"),
)
request_change(
    "request.arg_type.other_layout",
    "breaking",
    "old binaries pass the old layout",
    arg_type=("s", "u"),
)
request_change(
    "request.result.other",
    "breaking",
    "old binaries read the return value the old way",
    result=("status", "fd"),
)
request_change(
    "request.argsz.convention",
    "compatible",
    "old callers' sizes are still accepted",
    argsz=("minsz", "grow"),
)
request_change(
    "request.minsz.grew",
    "breaking",
    "old binaries passing the old minimum get EINVAL",
    minsz=("flags", "out"),
)
request_change(
    "request.minsz.shrank",
    "compatible",
    "old callers pass more than needed",
    minsz=("out", "flags"),
)
request_change(
    "request.direction.now_read",
    "breaking",
    "the kernel now reads what old binaries leave unset",
    directions=({"out": "out"}, {"out": "in"}),
)
request_change(
    "request.direction.still_filled",
    "compatible",
    "old binaries still fill in what the kernel reads",
    directions=({"flags": "in"}, {"flags": "inout"}),
)
request_change(
    "request.gate.other",
    "compatible",
    "the request itself is unchanged",
    extension=(None, "VFIO_TYPE1_IOMMU"),
)


# types


@case("type.added.renamed", "compatible", "new name of struct a", "type", "b", "added")
@also(
    (
        "type.removed.renamed",
        "breaking",
        "renamed to b with the same layout; a source break (binaries are unaffected)",
        "type",
        "a",
        "removed",
    )
)
def _type_renamed(h: Header, new: bool) -> None:
    h.struct("b" if new else "a", ("__u32", "x"), ("__u64", "y"))


@case("type.added.new", "compatible", "old code does not use it", "type", "b", "added")
@also(
    (
        "type.removed.gone",
        "breaking",
        "source naming it no longer compiles",
        "type",
        "a",
        "removed",
    )
)
def _type_replaced(h: Header, new: bool) -> None:
    if new:
        h.struct("b", ("__u32", "x"))
    else:
        h.struct("a", ("__u64", "y"))


@case(
    "type.removed.renamed_enum",
    "breaking",
    "renamed to enum e2 with the same enumerators; a source break",
    "type",
    "e1",
    "removed",
)
def _enum_renamed(h: Header, new: bool) -> None:
    h.enum("e2" if new else "e1", E_A=0, E_B=1)


@case(
    "type.removed.enum",
    "breaking",
    "source naming the enum type no longer compiles",
    "type",
    "e1",
    "removed",
)
def _enum_removed(h: Header, new: bool) -> None:
    if not new:
        h.enum("e1", E_A=0, E_B=1)


@case("type.kind.other", "breaking", "every member after the first moves", "type", "s", "changed")
def _struct_to_union(h: Header, new: bool) -> None:
    h.record("s", ("__u32", "a"), ("__u32", "b"), kind="union" if new else "struct")


def type_change(rule: str, severity: str, reason: str) -> Callable[[Maker], Maker]:
    return case(rule, severity, reason, "type", "s", "changed")


@type_change(
    "type.layout.members_moved", "breaking", "members moved, old binaries use the old layout"
)
def _member_inserted(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32", "x")] if new else []), ("__u32", "b"))


@type_change("type.layout.shrank", "breaking", "old binaries pass and expect more bytes")
def _reserved_dropped(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([] if new else [("__u32", "reserved")]))


@type_change("type.layout.alignment", "compatible", "no member moved")
def _aligned_u64(h: Header, new: bool) -> None:
    h.struct("s", ("__u64", "a", {"align": 8} if new else {}))


@type_change("type.layout.grew_embedded", "breaking", "embedded in outer.i")
@also(
    (
        "field.added.tail_embedded",
        "breaking",
        "s is embedded in outer.i",
        "field",
        "s.b",
        "added",
    )
)
def _embedded_grows(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32", "b")] if new else []))
    h.struct("outer", ("struct s", "i"), ("__u32", "z"))


@type_change(
    "type.layout.grew_negotiated",
    "compatible",
    "its first field `argsz` tells the kernel its size, so the kernel accepts the old size",
)
@also(
    (
        "field.added.tail_negotiated",
        "compatible",
        "its first field `argsz` tells the kernel its size, so old binaries simply do not pass it",
        "field",
        "s.b",
        "added",
    )
)
def _argsz_grows(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "argsz"), ("__u32", "a"), *([("__u32", "b")] if new else []))


@type_change("type.layout.grew", "breaking", "nothing tells the kernel the caller's size")
@also(
    (
        "field.added.tail",
        "breaking",
        "nothing tells the kernel the caller's size",
        "field",
        "s.b",
        "added",
    )
)
def _plain_grows(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32", "b")] if new else []))


# fields


@case(
    "field.renamed.reserved",
    "compatible",
    "a reserved field put to use",
    "field",
    "s.flags",
    "added",
)
@also(
    (
        "field.removed.reserved_renamed",
        "compatible",
        "callers only zero it",
        "field",
        "s.reserved",
        "removed",
    )
)
def _reserved_named(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__u32", "flags" if new else "reserved"))


@case(
    "field.renamed.same_bytes",
    "compatible",
    "the same bytes under a new name",
    "field",
    "s.c",
    "added",
)
@also(
    (
        "field.removed.renamed",
        "breaking",
        "a source break (binaries are unaffected)",
        "field",
        "s.b",
        "removed",
    )
)
def _field_renamed(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__u32", "c" if new else "b"))


@case("field.removed.reserved", "compatible", "callers only zero it", "field", "s.rsvd", "removed")
def _reserved_removed(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([] if new else [("__u32", "rsvd")]))


@case(
    "field.removed.reused",
    "breaking",
    "its bytes now belong to c, d; old binaries still write b there",
    "field",
    "s.b",
    "removed",
)
@also(
    (
        "field.added.over_members",
        "breaking",
        "old binaries put other data there",
        "field",
        "s.c",
        "added",
    )
)
def _field_split(h: Header, new: bool) -> None:
    if new:
        h.struct("s", ("__u32", "a"), ("__u16", "c"), ("__u16", "d"))
    else:
        h.struct("s", ("__u32", "a"), ("__u32", "b"))


@case(
    "field.removed.gone",
    "breaking",
    "source using it no longer compiles",
    "field",
    "s.b",
    "removed",
)
def _field_removed(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([] if new else [("__u32", "b")]))


@case(
    "field.added.flexible_tail",
    "compatible",
    "the struct's size is unchanged",
    "field",
    "s.data",
    "added",
)
def _flexible_array(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32[]", "data")] if new else []))


@case(
    "field.added.union_alternative",
    "compatible",
    "the bytes keep their old meaning",
    "field",
    "u.b",
    "added",
)
def _union_alternative(h: Header, new: bool) -> None:
    h.union("u", ("__u32", "a"), *([("__u32", "b")] if new else []))


@case("field.added.in_reserved", "compatible", "old binaries zero it", "field", "s.x", "added")
def _carved_from_reserved(h: Header, new: bool) -> None:
    if new:
        h.struct("s", ("__u32", "a"), ("__u32", "x"), ("__u32", "resv"))
    else:
        h.struct("s", ("__u32", "a"), ("__u32[2]", "resv"))


@case("field.added.in_padding", "compatible", "old binaries leave it zero", "field", "s.x", "added")
def _in_padding(h: Header, new: bool) -> None:
    """x86_64 pads 4 bytes before a __u64 after a __u32; i386 does not."""
    h.struct("s", ("__u32", "a"), *([("__u32", "x")] if new else []), ("__u64", "b"))


@case(
    "field.type.reserved",
    "compatible",
    "a reserved field, callers only zero it",
    "field",
    "s.reserved",
    "changed",
)
def _reserved_retyped(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__s32" if new else "__u32", "reserved"))


@case(
    "field.type.other_kind",
    "breaking",
    "a int became a array, source using it breaks",
    "field",
    "s.b",
    "changed",
)
def _int_to_array(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__u8[4]" if new else "__u32", "b"))


@case(
    "field.type.same_place",
    "compatible",
    "same offset and size on every ABI (alignment 4 -> 8 on i386)",
    "field",
    "s.b",
    "changed",
)
def _aligned_in_place(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__u32", "c"), ("__u64", "b", {"align": 8} if new else {}))


@case(
    "field.type.other_place",
    "breaking",
    "offset or size differs, see the per-ABI changes",
    "field",
    "s.b",
    "changed",
)
def _widened(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), ("__u64" if new else "__u32", "b"))


@case(
    "field.place.moved",
    "breaking",
    "old binaries use the old place",
    "field",
    "s.b",
    "changed",
)
def _moved(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32", "x")] if new else []), ("__u32", "b"))


@case(
    "field.place.reserved",
    "compatible",
    "a reserved field, callers only zero it",
    "field",
    "s.__reserved",
    "changed",
)
def _reserved_moved(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "a"), *([("__u32", "x")] if new else []), ("__u32", "__reserved"))


@case(
    "field.nesting.same_offset",
    "compatible",
    "C code reaches it by the same name at the same offset",
    "field",
    "s.b",
    "changed",
)
def _into_union(h: Header, new: bool) -> None:
    if new:
        inner = h.anonymous("s", "union", ("__u32", "b"), ("__u32", "c"))
        h.struct("s", ("__u32", "a"), inner)
    else:
        h.struct("s", ("__u32", "a"), ("__u32", "b"))


@case("field.nesting.moved", "compatible", "see the offset change", "field", "s.b", "changed")
def _into_union_elsewhere(h: Header, new: bool) -> None:
    if new:
        inner = h.anonymous("s", "union", ("__u32", "b"), ("__u32", "c"))
        h.struct("s", inner, ("__u32", "a"))
    else:
        h.struct("s", ("__u32", "a"), ("__u32", "b"))


@case(
    "field.counted_by.other",
    "compatible",
    "an annotation, the layout is unchanged",
    "field",
    "s.data",
    "changed",
)
def _counted_by(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "n"), ("__u32[]", "data", {"counted_by": "n"} if new else {}))


# constants, enumerators, flags, function-like macros


@case(
    "constant.added.renamed",
    "compatible",
    "new name of VFIO_FOO_BAR, same value 5",
    "constant",
    "VFIO_FOO_BAZ",
    "added",
)
@also(
    (
        "constant.removed.renamed",
        "breaking",
        "a source break (binaries are unaffected)",
        "constant",
        "VFIO_FOO_BAR",
        "removed",
    )
)
def _constant_renamed(h: Header, new: bool) -> None:
    h.const("VFIO_FOO_BAZ" if new else "VFIO_FOO_BAR", 5)


@case(
    "constant.added.new", "compatible", "old binaries never use it", "constant", "VFIO_X", "added"
)
@also(
    (
        "constant.removed.gone",
        "breaking",
        "source using it no longer compiles",
        "constant",
        "VFIO_OLD",
        "removed",
    )
)
def _constant_replaced(h: Header, new: bool) -> None:
    if new:
        h.const("VFIO_X", 7)
    else:
        h.const("VFIO_OLD", 0x1234)


@case(
    "constant.kind.value_changed",
    "breaking",
    "the value changed, old binaries send the old one",
    "enumerator",
    "STATE_RUNNING",
    "changed",
)
def _define_to_other_enumerator(h: Header, new: bool) -> None:
    if new:
        h.enum("state", STATE_ERROR=0, STATE_STOP=1, STATE_RUNNING=2)
    else:
        h.const("STATE_RUNNING", 1)


@case(
    "constant.kind.same_value",
    "compatible",
    "every use still compiles, only `#ifdef` no longer sees it",
    "enumerator",
    "STATE_STOP",
    "changed",
)
def _define_to_enumerator(h: Header, new: bool) -> None:
    if new:
        h.enum("state", STATE_ERROR=0, STATE_STOP=1)
    else:
        h.const("STATE_STOP", 1)


@case(
    "constant.value.count_grew",
    "compatible",
    "a count or limit that grew with new entries, old binaries know fewer",
    "constant",
    "VFIO_CCW_NUM_IRQS",
    "changed",
)
def _count_grew(h: Header, new: bool) -> None:
    h.const("VFIO_CCW_NUM_IRQS", 3 if new else 1)


@case(
    "constant.value.changed",
    "breaking",
    "old binaries use the old value",
    "constant",
    "VFIO_API_VERSION",
    "changed",
)
def _value_changed(h: Header, new: bool) -> None:
    h.const("VFIO_API_VERSION", 1 if new else 0)


@case(
    "flag.added.bit_taken",
    "breaking",
    "old binaries setting it ask for something else",
    "flag",
    "S_FLAG_C",
    "added",
)
def _bit_taken(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "flags"))
    if new:
        h.flags("s.flags", S_FLAG_A=4, S_FLAG_B=2, S_FLAG_C=1)
    else:
        h.flags("s.flags", S_FLAG_A=1, S_FLAG_B=2)


@case("flag.added.new_bit", "compatible", "old binaries never set it", "flag", "S_FLAG_C", "added")
def _new_bit(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "flags"))
    h.flags("s.flags", S_FLAG_A=1, S_FLAG_B=2, **({"S_FLAG_C": 4} if new else {}))


@case("flag.set.other", "compatible", "same value", "flag", "FLAG_A", "changed")
def _flag_rebound(h: Header, new: bool) -> None:
    h.struct("s", ("__u32", "flags"))
    h.struct("t", ("__u32", "flags"))
    h.flags("t.flags" if new else "s.flags", FLAG_A=1)
    h.spec.value_sets.setdefault("s.flags", ValueSet("s.flags", LOC, "flags", [], ["s.flags"]))
    h.spec.value_sets.setdefault("t.flags", ValueSet("t.flags", LOC, "flags", [], ["t.flags"]))


@case("macro.added.new", "compatible", "old code does not use it", "constant", "F", "added")
def _macro_added(h: Header, new: bool) -> None:
    if new:
        h.macro("F", ["x"], "((x) << 1)")


@case(
    "macro.changed.expansion",
    "compatible",
    "not evaluated, the constants it uses are compared on their own",
    "constant",
    "F",
    "changed",
)
def _macro_changed(h: Header, new: bool) -> None:
    h.macro("F", ["x"], "((x) << 2)" if new else "((x) << 1)")


@case(
    "macro.removed.gone",
    "breaking",
    "source using it no longer compiles",
    "constant",
    "F",
    "removed",
)
def _macro_removed(h: Header, new: bool) -> None:
    if not new:
        h.macro("F", ["x"], "((x) << 1)")


# capabilities and device features


def bodies(h: Header) -> None:
    """s and t: the same layout; u: another."""
    h.struct("s", ("__u32", "a"), ("__u32", "b"))
    h.struct("t", ("__u32", "a"), ("__u32", "b"))
    h.struct("u", ("__u64", "a"))


def capability_change(
    rule: str, severity: str, reason: str, change: str = "changed", **before_after: object
) -> None:
    def make(h: Header, new: bool) -> None:
        bodies(h)
        facts = {k: v[new] for k, v in before_after.items()}  # type: ignore[index]
        if facts.pop("present", True):
            h.capability("VFIO_CAP", **facts)  # type: ignore[arg-type]

    case(rule, severity, reason, "capability", "VFIO_CAP", change)(make)


def feature_change(
    rule: str, severity: str, reason: str, change: str = "changed", **before_after: object
) -> None:
    def make(h: Header, new: bool) -> None:
        bodies(h)
        facts = {k: v[new] for k, v in before_after.items()}  # type: ignore[index]
        if facts.pop("present", True):
            h.feature("VFIO_FEATURE", **facts)  # type: ignore[arg-type]

    case(rule, severity, reason, "capability", "VFIO_FEATURE", change)(make)


capability_change(
    "capability.added.new",
    "compatible",
    "old parsers skip unknown ids",
    "added",
    present=(False, True),
    id=(1, 1),
)
capability_change(
    "capability.removed.gone",
    "breaking",
    "source using its name no longer compiles",
    "removed",
    present=(True, False),
    id=(1, 1),
)
capability_change("capability.id.other", "breaking", "old parsers look for the old id", id=(1, 2))
capability_change(
    "capability.version.other",
    "compatible",
    "parsers check the version",
    id=(1, 1),
    version=(1, 2),
)
capability_change(
    "capability.body.same_layout", "compatible", "same layout", id=(1, 1), type=("s", "t")
)
capability_change(
    "capability.body.other_layout",
    "breaking",
    "old parsers read the old body",
    id=(1, 1),
    type=("s", "u"),
)
feature_change(
    "feature.added.new",
    "compatible",
    "old binaries never ask for it",
    "added",
    present=(False, True),
    index=(3, 3),
)
feature_change(
    "feature.removed.gone",
    "breaking",
    "old binaries asking for it fail",
    "removed",
    present=(True, False),
    index=(3, 3),
)
feature_change("feature.index.other", "breaking", "old binaries ask for the old one", index=(3, 4))
feature_change(
    "feature.payload.same_layout", "compatible", "same layout", index=(3, 3), type=("s", "t")
)
feature_change(
    "feature.payload.other_layout",
    "breaking",
    "old binaries pass the old payload",
    index=(3, 3),
    type=("s", "u"),
)
feature_change(
    "feature.ops.lost",
    "breaking",
    "old binaries using set fail",
    index=(3, 3),
    ops=("get,set", "get"),
)
feature_change(
    "feature.ops.gained", "compatible", "new operations only", index=(3, 3), ops=("get", "get,set")
)


# documentation


@case("doc.text", "cosmetic", "documentation only", "doc", "s", "changed")
def _doc_changed(h: Header, new: bool) -> None:
    rec = h.struct("s", ("__u32", "a"))
    text = "Describes the device." if new else "Describes the region."
    rec.doc = DocBlock(LOC, "struct s", summary=text)


# --- the tests --------------------------------------------------------------------------


def produced(case_: Case) -> list[Change]:
    old, new = case_.specs()
    return [
        c
        for c in diff(old, new).changes
        if (c.entity, c.name, c.change) == case_.target and c.rule == case_.rule
    ]


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule(rule: str) -> None:
    case_ = CASES[rule]
    assert RULES[rule].severity == case_.severity
    changes = produced(case_)
    assert changes, f"{rule}: no {case_.target} change from its case"
    for c in changes:
        assert c.severity == case_.severity
        assert c.detail == case_.reason or c.detail.endswith("; " + case_.reason), c.detail


def test_the_table_is_well_formed() -> None:
    """Every aspect reports under known entities and change kinds, its rules
    are named after it and its last rule holds always, so every fact set
    gets a verdict."""
    ids = [r.id for a in ASPECTS for r in a.rules]
    assert len(ids) == len(set(ids)) == len(RULES)
    for aspect in ASPECTS:
        assert set(aspect.entities) <= set(ENTITIES) and aspect.change in CHANGES
        assert aspect.rules and aspect.rules[-1].condition in (OTHERWISE, "always")
        for rule in aspect.rules:
            assert rule.id.startswith(aspect.id + ".") and rule.severity in SEVERITIES
            assert rule.reason and "\n" not in rule.reason
            assert (rule.severity == "cosmetic") == (aspect.entities == ("doc",))
