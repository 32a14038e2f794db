"""Layout engine: size, alignment and field offsets of every record, per ABI.

The System V rules every Linux psABI follows for these headers: a member is
placed at the next multiple of its alignment (raised by `_Alignas`, which is
what `__aligned_u64` becomes), a struct's size is rounded up to its largest
member alignment, a union's members all sit at 0, a flexible array has size
0, an empty struct (GNU C) has size 0. Scalar sizes come from `abi.Abi`.
"""

from __future__ import annotations

from vfiogen.ir.abi import Abi
from vfiogen.frontend.cexpr import EvalError, Evaluator, Parser, canonical_scalar, tokenize
from vfiogen.errors import LayoutError, Loc
from vfiogen.ir.model import FieldLayout, Record, RecordLayout, TypeRef

ENUM_SIZE = 4  # every enum in these headers fits an int


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class LayoutEngine:
    """Computes and caches layouts for one ABI over a set of records."""

    def __init__(self, abi: Abi, records: dict[str, Record], typedefs: dict[str, TypeRef]) -> None:
        self.abi = abi
        self.records = records
        self.typedefs = typedefs
        self.done: dict[str, RecordLayout] = {}
        self.active: set[str] = set()

    def size_align(self, t: TypeRef, where: Loc) -> tuple[int, int]:
        if t.kind == "int":
            return self.abi.scalar(t.base)
        if t.kind == "enum":
            return ENUM_SIZE, ENUM_SIZE
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
        ev = Evaluator(self.abi, lambda _: None, self.sizeof, self.scalar)
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
        offset = size = 0
        max_align = 1
        for i, f in enumerate(rec.fields):
            fsize, falign = self.size_align(f.type, f.loc)
            flexible = f.type.kind == "array" and f.type.count is None and f.type.count_expr is None
            if flexible and i != len(rec.fields) - 1:
                raise LayoutError(f.loc, f"flexible array '{f.name}' is not the last member")
            if f.align:
                falign = max(falign, f.align)
            max_align = max(max_align, falign)
            if rec.kind == "union":
                f.layout[self.abi.name] = FieldLayout(0, fsize)
                size = max(size, fsize)
            else:
                offset = align_up(offset, falign)
                f.layout[self.abi.name] = FieldLayout(offset, fsize)
                offset += fsize
                size = offset
        lay = RecordLayout(align_up(size, max_align), max_align)
        rec.layout[self.abi.name] = lay
        self.active.discard(name)
        self.done[name] = lay
        return lay

    def sizeof(self, typename: str) -> int:
        """sizeof for a type as written in a macro: `struct x`, `__u32`, `int *`."""
        name = typename.strip()
        if name.endswith("*"):
            return self.abi.pointer
        words = name.split()
        if words[0] in ("struct", "union") and len(words) == 2:
            return self.record(words[1], Loc("<sizeof>")).size
        if words[0] == "enum":
            return ENUM_SIZE
        base = self.scalar(name)
        if base is not None:
            return self.abi.scalar(base)[0]
        t = self.typedefs.get(name)
        if t is not None:
            return self.size_align(t, Loc("<sizeof>"))[0]
        raise LayoutError(Loc("<sizeof>"), f"unknown type '{typename}'")

    def scalar(self, typename: str) -> str | None:
        """The canonical scalar behind a type name (typedefs resolved)."""
        t = self.typedefs.get(typename.strip())
        if t is not None:
            return t.base if t.kind == "int" else None
        return canonical_scalar(typename.split())
