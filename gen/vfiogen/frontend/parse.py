"""Front end: preprocessed header -> records, enums, typedefs, constants.

pycparser parses the declarations; `cpp.Macro`s and the raw header's
comments supply what the AST lacks. Records and enums are taken from the
main headers (and from anywhere else they are needed); typedefs from every
file, since `__u32` lives in asm-generic/int-ll64.h. Knows nothing of the
overlay, of layout numbers or of templates.
"""

from __future__ import annotations

from typing import Literal

import dataclasses
import re
from dataclasses import dataclass, field

from pycparser import c_ast, c_generator
from pycparser.c_parser import CParser

from vfiogen.ir.abi import ABIS
from vfiogen.frontend.cexpr import (
    INT,
    TYPE_WORDS,
    EvalError,
    Evaluator,
    Parser,
    canonical_scalar,
    tokenize,
)
from vfiogen.frontend.kerneldoc import Comment, scan
from vfiogen.frontend.cpp import MEM_ALIGNED, MEM_PACKED, REC_ALIGNED, REC_PACKED, Preprocessed
from vfiogen.errors import Loc, ParseError
from vfiogen.ir.model import Enum, Field, Record, Skipped, TypeRef


@dataclass(slots=True)
class Enumerator:
    name: str
    loc: Loc
    expr: str | None  # C text of the value, None for "previous + 1"
    enum: str


@dataclass(slots=True)
class Declarations:
    """What the AST says, before layout and evaluation."""

    records: dict[str, Record] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    enumerators: list[Enumerator] = field(default_factory=list)
    typedefs: dict[str, TypeRef] = field(default_factory=dict)
    comments: dict[str, list[Comment]] = field(default_factory=dict)  # per main header
    raw: dict[str, list[str]] = field(default_factory=dict)  # raw lines per main header
    skipped: list[Skipped] = field(default_factory=list)
    enum_bases: dict[str, dict[str, str]] = field(default_factory=dict)  # wide enums: abi -> scalar


def parse(pp: Preprocessed, main: list[str]) -> Declarations:
    try:
        ast = CParser().parse(pp.text, filename="<preprocessed>")
    except Exception as exc:  # pycparser raises ParseError or bare AssertionError
        raise _unknown_type(pp.text) or _parse_error(exc, main) from None
    decls = Declarations()
    for name in main:
        text = pp.files[name].read_text(errors="replace")
        decls.comments[name] = scan(text)
        decls.raw[name] = text.split("\n")
    _Walker(decls).visit(ast)
    _recover_annotations(decls)
    for loc, name in pp.ignored:
        decls.skipped.append(Skipped(name, loc, "attribute", "no effect on layout or values"))
    return decls


_TYPEDEF_LINE = re.compile(r"\s*typedef\b[^{};]*;\s*")


def _declaration_lines(text: str) -> list[str]:
    return [x for x in text.split("\n") if x.strip() and not x.startswith("# ")]


def typedefs_only(
    pp: Preprocessed, primary: Preprocessed, decls: Declarations
) -> Declarations | None:
    """An ABI whose preprocessing differs from the primary one's in one-line
    typedefs only (`__kernel_size_t`, `__kernel_old_dev_t`, ...): the primary
    declarations with this ABI's typedefs, from a parse of those lines alone
    (a whole parse costs 4x more). None when more than typedefs differ."""
    mine, theirs = _declaration_lines(pp.text), _declaration_lines(primary.text)
    if [x for x in mine if not _TYPEDEF_LINE.fullmatch(x)] != [
        x for x in theirs if not _TYPEDEF_LINE.fullmatch(x)
    ]:
        return None
    lines = [x for x in mine if _TYPEDEF_LINE.fullmatch(x)]
    defined = {m.group(1) for x in lines if (m := re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*;", x))}
    placeholders = sorted(set(decls.typedefs) - defined)  # typedef struct {...} x; and friends
    text = "".join(f"typedef int {n};\n" for n in placeholders) + "\n".join(lines)
    try:
        ast = CParser().parse(text, filename="<typedefs>")
    except Exception:  # pycparser: ParseError or AssertionError; the whole parse decides
        return None
    walker = _Walker(Declarations())
    walker.visit(ast)
    typedefs = dict(decls.typedefs)
    for name, t in walker.d.typedefs.items():
        if name in placeholders:
            continue
        if t.kind == "int" and t.name in placeholders:
            t = decls.typedefs[t.name]
            if t.kind != "int":
                return None  # a typedef of a record typedef: the whole parse resolves it
        typedefs[name] = t
    return dataclasses.replace(decls, typedefs=typedefs)


_COUNTED_BY = re.compile(r"\b(\w+)\s*\[[^\]]*\]\s*__counted_by\((\w+)\)")


def _recover_annotations(decls: Declarations) -> None:
    """`__counted_by(n)` expands to nothing; read it back from the raw line."""
    for rec in decls.records.values():
        lines = decls.raw.get(rec.loc.file)
        if not lines:
            continue
        for f in rec.fields:
            line = lines[f.loc.line - 1] if f.name and 0 < f.loc.line <= len(lines) else ""
            if "__counted_by" in line:
                m = _COUNTED_BY.search(line)
                if m and m.group(1) == f.name:
                    f.counted_by = m.group(2)


def _parse_error(exc: Exception, main: list[str]) -> ParseError:
    m = re.match(r"^(.*?):(\d+):(\d+): (.*)$", str(exc))
    if m:
        msg = m.group(4)
        if msg.startswith("before: "):
            msg = f"syntax error before '{msg[8:]}' (expected a declaration)"
        return ParseError(Loc(m.group(1), int(m.group(2)), int(m.group(3))), msg)
    return ParseError(Loc(main[0] if main else "<input>"), f"cannot parse: {exc}")


_C_WORDS = TYPE_WORDS | {"typedef", "void", "_Alignas", "float", "double"}


def _unknown_type(text: str) -> ParseError | None:
    """pycparser cannot tell an unknown type name from a syntax error; a
    member declared with an identifier that no typedef defines is the usual
    cause, so name it."""
    typedefs = set(re.findall(r"\btypedef\b[^;]*?\b(\w+)\s*(?:\[[^\]]*\])?\s*;", text))
    file, line = "<input>", 0
    for raw in text.split("\n"):
        marker = re.match(r'^# (\d+) "([^"]*)"', raw)
        if marker:
            file, line = marker.group(2), int(marker.group(1))
            continue
        m = re.match(r"^\s*([A-Za-z_]\w*)\s+\**\s*[A-Za-z_]\w*\s*[;\[]", raw)
        if m and m.group(1) not in typedefs and m.group(1) not in _C_WORDS:
            return ParseError(
                Loc(file, line), f"unknown type '{m.group(1)}' (expected a type name)"
            )
        line += 1
    return None


def loc_of(node: c_ast.Node) -> Loc:
    c = node.coord
    if c is None:
        return Loc("<unknown>")
    return Loc(str(c.file), int(c.line or 0))


class _Walker:
    """Visits top-level declarations; nested records are named and hoisted."""

    def __init__(self, decls: Declarations) -> None:
        self.d = decls
        self.gen = c_generator.CGenerator()
        self.enum_values: dict[str, int] = {}
        self.typedef_align: dict[str, int] = {}  # typedef T __attribute__((aligned(N))) X;
        self.pack: list[int | None] = [None]  # `#pragma pack` stack, top last

    def visit(self, ast: c_ast.FileAST) -> None:
        last_typedef = None
        for node in ast.ext:
            if isinstance(node, c_ast.Typedef):
                self.d.typedefs[node.name] = self.typeref(node.type, node.name, node.name)
                inherited = self.typedef_align.get(_typedef_name(node.type) or "")
                if inherited:
                    self.typedef_align[node.name] = inherited
                last_typedef = node.name
            elif isinstance(node, c_ast.FuncDef) or (
                isinstance(node, c_ast.Decl) and isinstance(node.type, c_ast.FuncDecl)
            ):
                decl = node.decl if isinstance(node, c_ast.FuncDef) else node
                self.d.skipped.append(
                    Skipped(decl.name, loc_of(decl), "function", "a function, not part of the ABI")
                )
            elif isinstance(node, c_ast.Decl) and node.name in (MEM_PACKED, MEM_ALIGNED):
                if node.name == MEM_ALIGNED and last_typedef is not None:  # typedef T aligned(N) X;
                    n = self.int_literal(node.type.dim, loc_of(node))
                    self.typedef_align[last_typedef] = max(
                        self.typedef_align.get(last_typedef, 1), n
                    )
            elif isinstance(node, c_ast.Decl) and isinstance(
                node.type, (c_ast.Struct, c_ast.Union, c_ast.Enum)
            ):
                self.define(node.type)  # struct/union/enum definitions and declarations
            elif isinstance(node, c_ast.Decl):
                inner = _innermost(node.type)
                if isinstance(inner, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and inner.name:
                    self.define(inner)  # struct foo { ... } a_variable;
                self.d.skipped.append(
                    Skipped(node.name, loc_of(node), "variable", "a variable, not part of the ABI")
                )
            elif isinstance(node, c_ast.Pragma):
                self.pragma(node)
            else:
                raise ParseError(loc_of(node), f"unsupported top-level {type(node).__name__}")

    # --- types ------------------------------------------------------------------

    def define(self, node: c_ast.Node, anon_name: str | None = None) -> str | None:
        """Register a struct/union/enum definition; returns its (record) name."""
        if isinstance(node, c_ast.Enum):
            if node.values is not None:
                self.enum(node)
            return str(node.name) if node.name else None
        if node.decls is None:
            return str(node.name) if node.name else None  # a reference, or a forward declaration
        name = node.name or anon_name
        if name is None:
            raise ParseError(loc_of(node), "anonymous record at file scope")
        kind: Literal["struct", "union"] = "struct" if isinstance(node, c_ast.Struct) else "union"
        rec = Record(name, kind, loc_of(node), anonymous=node.name is None, pack=self.pack[-1])
        # Placeholder first, so a self-referencing pointer resolves.
        self.d.records[name] = rec
        anon_count = 0
        for member in node.decls:
            if self.marker(member, rec):
                continue
            anon_tag = None
            if member.name is None and isinstance(member.type, (c_ast.Struct, c_ast.Union)):
                anon_tag = f"{name}::anon{anon_count}"
                anon_count += 1
                self.define(member.type, anon_tag)
                ftype = TypeRef(
                    "record",
                    anon_tag,
                    "struct" if isinstance(member.type, c_ast.Struct) else "union",
                )
            else:
                inner = _innermost(member.type)
                if (
                    isinstance(inner, (c_ast.Struct, c_ast.Union))
                    and inner.decls is not None
                    and inner.name is None
                ):
                    anon_tag = f"{name}::{member.name}"  # struct { ... } name[2];
                ftype = self.typeref(member.type, member.name, anon_tag)
            align = None
            for a in member.align or []:
                align = max(align or 0, self.int_literal(a.alignment, loc_of(member)))
            if self.typedef_align.get(_typedef_name(member.type) or ""):
                align = max(align or 0, self.typedef_align[_typedef_name(member.type) or ""])
            fld = Field(member.name or "", ftype, loc_of(member), align=align)
            if member.bitsize is not None:
                fld.bits = self.int_literal(member.bitsize, loc_of(member))
            rec.fields.append(fld)
        # Re-insert so definition order is source order of the closing brace:
        # a nested record precedes the one that contains it.
        del self.d.records[name]
        self.d.records[name] = rec
        return name

    def pragma(self, node: c_ast.Pragma) -> None:
        """`#pragma pack(N)`, `pack()`, `pack(push, N)`, `pack(pop)`."""
        m = re.fullmatch(
            r"\s*pack\s*\(\s*(push)?\s*,?\s*(\d*)\s*\)\s*|\s*pack\s*\(\s*pop\s*\)\s*", node.string
        )
        if m is None:
            return
        if "pop" in node.string:
            if len(self.pack) > 1:
                self.pack.pop()
            return
        value = int(m.group(2)) if m.group(2) else None
        if m.group(1):
            self.pack.append(value or self.pack[-1])
        else:
            self.pack[-1] = value

    def marker(self, member: c_ast.Decl, rec: Record) -> bool:
        """An attribute marker left by cpp: applies it, says it was one."""
        if member.name not in (REC_PACKED, REC_ALIGNED, MEM_PACKED, MEM_ALIGNED):
            return False
        n = 0
        if member.name in (REC_ALIGNED, MEM_ALIGNED):
            n = self.int_literal(member.type.dim, loc_of(member))
        if member.name == REC_PACKED:
            rec.packed = True
        elif member.name == REC_ALIGNED:
            rec.align = max(rec.align or 1, n)
        elif not rec.fields:
            raise ParseError(loc_of(member), "attribute before any member")
        elif member.name == MEM_PACKED:
            rec.fields[-1].packed = True
        else:
            rec.fields[-1].align = max(rec.fields[-1].align or 1, n)
        return True

    def enum(self, node: c_ast.Enum) -> None:
        first = node.values.enumerators[0].name if node.values.enumerators else "empty"
        key = node.name or f"anon:{first}"
        en = Enum(key, loc_of(node), tag=node.name)
        exprs = []
        for e in node.values.enumerators:
            en.enumerators.append(e.name)
            expr = self.gen.visit(e.value) if e.value is not None else None
            self.d.enumerators.append(Enumerator(e.name, loc_of(e), expr, key))
            exprs.append((e.name, expr))
        self.d.enums[key] = en
        for abi in ABIS:  # gcc widens an enum whose values need more than 32 bits
            values = self.enum_values_on(abi, exprs)
            lo, hi = (min(values), max(values)) if values else (0, 0)
            if (lo < 0 and (lo < -(1 << 31) or hi >= 1 << 31)) or hi >= 1 << 32:
                wide = "long long" if min(values) < 0 else "unsigned long long"
                self.d.enum_bases.setdefault(key, {})[abi] = wide

    def enum_values_on(self, abi: str, exprs: list[tuple[str, str | None]]) -> list[int]:
        """An enum's values on one ABI as far as literals and earlier
        enumerators give them; x86_64's also resolve array sizes."""
        previous, values = -1, []
        for name, expr in exprs:
            value: int | None = previous + 1
            try:
                if expr is not None:
                    value = self.constant(expr, abi)
            except EvalError:
                value = None
            if value is not None:
                values.append(value)
                if abi == "x86_64":
                    self.enum_values[name] = value
            previous = value if value is not None else previous + 1
        return values

    def typeref(self, node: c_ast.Node, name: str | None, anon_tag: str | None = None) -> TypeRef:
        if isinstance(node, c_ast.TypeDecl):
            return self.typeref(node.type, name, anon_tag)
        if isinstance(node, c_ast.PtrDecl):
            if isinstance(node.type, c_ast.FuncDecl):
                return TypeRef("pointer", of=TypeRef("int", "void (*)(void)", "void"))
            return TypeRef("pointer", of=self.typeref(node.type, name))
        if isinstance(node, c_ast.ArrayDecl):
            count, count_expr = None, None
            if node.dim is not None:
                text = self.gen.visit(node.dim)
                if "sizeof" in text or "_Alignof" in text:
                    count_expr = text  # evaluated per ABI by the layout engine
                else:
                    count = self.int_literal(node.dim, loc_of(node))
            return TypeRef(
                "array",
                of=self.typeref(node.type, name, anon_tag),
                count=count,
                count_expr=count_expr,
            )
        if isinstance(node, (c_ast.Struct, c_ast.Union)):
            tag = self.define(node, anon_tag) if node.decls is not None else node.name
            kind = "struct" if isinstance(node, c_ast.Struct) else "union"
            if tag is None:
                raise ParseError(loc_of(node), "anonymous record without a name")
            return TypeRef("record", tag, kind)
        if isinstance(node, c_ast.Enum):
            self.define(node)
            key = node.name or f"anon:{node.values.enumerators[0].name}"
            return TypeRef("enum", key)
        if isinstance(node, c_ast.IdentifierType):
            words = list(node.names)
            if len(words) == 1 and words[0] in self.d.typedefs:
                target = self.d.typedefs[words[0]]
                if target.kind == "int":
                    return TypeRef("int", words[0], target.base)
                return target
            if words == ["void"]:
                return TypeRef("int", "void", "void")  # only ever behind a pointer
            base = canonical_scalar(words)
            if base is None:
                raise ParseError(loc_of(node), f"unknown type '{' '.join(words)}'")
            return TypeRef("int", base, base)
        if isinstance(node, c_ast.FuncDecl):  # typedef void fn_t(int): only behind a pointer
            return TypeRef("int", "void (*)(void)", "function")
        raise ParseError(loc_of(node), f"unsupported type node {type(node).__name__}")

    def constant(self, text: str, abi: str = "x86_64") -> int:
        """An integer constant expression of literals and enumerators."""
        resolve = lambda n: (
            (self.enum_values[n], INT) if n in self.enum_values else None
        )  # noqa: E731
        ev = Evaluator(ABIS[abi], resolve, _no_sizeof, lambda _: None)
        return ev.value(Parser(tokenize(text), lambda _: False).parse())

    def int_literal(self, node: c_ast.Node, loc: Loc) -> int:
        """Array sizes and alignments: after preprocessing, integer constant
        expressions of literals (those with sizeof are left to the layout)."""
        text = self.gen.visit(node)
        try:
            value = self.constant(text)
        except EvalError as exc:
            raise ParseError(loc, f"'{text}' is not an integer constant: {exc}") from None
        if value < 0:
            raise ParseError(loc, f"'{text}' is negative")
        return value


def _typedef_name(node: c_ast.Node) -> str | None:
    """The typedef name a declarator's type (or array element) is spelled with."""
    while isinstance(node, (c_ast.TypeDecl, c_ast.ArrayDecl)):
        node = node.type
    if isinstance(node, c_ast.IdentifierType) and len(node.names) == 1:
        return str(node.names[0])
    return None


def _innermost(node: c_ast.Node) -> c_ast.Node:
    """The type under a member's declarators (arrays, pointers, TypeDecl)."""
    while isinstance(node, (c_ast.TypeDecl, c_ast.ArrayDecl, c_ast.PtrDecl)):
        node = node.type
    return node


def _no_sizeof(name: str) -> int:
    raise EvalError(f"sizeof({name}) in an array size is not supported")
