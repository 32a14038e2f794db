"""Layout engine: size, alignment and field offsets of every record, per ABI.

The System V rules every Linux psABI follows for these headers: a member is
placed at the next multiple of its alignment (raised by `_Alignas`, which is
what `__aligned_u64` becomes; 1 when the member or its record is packed), a
struct's size is rounded up to its largest member alignment (or the record's
aligned(N)), a union's members all sit at 0, a flexible array has size 0, an
empty struct (GNU C) has size 0, bit-fields follow gcc's unit rule (see
_place_bitfield); positions are counted in bits. Scalar sizes come from
`abi.Abi`.
"""

from __future__ import annotations

from vfiogen.ir.abi import Abi
from vfiogen.frontend.cexpr import EvalError, Evaluator, Parser, canonical_scalar, tokenize
from vfiogen.errors import LayoutError, Loc
from vfiogen.ir.model import FieldLayout, Record, RecordLayout, TypeRef

ENUM_SIZE = 4  # every enum in these headers fits an int


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def copy_layouts(
    abi: str, into: dict[str, Record], own: dict[str, Record], names: list[str]
) -> None:
    """Layouts computed from an ABI's own declarations (its preprocessing
    differs) onto the spec's records, which must have the same members."""
    for name in names:
        rec, other = into[name], own.get(name)
        if other is None or [f.name for f in other.fields] != [f.name for f in rec.fields]:
            raise LayoutError(rec.loc, f"{rec.kind} {name} has other members on {abi}")
        rec.layout[abi] = other.layout[abi]
        for f, g in zip(rec.fields, other.fields):
            f.layout[abi] = g.layout[abi]


class LayoutEngine:
    """Computes and caches layouts for one ABI over a set of records."""

    def __init__(
        self,
        abi: Abi,
        records: dict[str, Record],
        typedefs: dict[str, TypeRef],
        enum_bases: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.abi = abi
        self.enum_bases = enum_bases or {}  # enums wider than an int: tag -> abi -> scalar
        self.records = records
        self.typedefs = typedefs
        self.done: dict[str, RecordLayout] = {}
        self.active: set[str] = set()

    def size_align(self, t: TypeRef, where: Loc) -> tuple[int, int]:
        if t.kind == "int":
            named = self.typedefs.get(t.name)  # this ABI's typedef (records are shared)
            base = named.base if named is not None and named.kind == "int" else t.base
            try:
                return self.abi.scalar(base)
            except KeyError:
                raise LayoutError(where, f"type '{t.name}' has no layout here") from None
        if t.kind == "enum":
            wide = self.enum_bases.get(t.name, {}).get(self.abi.name)
            return self.abi.scalar(wide) if wide else (ENUM_SIZE, ENUM_SIZE)
        if t.kind == "pointer":
            return self.abi.scalar("pointer")
        if t.kind == "array":
            assert t.of is not None
            size, align = self.size_align(t.of, where)
            return size * self.count(t, where), align
        if t.kind == "record":
            lay = self.record(t.name, where)
            return lay.size, lay.align
        raise LayoutError(where, f"no layout for type kind {t.kind}")

    def count(self, t: TypeRef, where: Loc) -> int:
        if t.count_expr is None:
            return t.count or 0
        ev = Evaluator(self.abi, lambda _: None, self.sizeof, self.scalar, self.alignof)
        try:
            return ev.value(Parser(tokenize(t.count_expr), lambda n: n in self.typedefs).parse())
        except EvalError as exc:
            raise LayoutError(where, f"array size {t.count_expr}: {exc}") from None

    def record(self, name: str, where: Loc) -> RecordLayout:
        if name in self.done:
            return self.done[name]
        rec = self.records.get(name)
        if rec is None:
            raise LayoutError(where, f"incomplete type 'struct {name}' has no layout")
        if name in self.active:
            raise LayoutError(rec.loc, f"struct {name} contains itself")
        self.active.add(name)
        bitpos = size_bits = 0
        max_align = 1
        for i, f in enumerate(rec.fields):
            fsize, falign = self.size_align(f.type, f.loc)
            flexible = f.type.kind == "array" and f.type.count is None and f.type.count_expr is None
            if flexible and i != len(rec.fields) - 1:
                raise LayoutError(f.loc, f"flexible array '{f.name}' is not the last member")
            packed = rec.packed or f.packed or rec.pack is not None
            if rec.packed or f.packed:
                falign = 1
            elif rec.pack is not None:
                falign = min(falign, rec.pack)
            if f.align:
                falign = max(falign, f.align)
            start = 0 if rec.kind == "union" else bitpos
            if f.bits is not None:
                start = _place_bitfield(start, f.bits, fsize, falign, packed)
                end = start + f.bits
                f.layout[self.abi.name] = FieldLayout(start // 8, fsize, start)
            else:
                start = align_up(start, falign * 8)
                end = start + fsize * 8
                f.layout[self.abi.name] = FieldLayout(start // 8, fsize)
            if f.bits is None or f.name:  # an unnamed bit-field does not align the record
                max_align = max(max_align, falign)
            size_bits = max(size_bits, end)
            if rec.kind == "struct":
                bitpos = end
        if rec.align:
            max_align = max(max_align, rec.align)
        lay = RecordLayout(align_up(align_up(size_bits, 8) // 8, max_align), max_align)
        rec.layout[self.abi.name] = lay
        self.active.discard(name)
        self.done[name] = lay
        return lay

    def sizeof(self, typename: str) -> int:
        """sizeof for a type as written in a macro: `struct x`, `__u32`, `int *`."""
        return self.size_align_of(typename)[0]

    def alignof(self, typename: str) -> int:
        """_Alignof (and __alignof__, which cpp maps to it) of a type name."""
        return self.size_align_of(typename)[1]

    def size_align_of(self, typename: str) -> tuple[int, int]:
        """(size, alignment) of a type name; an EvalError (the caller knows the
        position) when it has no layout."""
        name = typename.strip()
        if name.endswith("*"):
            return self.abi.scalar("pointer")
        words = name.split()
        try:
            if words[0] in ("struct", "union") and len(words) == 2:
                lay = self.record(words[1], Loc("<sizeof>"))
                return lay.size, lay.align
            if words[0] == "enum":
                return ENUM_SIZE, ENUM_SIZE
            base = self.scalar(name)
            if base is not None:
                return self.abi.scalar(base)
            t = self.typedefs.get(name)
            if t is not None:
                return self.size_align(t, Loc("<sizeof>"))
        except LayoutError as exc:
            raise EvalError(exc.message) from None
        raise EvalError(f"unknown type '{typename}'")

    def scalar(self, typename: str) -> str | None:
        """The canonical scalar behind a type name (typedefs resolved)."""
        t = self.typedefs.get(typename.strip())
        if t is not None:
            return t.base if t.kind == "int" else None
        return canonical_scalar(typename.split())


def _place_bitfield(bitpos: int, width: int, size: int, align: int, packed: bool) -> int:
    """gcc's rule (PCC_BITFIELD_TYPE_MATTERS): a bit-field may not span more
    units of its type's alignment than the type itself has; `T :0` moves to
    the next unit. Packed bit-fields go at the next free bit."""
    unit = align * 8
    if width == 0:
        return align_up(bitpos, unit)
    if packed:
        return bitpos
    offset = bitpos % unit
    if (offset + width + unit - 1) // unit > size * 8 // unit:
        return align_up(bitpos, unit)
    return bitpos


def bitfields(
    rec: Record, records: dict[str, Record], abi: str, base: int = 0
) -> dict[str, tuple[int, int]]:
    """name -> (first bit from the record's start, width) of every named
    bit-field as C code reaches it (through anonymous members too)."""
    out: dict[str, tuple[int, int]] = {}
    for f in rec.fields:
        lay = f.layout[abi]
        if not f.name and f.type.kind == "record" and f.bits is None:
            out.update(bitfields(records[f.type.name], records, abi, base + lay.offset * 8))
        elif f.name and f.bits is not None and lay.bit_offset is not None:
            out[f.name] = (base + lay.bit_offset, f.bits)
    return out
