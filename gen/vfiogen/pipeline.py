"""The spec compiler: a HeaderSource in, a complete Spec out.

Stages, each its own module: cpp (preprocess, collect macros) -> frontend
(AST -> records, enums) -> layout (per ABI) -> cexpr (constants, request
numbers per ABI) -> binding of comments, banners and in-struct #defines ->
overlay (semantic facts, validation, errata, coverage).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from vfiogen import __version__
from vfiogen import spec_cache, spec_keys
from vfiogen.frontend import kerneldoc as comments
from vfiogen.frontend import cpp
from vfiogen.frontend import parse as frontend
from vfiogen.overlay import merge as overlay
from vfiogen.ir.abi import ABIS, DEFAULT_ABIS
from vfiogen.frontend.cexpr import (
    INT,
    LLONG,
    CType,
    EvalError,
    Evaluator,
    Node,
    Parser,
    Value,
    expand,
    tokenize,
)
from vfiogen.errors import Loc, MacroError
from vfiogen.frontend.parse import Declarations
from vfiogen.semantics.layout import LayoutEngine, copy_layouts
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.query import is_flag_member, named_fields
from vfiogen.ir.model import (
    SCHEMA_VERSION,
    Constant,
    DocBlock,
    Erratum,
    Field,
    FunctionMacro,
    HeaderFile,
    Ioc,
    Record,
    Request,
    Section,
    Spec,
    Unevaluated,
    ValueSet,
)

_STRING = re.compile(r'^(L?"(?:[^"\\]|\\.)*"\s*)+$')


def compile_spec(
    source: HeaderSource,
    abis: tuple[str, ...] = DEFAULT_ABIS,
    overlay_files: dict[str, Path] | None = None,
    warn: bool = True,
) -> Spec:
    files = spec_keys.overlays(source, overlay_files)
    cached = spec_keys.key(source, abis, files)
    spec = spec_cache.load(cached, source) if cached else None
    if spec is None:
        spec, read = _compile(source, abis, files)
        if cached:
            spec_cache.store(cached, spec, source, read)
    if warn:
        for u in spec.unevaluated:
            print(
                f"vfiogen: {u.loc}: warning: macro {u.name} not evaluated: {u.reason}",
                file=sys.stderr,
            )
    return spec


def cache_key(
    source: HeaderSource,
    abis: tuple[str, ...] = DEFAULT_ABIS,
    overlay_files: dict[str, Path] | None = None,
) -> str | None:
    """The key `compile_spec` stores this compilation under (None: not cached)."""
    return spec_keys.key(source, abis, spec_keys.overlays(source, overlay_files))


def _compile(
    source: HeaderSource, abis: tuple[str, ...], overlay_files: dict[str, Path]
) -> tuple[Spec, dict[str, Path]]:
    """The spec, and every file the preprocessor read for any ABI
    (include-relative name -> file)."""
    pps = cpp.preprocess_all(source, abis)
    pp = pps[abis[0]]
    main = [name for name, _ in source.headers]
    decls = frontend.parse(pp, main)
    own = {
        id(p): frontend.typedefs_only(p, pp, decls) or frontend.parse(p, main)
        for p in pps.values()
        if p is not pp
    }
    spec = Spec(
        schema_version=SCHEMA_VERSION,
        generator=f"vfiogen {__version__}",
        source=source.description,
        release=source.release,
        kernel_version=source.kernel_version,
        headers=[HeaderFile(n, h) for n, h in source.sha256().items()],
        abis=list(abis),
    )
    _take_types(spec, decls, main)
    spec.skipped = [s for s in decls.skipped if s.loc.file in main]
    engines = {}
    for a in abis:
        d = own.get(id(pps[a]), decls)  # an ABI whose preprocessing differs: its own records
        engines[a] = engine = LayoutEngine(ABIS[a], d.records, d.typedefs, d.enum_bases)
        for name in spec.records:
            engine.record(name, spec.records[name].loc)
        if d.records is not decls.records:
            copy_layouts(a, spec.records, d.records, list(spec.records))
    per_abi = {a: (p.macros, own[id(p)]) for a, p in pps.items() if p is not pp}
    _Constants(spec, decls, pp.macros, engines, main, per_abi).run()
    _bind_docs(spec, decls, main)
    _bind_value_sets(spec, decls, main)
    overlay.apply(spec, overlay_files, _comments_above(spec, decls, main))
    read = {name: path for p in pps.values() for name, path in p.files.items()}
    return spec, read


def _take_types(spec: Spec, decls: Declarations, main: list[str]) -> None:
    """Records and enums of the main headers, plus what they reference."""
    wanted = [n for n, r in decls.records.items() if r.loc.file in main]
    seen: set[str] = set()

    def need(name: str) -> None:
        if name in seen or name not in decls.records:
            return
        seen.add(name)
        for f in decls.records[name].fields:
            t = f.type
            while t.of is not None:
                t = t.of
            if t.kind == "record":
                need(t.name)

    for n in wanted:
        need(n)
    for name, rec in decls.records.items():
        if name in seen:
            rec.end_line = _closing_line(decls.raw.get(rec.loc.file), rec.loc.line)
            spec.records[name] = rec
    for key, en in decls.enums.items():
        if en.loc.file in main:
            spec.enums[key] = en


def _closing_line(lines: list[str] | None, start: int) -> int:
    """The line of the `}` that closes the record opened at `start`."""
    if not lines:
        return start
    depth, seen_open, in_comment = 0, False, False
    for n in range(start - 1, len(lines)):
        text = lines[n]
        if in_comment:
            if "*/" not in text:
                continue
            text = text.split("*/", 1)[1]
            in_comment = False
        text = re.sub(r"/\*.*?\*/|//.*", "", text)
        if "/*" in text:
            text, in_comment = text.split("/*", 1)[0], True
        for ch in text:
            if ch == "{":
                depth, seen_open = depth + 1, True
            elif ch == "}":
                depth -= 1
                if seen_open and depth == 0:
                    return n + 1
    return start


class _Constants:
    """Evaluates enumerators and macros per ABI; finds the requests."""

    def __init__(
        self,
        spec: Spec,
        decls: Declarations,
        macros: dict[str, cpp.Macro],
        engines: dict[str, LayoutEngine],
        main: list[str],
        own: dict[str, tuple[dict[str, cpp.Macro], Declarations]] | None = None,
    ) -> None:
        self.spec = spec
        self.decls = decls
        self.macros = macros
        # ABIs whose preprocessing differs: their own macros and enumerators
        self.abi_macros = {a: m for a, (m, _) in (own or {}).items()}
        self.abi_exprs = {
            a: {e.name: e.expr for e in d.enumerators} for a, (_, d) in (own or {}).items()
        }
        self.engines = engines
        self.main = main
        self.values: dict[str, dict[str, Value]] = {a: {} for a in engines}
        typedef_names = set(decls.typedefs)
        self.is_type = typedef_names.__contains__
        self.evaluators = {
            a: Evaluator(e.abi, self.values[a].get, e.sizeof, e.scalar, e.alignof)
            for a, e in engines.items()
        }

    def run(self) -> None:
        self.enumerators()
        for m in self.macros.values():
            if m.loc.file in self.main:
                self.macro(m)

    def enumerators(self) -> None:
        previous: dict[str, int] = {}
        for e in self.decls.enumerators:
            per: dict[str, int] = {}
            for abi, ev in self.evaluators.items():
                expr = self.abi_exprs.get(abi, {}).get(e.name, e.expr)
                try:
                    if expr is None:
                        v = previous.get(e.enum + abi, -1) + 1
                    else:
                        v = ev.value(Parser(tokenize(expr), self.is_type).parse())
                except EvalError as exc:
                    raise MacroError(e.loc, f"enumerator {e.name}: {exc}") from None
                previous[e.enum + abi] = v
                self.values[abi][e.name] = (v, INT if -(1 << 31) <= v < (1 << 31) else LLONG)
                per[abi] = v
            if e.loc.file in self.main:
                self.spec.constants[e.name] = self.constant(
                    e.name, e.loc, "enumerator", per, e.expr or ""
                )
                self.spec.constants[e.name].enum = e.enum

    def constant(self, name: str, loc: Loc, kind: str, per: dict[str, int], expr: str) -> Constant:
        first = next(iter(per.values()))
        differs = any(v != first for v in per.values())
        return Constant(name, loc, kind, first, per if differs else None, expr)  # type: ignore[arg-type]

    def macro(self, m: cpp.Macro) -> None:
        if m.params is not None:
            self.spec.function_macros[m.name] = FunctionMacro(m.name, m.loc, list(m.params), m.body)
            return
        if not m.body:
            return  # an include guard or a marker: no value to record
        if _STRING.match(m.body):
            text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.body))
            self.spec.constants[m.name] = Constant(m.name, m.loc, "macro", text, expr=m.body)
            return
        try:
            nodes = self.nodes(m)
            if any(n[0] == "ioc" for n in nodes.values()):
                self.request(m, nodes)
                return
            per: dict[str, int] = {}
            for abi, ev in self.evaluators.items():
                value = ev.eval(nodes[abi])
                self.values[abi][m.name] = value
                per[abi] = value[0]
        except (EvalError, KeyError) as exc:
            self.spec.unevaluated.append(Unevaluated(m.name, m.loc, m.body, str(exc)))
            return
        self.spec.constants[m.name] = self.constant(m.name, m.loc, "macro", per, m.body)

    def nodes(self, m: cpp.Macro) -> dict[str, Node]:
        """The parsed expansion of `m` per ABI (ABIs with their own macros
        expand with those)."""
        parsed: dict[int, Node] = {}
        out = {}
        for abi in self.evaluators:
            table = self.abi_macros.get(abi, self.macros)
            if id(table) not in parsed:
                own = table.get(m.name)
                if own is None or own.params is not None:
                    raise EvalError(f"{m.name} is not defined on {abi}")
                toks = expand(tokenize(own.body), table, frozenset({m.name}))
                parsed[id(table)] = Parser(toks, self.is_type).parse()
            out[abi] = parsed[id(table)]
        return out

    def request(self, m: cpp.Macro, nodes: dict[str, Node]) -> None:
        numbers: dict[str, int] = {}
        ioc = None
        for abi, ev in self.evaluators.items():
            node = nodes[abi]
            try:
                if node[0] != "ioc":
                    raise EvalError(f"not a request on {abi}")
                number, direction, type_, nr, _size = ev.ioc(node)
            except EvalError as exc:
                raise MacroError(m.loc, f"request {m.name} = {m.body}: {exc}") from None
            numbers[abi] = number
            self.values[abi][m.name] = (number, CType("unsigned int", False, 1))
            ioc = Ioc(node[1], type_, nr, node[3], direction)  # type: ignore[arg-type]
        assert ioc is not None
        self.spec.requests[m.name] = Request(m.name, m.loc, ioc, numbers)


def _bind_docs(spec: Spec, decls: Declarations, main: list[str]) -> None:
    """kernel-doc blocks to the entity they name; banners to the requests in
    their section; trailing and preceding comments to fields and constants."""
    for file in main:
        cmts = decls.comments[file]
        banners: list[Section] = []
        for c in cmts:
            title = comments.banner_title(c)
            if title:
                banners.append(Section(title, Loc(file, c.line), comments.fd_hint(title)))
                continue
            if not c.kerneldoc:
                continue
            doc = comments.parse_kerneldoc(c, file)
            _attach(spec, doc)
        spec.sections += banners
        for req in spec.requests.values():
            if req.loc.file != file:
                continue
            before = [b for b in banners if b.loc.line < req.loc.line]
            if before:
                req.section, req.fd_hint = before[-1].title, before[-1].fd_hint
        by_line: dict[int, comments.Comment] = {}
        for c in cmts:
            if not c.kerneldoc:
                by_line[c.line] = c
                if not c.trailing:
                    by_line.setdefault(c.end + 1, c)  # a block comment above a line
        for rec in spec.records.values():
            if rec.loc.file == file:
                for f in rec.fields:
                    f.doc = _field_doc(f, rec, by_line)
        for const in spec.constants.values():
            trailing = by_line.get(const.loc.line)
            if const.loc.file == file and trailing is not None and trailing.trailing:
                const.doc = trailing.text
    for req in spec.requests.values():
        if req.doc is None:
            spec.errata.append(
                Erratum(
                    req.name,
                    req.loc,
                    "missing-doc",
                    "no kernel-doc block",
                    "documented only by the overlay",
                )
            )


def _comments_above(spec: Spec, decls: Declarations, main: list[str]) -> overlay.Above:
    """Per constant of the main headers, the run of comments that ends on
    the line above it (nearest first): what the header says of it in prose
    only, as "8086 vendor PCI sub-types", for the overlay to check."""
    out: overlay.Above = {}
    for file in main:
        ends = {c.end: c for c in decls.comments[file] if not c.kerneldoc and not c.trailing}
        for const in spec.constants.values():
            if const.loc.file != file:
                continue
            run, line = [], const.loc.line - 1
            while line in ends:
                run.append((Loc(file, ends[line].line), ends[line].text))
                line = ends[line].line - 1
            if run:
                out[const.name] = run
    return out


def _attach(spec: Spec, doc: DocBlock) -> None:
    kind, _, tag = doc.name.partition(" ")
    if kind in ("struct", "union") and tag in spec.records:
        spec.records[tag].doc = doc
    elif kind == "enum" and tag in spec.enums:
        spec.enums[tag].doc = doc
    elif doc.name in spec.requests:
        spec.requests[doc.name].doc = doc
    named = re.fullmatch(r"ioctl\((\w+)\)", doc.signature)
    if named:  # iommufd.h documents a request on its struct: "struct x - ioctl(X)"
        req = spec.requests.get(named.group(1))
        if req is None:
            spec.errata.append(
                Erratum(
                    doc.name, doc.loc, "prose", doc.signature, f"no request {named.group(1)} exists"
                )
            )
        elif req.doc is None:
            req.doc = doc
    elif doc.name in spec.constants:
        spec.constants[doc.name].doc = doc.summary or doc.description


def _field_doc(f: Field, rec: Record, by_line: dict[int, comments.Comment]) -> str:
    if rec.doc is not None and f.name in rec.doc.params:
        return rec.doc.params[f.name]
    c = by_line.get(f.loc.line)
    if c is not None and (c.trailing or c.line != f.loc.line):
        return c.text
    return ""


def _bind_value_sets(spec: Spec, decls: Declarations, main: list[str]) -> None:
    """#defines written between a record's fields belong to the field they
    follow (vfio.h's VFIO_REGION_INFO_FLAG_* after `flags`)."""
    for rec in spec.records.values():
        if rec.anonymous or rec.loc.file not in main:
            continue
        fields = list(named_fields(rec, spec.records))
        for const in spec.constants.values():
            if const.kind != "macro" or const.loc.file != rec.loc.file:
                continue
            if not (rec.loc.line < const.loc.line < rec.end_line) or not isinstance(
                const.value, int
            ):
                continue
            owner = [f for f in fields if f.loc.line < const.loc.line]
            if not owner:
                continue
            fld = owner[-1]
            set_id = f"{rec.name}.{fld.name}"
            vs = spec.value_sets.get(set_id)
            if vs is None:
                vs = spec.value_sets[set_id] = ValueSet(set_id, const.loc, "flags", fields=[set_id])
                fld.values = set_id
            vs.members.append(const.name)
            const.values = set_id
    for vs in spec.value_sets.values():
        if not all(is_flag_member(n, spec.constants[n].value) for n in vs.members):
            vs.kind = "values"
