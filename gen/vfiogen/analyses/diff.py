"""ABI diff of two specs: every change a user of the older header could notice.

abidiff (what the kernel's check-uapi.sh runs) compares struct layouts on the
compiler's own ABI and nothing else. A spec also holds request numbers per
ABI and fd kind, constants and flag bits, capability ids, the layout on every
ABI and the kernel-doc, so this compares all of it. Each difference becomes a
`Change`, classified by what happens to a program built against OLD:

- breaking: an old binary or old source stops working (a number, value,
  offset or size it relies on moved; a name it uses vanished, renames too);
- compatible: an extension it cannot notice (a new request, flag bit or
  type; a field in padding or a reserved field; tail growth of a struct
  whose size the caller passes in `argsz`/`size`);
- cosmetic: documentation text.

Every `Change.detail` says what changed and, after "; ", why it has that
severity. Presentation lives in `diff_render`; this module only decides.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Literal

from vfiogen.ir.abi import ABIS
from vfiogen.errors import DiffError, Loc, SpecFormatError
from vfiogen.ir.query import Member, entity_of, is_flag_bit, members
from vfiogen.ir.model import Constant, DocBlock, Field, Record, Request, Spec

Entity = Literal["request", "type", "field", "constant", "enumerator", "flag", "capability", "doc"]
ChangeKind = Literal["added", "removed", "changed"]
Severity = Literal["breaking", "compatible", "cosmetic"]

ENTITIES: tuple[str, ...] = (
    "request",
    "type",
    "field",
    "constant",
    "enumerator",
    "flag",
    "capability",
    "doc",
)
CHANGES: tuple[str, ...] = ("added", "removed", "changed")
SEVERITIES: tuple[str, ...] = ("breaking", "compatible", "cosmetic")

# Fields that exist only to be zeroed: callers never give them meaning, so
# the kernel may carve new fields out of them or resize them.
RESERVED = re.compile(r"^_*(reserved|resv|rsvd|pad|padding|unused)_?\d*$", re.IGNORECASE)
# Enumerators/macros that count or bound the others: they grow when entries
# are appended, which old binaries cannot notice.
SENTINEL = re.compile(r"(^|_)(NUM|NR|MAX|COUNT|LAST)(_|$)")
# argsz styles under which the caller tells the kernel how many bytes it has.
NEGOTIATED = {"minsz", "grow", "enospc", "emsgsize", "size"}
RENAME_SIMILARITY = 0.6


@dataclass(frozen=True, slots=True)
class Change:
    """One difference; the JSON object of the issue's shape, field for field."""

    entity: str
    name: str  # for a field: "type.field"
    change: str
    severity: str
    abi: str | None  # None: the same on every compared ABI
    detail: str  # "what; why"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Report:
    old: str
    new: str
    abis: list[str]
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown to people, not in JSON

    @property
    def breaking(self) -> bool:
        return any(c.severity == "breaking" for c in self.changes)

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "changes": [c.to_json() for c in self.changes]}


def diff(
    old: Spec,
    new: Spec,
    old_name: str | None = None,
    new_name: str | None = None,
    abis: Iterable[str] | None = None,
) -> Report:
    """Compare two specs on the ABIs both have (or the given subset)."""
    common = [a for a in old.abis if a in new.abis]
    if abis is not None:
        wanted = list(abis)
        missing = [a for a in wanted if a not in common]
        if missing:
            raise DiffError(
                None,
                f"ABI {missing[0]} is not in both specs; they share {', '.join(common) or 'none'}",
            )
        common = wanted
    if not common:
        raise DiffError(
            None,
            f"the specs share no ABI (old: {', '.join(old.abis)}; new: {', '.join(new.abis)})",
        )
    for spec, label in ((old, old_name or old.source), (new, new_name or new.source)):
        check_spec(spec, common, label)
    report = Report(old_name or old.source, new_name or new.source, common)
    for only, side in ((old.abis, "old"), (new.abis, "new")):
        extra = [a for a in only if a not in common]
        if extra:
            report.notes.append(f"ABIs only in the {side} spec, not compared: {', '.join(extra)}")
    old_headers = {h.name for h in old.headers}
    new_headers = {h.name for h in new.headers}
    for h in sorted(new_headers - old_headers):
        report.notes.append(f"{h} is new: everything it declares is reported as added")
    for h in sorted(old_headers - new_headers):
        report.notes.append(f"{h} is gone: everything it declared is reported as removed")
    _Differ(old, new, common, report.changes).run()
    return report


def check_spec(spec: Spec, abis: list[str], label: str) -> None:
    """A spec read from JSON may be inconsistent; refuse it with a position
    rather than fail half-way through the diff."""
    where = Loc(label)
    for name, rec in spec.records.items():
        for abi in abis:
            if abi not in rec.layout:
                raise SpecFormatError(where, f"record {name} has no layout for ABI {abi}")
        for f in rec.fields:
            if any(abi not in f.layout for abi in abis):
                raise SpecFormatError(where, f"field {name}.{f.name} lacks a per-ABI layout")
            if f.type.kind == "record" and f.type.name not in spec.records:
                raise SpecFormatError(where, f"field {name}.{f.name}: unknown {f.type.name}")
    for name, req in spec.requests.items():
        for abi in abis:
            if abi not in req.numbers:
                raise SpecFormatError(where, f"request {name} has no number for ABI {abi}")
    for name, c in spec.constants.items():
        if c.per_abi is not None and any(a not in c.per_abi for a in abis):
            raise SpecFormatError(where, f"constant {name} lacks a per-ABI value")
        if c.values is not None and c.values not in spec.value_sets:
            raise SpecFormatError(where, f"constant {name}: unknown value set {c.values}")


# --- helpers that read one spec -----------------------------------------------


def value_of(c: Constant, abi: str) -> int | str:
    return c.per_abi[abi] if c.per_abi else c.value


def fmt(v: int | str | None) -> str:
    if isinstance(v, int):
        return str(v) if -10 < v < 10 else f"{v:#x}"
    return repr(v)


def per_abi_text(values: dict[str, Any], render: Callable[[Any], str] = fmt) -> str:
    """One value, or the first ABI's with the others that differ in parentheses."""
    abis = list(values)
    first = values[abis[0]]
    others = [f"{a} {render(values[a])}" for a in abis[1:] if values[a] != first]
    return render(first) + (f" ({', '.join(others)})" if others else "")


def spelled(f: Field) -> str:
    """The field's type as the header spells it: the front end turns
    `__aligned_u64` into `__u64` with an explicit alignment of 8."""
    base = f.type.c()
    if not f.align:
        return base
    if base in ("__u64", "__s64") and f.align == 8:
        return f"__aligned_{base[2:]}"
    return f"{base} __attribute__((aligned({f.align})))"


def merge_texts(texts: dict[str, str]) -> str:
    """One text for several ABIs: the first ABI's, with the other ABIs' words
    in parentheses where they differ ("size 16 -> 24 (i386: 20)")."""
    abis = list(texts)
    first = texts[abis[0]].split(" ")
    words = {a: texts[a].split(" ") for a in abis}
    if any(len(w) != len(first) for w in words.values()):
        others = [f"{a}: {texts[a]}" for a in abis[1:] if texts[a] != texts[abis[0]]]
        return texts[abis[0]] + (f" ({', '.join(others)})" if others else "")
    out = []
    for i, tok in enumerate(first):
        core = tok.rstrip(",;:)")
        alts = [f"{a}: {words[a][i].rstrip(',;:)')}" for a in abis[1:] if words[a][i] != tok]
        out.append(f"{core} ({', '.join(alts)}){tok[len(core):]}" if alts else tok)
    return " ".join(out)


def fd_of(r: Request) -> str:
    return r.fd or r.fd_hint or "unknown"


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


def doc_text(d: DocBlock | None) -> dict[str, str]:
    if d is None:
        return {}
    parts = {"signature": d.signature, "summary": d.summary, "description": d.description}
    parts.update({f"@{k}": v for k, v in d.params.items()})
    parts.update({f"{k}:": v for k, v in d.sections.items()})
    return {k: " ".join(v.split()) for k, v in parts.items() if v.strip()}


def doc_change(old: dict[str, str], new: dict[str, str]) -> str | None:
    """A one-line summary of how a doc changed, or None when it did not."""
    if old == new:
        return None
    bits = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, ""), new.get(key, "")
        if a == b:
            continue
        if not a:
            bits.append(f"{key} added")
        elif not b:
            bits.append(f"{key} removed")
        else:
            aw, bw = a.split(), b.split()
            sm = difflib.SequenceMatcher(a=aw, b=bw, autojunk=False)
            plus = minus = 0
            for op, i1, i2, j1, j2 in sm.get_opcodes():
                if op != "equal":
                    minus += i2 - i1
                    plus += j2 - j1
            bits.append(f"{key} +{plus}/-{minus} words")
    return ", ".join(bits)


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


# --- the comparison -----------------------------------------------------------


class _Differ:
    """Walks both specs entity by entity and appends Changes in report order."""

    def __init__(self, old: Spec, new: Spec, abis: list[str], out: list[Change]) -> None:
        self.old, self.new, self.abis, self.out = old, new, abis, out
        self.growable = {**growable(old), **growable(new)}
        self.embedded = {**embedders(old), **embedders(new)}
        self.docs: list[Change] = []

    def run(self) -> None:
        self.requests()
        self.types()
        self.constants()
        self.function_macros()
        self.capabilities()
        self.features()
        self.out += self.docs

    # emitting ---------------------------------------------------------------

    def add(
        self,
        entity: str,
        name: str,
        change: str,
        severity: str,
        detail: str,
        abi: str | None = None,
    ) -> None:
        self.out.append(Change(entity, name, change, severity, abi, detail))

    def add_per_abi(
        self, entity: str, name: str, change: str, per: dict[str, tuple[str, str, str] | None]
    ) -> None:
        """`per` maps each ABI to (severity, what, why) or None. One Change when
        every ABI has it for the same reason (the per-ABI numbers go into the
        detail), else one Change per affected ABI."""
        hit = {a: v for a, v in per.items() if v is not None}
        if not hit:
            return
        first = next(iter(hit.values()))
        if len(hit) == len(self.abis) and all(v[::2] == first[::2] for v in hit.values()):
            what = merge_texts({a: v[1] for a, v in hit.items()})
            self.add(entity, name, change, first[0], f"{what}; {first[2]}")
            return
        for abi, (severity, what, why) in hit.items():
            self.add(entity, name, change, severity, f"{what}; {why}", abi)

    def doc(self, name: str, old: dict[str, str], new: dict[str, str]) -> None:
        what = doc_change(old, new)
        if what:
            self.docs.append(
                Change("doc", name, "changed", "cosmetic", None, f"{what}; documentation only")
            )

    # requests ---------------------------------------------------------------

    def requests(self) -> None:
        o, n = self.old.requests, self.new.requests
        removed = [k for k in o if k not in n]
        added = [k for k in n if k not in o]
        renamed: dict[str, str] = {}
        for x in removed:
            key = (fd_of(o[x]), tuple(o[x].numbers[a] for a in self.abis), o[x].arg_type)
            cands = [
                y
                for y in added
                if y not in renamed.values()
                and (fd_of(n[y]), tuple(n[y].numbers[a] for a in self.abis), n[y].arg_type) == key
            ]
            if cands:
                renamed[x] = max(cands, key=lambda y: similar(x, y))
        reuse = self.number_reuse(renamed)
        for name, req in n.items():
            if name in o:
                self.request_changed(o[name], req, reuse.get(name, {}))
            elif name in renamed.values():
                x = next(k for k, v in renamed.items() if v == name)
                self.add("request", name, "added", "compatible", f"new name of {x}; same number")
            else:
                per: dict[str, tuple[str, str, str] | None] = {}
                for abi in self.abis:
                    was = reuse.get(name, {}).get(abi)
                    per[abi] = (
                        (
                            "breaking",
                            f"number {fmt(req.numbers[abi])} on the {fd_of(req)} fd was {was} in OLD",
                            f"old binaries issuing {was} now reach {name}",
                        )
                        if was
                        else (
                            "compatible",
                            f"new request on the {fd_of(req)} fd, number {fmt(req.numbers[abi])}",
                            "old binaries never issue it",
                        )
                    )
                self.add_per_abi("request", name, "added", per)
        for name in removed:
            if name in renamed:
                self.add(
                    "request",
                    name,
                    "removed",
                    "breaking",
                    f"renamed to {renamed[name]} with the same number; a source break "
                    "(binaries are unaffected)",
                )
            else:
                self.add(
                    "request",
                    name,
                    "removed",
                    "breaking",
                    f"number {per_abi_text({a: o[name].numbers[a] for a in self.abis})} is gone; "
                    "old binaries get ENOTTY and source using it no longer compiles",
                )
        for name, req in n.items():
            # iommufd.h documents a request on its struct; that doc is compared there.
            if name in o and (req.doc is None or req.doc.name == name):
                self.doc(name, doc_text(o[name].doc), doc_text(req.doc))

    def number_reuse(self, renamed: dict[str, str]) -> dict[str, dict[str, str]]:
        """Requests of NEW whose number (on one fd kind) belonged to another
        request in OLD that no longer answers to it: new name -> abi -> old name."""
        out: dict[str, dict[str, str]] = {}
        for abi in self.abis:
            before = {(fd_of(r), r.numbers[abi]): r.name for r in self.old.requests.values()}
            for r in self.new.requests.values():
                prev = before.get((fd_of(r), r.numbers[abi]))
                if prev is None or prev == r.name or renamed.get(prev) == r.name:
                    continue
                still = self.new.requests.get(prev)
                if still is not None and still.numbers[abi] == r.numbers[abi]:
                    continue  # both share the number in NEW as in OLD: not a reuse
                out.setdefault(r.name, {})[abi] = prev
        return out

    def request_changed(self, o: Request, n: Request, reuse: dict[str, str]) -> None:
        name = n.name
        moved = [a for a in self.abis if o.numbers[a] != n.numbers[a]]
        if moved:
            per: dict[str, tuple[str, str, str] | None] = {}
            for a in self.abis:
                extra = f", the number of {reuse[a]} in OLD" if a in reuse else ""
                per[a] = (
                    (
                        "breaking",
                        f"number {fmt(o.numbers[a])} -> {fmt(n.numbers[a])}{extra}",
                        "old binaries issue the old number",
                    )
                    if a in moved
                    else None
                )
            self.add_per_abi("request", name, "changed", per)
        if o.fd and n.fd and o.fd != n.fd:
            self.add(
                "request",
                name,
                "changed",
                "breaking",
                f"fd kind {o.fd} -> {n.fd}; old binaries issue it on the other fd",
            )
        if o.arg and n.arg and o.arg != n.arg:
            self.add(
                "request",
                name,
                "changed",
                "breaking",
                f"argument kind {o.arg} -> {n.arg}; old binaries pass the old kind",
            )
        if o.arg_type and n.arg_type and o.arg_type != n.arg_type:
            same = self.same_layout(o.arg_type, n.arg_type)
            self.add(
                "request",
                name,
                "changed",
                "compatible" if same else "breaking",
                f"argument type {o.arg_type} -> {n.arg_type}; "
                + ("same layout on every ABI" if same else "old binaries pass the old layout"),
            )
        for what, a, b in (("result", o.result, n.result), ("result fd", o.result_fd, n.result_fd)):
            if a and b and a != b:
                self.add(
                    "request",
                    name,
                    "changed",
                    "breaking",
                    f"{what} {a} -> {b}; old binaries read the return value the old way",
                )
        if o.argsz and n.argsz and o.argsz != n.argsz:
            self.add(
                "request",
                name,
                "changed",
                "compatible",
                f"argsz convention {o.argsz} -> {n.argsz}; old callers' sizes are still accepted",
            )
        self.minsz(o, n)
        for fname, d in n.directions.items():
            od = o.directions.get(fname)
            if od and od != d:
                now_read = od == "out" and d in ("in", "inout")
                self.add(
                    "request",
                    name,
                    "changed",
                    "breaking" if now_read else "compatible",
                    f"direction of {fname} {od} -> {d}; "
                    + (
                        "the kernel now reads what old binaries leave unset"
                        if now_read
                        else "old binaries still fill in what the kernel reads"
                    ),
                )
        for what, a, b in (
            ("CHECK_EXTENSION gate", o.extension, n.extension),
            ("capability scope", o.caps, n.caps),
        ):
            if a != b and (a or b):
                self.add(
                    "request",
                    name,
                    "changed",
                    "compatible",
                    f"{what} {a or '(none)'} -> {b or '(none)'}; the request itself is unchanged",
                )

    def minsz(self, o: Request, n: Request) -> None:
        """The minimum argsz is offsetofend(minsz field): a larger one rejects
        old callers."""
        if not (o.minsz and n.minsz and o.arg_type and n.arg_type):
            return
        if o.arg_type not in self.old.records or n.arg_type not in self.new.records:
            return
        om = members(self.old.records[o.arg_type], self.old.records, self.abis).get(o.minsz)
        nm = members(self.new.records[n.arg_type], self.new.records, self.abis).get(n.minsz)
        if om is None or nm is None:
            return
        per: dict[str, tuple[str, str, str] | None] = {}
        for a in self.abis:
            before, after = sum(om.layout[a]), sum(nm.layout[a])
            if before == after:
                per[a] = None
            elif after > before:
                per[a] = (
                    "breaking",
                    f"minimum argsz {before} -> {after} (through {n.minsz})",
                    "old binaries passing the old minimum get EINVAL",
                )
            else:
                per[a] = (
                    "compatible",
                    f"minimum argsz {before} -> {after}",
                    "old callers pass more than needed",
                )
        self.add_per_abi("request", n.name, "changed", per)

    def same_layout(self, a: str, b: str) -> bool:
        ra, rb = self.old.records.get(a), self.new.records.get(b)
        if ra is None or rb is None:
            return False
        ma = members(ra, self.old.records, self.abis)
        mb = members(rb, self.new.records, self.abis)
        return (
            all(
                (ra.layout[x].size, ra.layout[x].align) == (rb.layout[x].size, rb.layout[x].align)
                for x in self.abis
            )
            and list(ma) == list(mb)
            and all(ma[k].layout == mb[k].layout for k in ma)
        )

    # types and fields -----------------------------------------------------------

    def types(self) -> None:
        o = {k: r for k, r in self.old.records.items() if not r.anonymous}
        n = {k: r for k, r in self.new.records.items() if not r.anonymous}
        removed = [k for k in o if k not in n]
        added = [k for k in n if k not in o]
        renamed: dict[str, str] = {}
        for x in removed:
            cands = [
                y
                for y in added
                if y not in renamed.values()
                and o[x].kind == n[y].kind
                and self.same_layout(x, y)
                and [m.field.type.c() for m in members(o[x], self.old.records, self.abis).values()]
                == [m.field.type.c() for m in members(n[y], self.new.records, self.abis).values()]
            ]
            if cands:
                renamed[x] = max(cands, key=lambda y: similar(x, y))
        for name, rec in n.items():
            if name in o:
                self.record_changed(o[name], rec)
            elif name in renamed.values():
                x = next(k for k, v in renamed.items() if v == name)
                self.add("type", name, "added", "compatible", f"new name of {rec.kind} {x}")
            else:
                sizes = per_abi_text({a: rec.layout[a].size for a in self.abis}, str)
                self.add(
                    "type",
                    name,
                    "added",
                    "compatible",
                    f"new {rec.kind}, size {sizes}; old code does not use it",
                )
        for name in removed:
            why = (
                f"renamed to {renamed[name]} with the same layout; a source break "
                "(binaries are unaffected)"
                if name in renamed
                else "source naming it no longer compiles"
            )
            self.add("type", name, "removed", "breaking", f"{o[name].kind} {name} is gone; {why}")
        self.enums()

    def enums(self) -> None:
        o = {e.tag: e for e in self.old.enums.values() if e.tag}
        n = {e.tag: e for e in self.new.enums.values() if e.tag}
        for tag, e in n.items():
            if tag not in o:
                self.add(
                    "type",
                    tag,
                    "added",
                    "compatible",
                    f"new enum {tag} ({len(e.enumerators)} enumerators); old code does not use it",
                )
            else:
                self.doc(f"enum {tag}", doc_text(o[tag].doc), doc_text(e.doc))
        for tag, e in o.items():
            if tag not in n:
                same = [k for k, v in n.items() if k not in o and v.enumerators == e.enumerators]
                why = (
                    f"renamed to enum {same[0]} with the same enumerators; a source break"
                    if same
                    else "source naming the enum type no longer compiles"
                )
                self.add("type", tag, "removed", "breaking", f"enum {tag} is gone; {why}")

    def record_changed(self, o: Record, n: Record) -> None:
        name = n.name
        if o.kind != n.kind:
            self.add(
                "type",
                name,
                "changed",
                "breaking",
                f"{o.kind} -> {n.kind}; every member after the first moves",
            )
            return
        om = members(o, self.old.records, self.abis)
        nm = members(n, self.new.records, self.abis)
        grow_why = self.growable.get(name)
        embedded_in = self.embedded.get(name)
        per: dict[str, tuple[str, str, str] | None] = {}
        for a in self.abis:
            ol, nl = o.layout[a], n.layout[a]
            if (ol.size, ol.align) == (nl.size, nl.align):
                per[a] = None
                continue
            if ol.size == nl.size:
                what = f"alignment {ol.align} -> {nl.align}, size {nl.size} unchanged"
            else:
                what = f"size {ol.size} -> {nl.size}" + (
                    f", alignment {ol.align} -> {nl.align}" if ol.align != nl.align else ""
                )
            kept = all(
                k in nm and nm[k].layout[a] == m.layout[a] or RESERVED.match(k)
                for k, m in om.items()
            )
            if not kept:
                per[a] = ("breaking", what, "members moved, old binaries use the old layout")
            elif nl.size < ol.size:
                per[a] = ("breaking", what, "old binaries pass and expect more bytes")
            elif nl.size == ol.size:
                # Where it is embedded, the embedding record's own layout
                # change (if any) is reported on that record.
                per[a] = ("compatible", what, "no member moved")
            elif embedded_in:
                per[a] = ("breaking", f"{what}, growth at the tail", f"embedded in {embedded_in}")
            elif grow_why:
                per[a] = (
                    "compatible",
                    f"{what}, growth at the tail",
                    f"{grow_why}, so the kernel accepts the old size",
                )
            else:
                per[a] = (
                    "breaking",
                    f"{what}, growth at the tail",
                    "nothing tells the kernel the caller's size",
                )
        self.add_per_abi("type", name, "changed", per)
        self.fields(o, n, om, nm)
        self.doc(name, doc_text(o.doc), doc_text(n.doc))

    def fields(self, o: Record, n: Record, om: dict[str, Member], nm: dict[str, Member]) -> None:
        rec = n.name
        removed = [k for k in om if k not in nm]
        added = [k for k in nm if k not in om]
        renamed: dict[str, str] = {}
        for x in removed:
            for y in added:
                if (
                    y not in renamed.values()
                    and om[x].layout == nm[y].layout
                    and om[x].field.type.c() == nm[y].field.type.c()
                ):
                    renamed[x] = y
                    break
        for k, m in nm.items():
            if k in om:
                self.field_changed(rec, om[k], m)
            elif k in renamed.values():
                x = next(a for a, b in renamed.items() if b == k)
                self.add(
                    "field",
                    f"{rec}.{k}",
                    "added",
                    "compatible",
                    f"{m.field.type.c()} {k} takes the place of {x}, same offset and type; "
                    + (
                        "a reserved field put to use"
                        if RESERVED.match(x)
                        else "the same bytes under a new name"
                    ),
                )
            else:
                self.field_added(o, n, om, nm, m)
        for k in removed:
            m = om[k]
            full = f"{rec}.{k}"
            if k in renamed:
                y = renamed[k]
                if RESERVED.match(k):
                    self.add(
                        "field",
                        full,
                        "removed",
                        "compatible",
                        f"reserved field now named {y}; callers only zero it",
                    )
                else:
                    self.add(
                        "field",
                        full,
                        "removed",
                        "breaking",
                        f"renamed to {y}, same offset and type; a source break "
                        "(binaries are unaffected)",
                    )
            elif RESERVED.match(k):
                self.add(
                    "field",
                    full,
                    "removed",
                    "compatible",
                    f"reserved field {m.field.type.c()} {k} removed or reused; callers only zero it",
                )
            else:
                users = [
                    x
                    for x, nmem in nm.items()
                    if x not in om and self.overlaps(nmem.layout, m.layout)
                ]
                why = (
                    f"its bytes now belong to {', '.join(users)}; old binaries still write "
                    f"{k} there"
                    if users
                    else "source using it no longer compiles"
                )
                self.add(
                    "field",
                    full,
                    "removed",
                    "breaking",
                    f"{m.field.type.c()} {k} is gone; {why}",
                )

    def overlaps(self, x: dict[str, tuple[int, int]], y: dict[str, tuple[int, int]]) -> bool:
        return any(x[a][0] < y[a][0] + y[a][1] and y[a][0] < x[a][0] + x[a][1] for a in self.abis)

    def field_added(
        self, o: Record, n: Record, om: dict[str, Member], nm: dict[str, Member], m: Member
    ) -> None:
        rec = n.name
        grow_why = self.growable.get(rec)
        embedded_in = self.embedded.get(rec)
        decl = f"{spelled(m.field)} {m.name}"
        per: dict[str, tuple[str, str, str] | None] = {}
        for a in self.abis:
            off, size = m.layout[a]
            old_size = o.layout[a].size
            hits = [
                k
                for k, om_ in om.items()
                if size
                and om_.layout[a][1]
                and off < om_.layout[a][0] + om_.layout[a][1]
                and om_.layout[a][0] < off + size
            ]
            in_union = bool(m.path and m.path[-1] == "union") or n.kind == "union"
            if not size and off >= old_size:
                per[a] = (
                    "compatible",
                    f"{decl}: flexible array added at the tail (offset {off})",
                    "the struct's size is unchanged",
                )
            elif (
                hits
                and in_union
                and all(k in nm and nm[k].layout[a] == om[k].layout[a] for k in hits)
            ):
                per[a] = (
                    "compatible",
                    f"{decl} added at offset {off} as an alternative to {', '.join(hits)} in a union",
                    "the bytes keep their old meaning",
                )
            elif hits and all(RESERVED.match(k) for k in hits):
                per[a] = (
                    "compatible",
                    f"{decl} added at offset {off} in reserved {', '.join(hits)}",
                    "old binaries zero it",
                )
            elif hits:
                per[a] = (
                    "breaking",
                    f"{decl} added at offset {off} over {', '.join(hits)} of OLD",
                    "old binaries put other data there",
                )
            elif off + size <= old_size:
                per[a] = (
                    "compatible",
                    f"{decl} added at offset {off} in padding",
                    "old binaries leave it zero",
                )
            elif embedded_in:
                per[a] = (
                    "breaking",
                    f"{decl} added at offset {off}, past the old end ({old_size})",
                    f"{rec} is embedded in {embedded_in}",
                )
            elif grow_why:
                per[a] = (
                    "compatible",
                    f"{decl} added at the tail (offset {off}, old size {old_size})",
                    f"{grow_why}, so old binaries simply do not pass it",
                )
            else:
                per[a] = (
                    "breaking",
                    f"{decl} added at offset {off}, past the old end ({old_size})",
                    "nothing tells the kernel the caller's size",
                )
        self.add_per_abi("field", f"{rec}.{m.name}", "added", per)

    def align_note(self, o: Member, n: Member) -> str:
        """`, alignment 4 -> 8 on i386`: what an explicit alignment changes."""
        ot, nt = o.field.type, n.field.type
        if o.field.align == n.field.align or ot.kind != "int" or nt.kind != "int":
            return ""
        moved = []
        for a in self.abis:
            before = max(ABIS[a].scalar(ot.base)[1], o.field.align or 1)
            after = max(ABIS[a].scalar(nt.base)[1], n.field.align or 1)
            if before != after:
                moved.append(f"alignment {before} -> {after} on {a}")
        return f" ({', '.join(moved)})" if moved else ""

    def field_changed(self, rec: str, o: Member, n: Member) -> None:
        full = f"{rec}.{n.name}"
        reserved = bool(RESERVED.match(n.name))
        ot, nt = o.field.type, n.field.type
        if spelled(o.field) != spelled(n.field):
            same = all(o.layout[a] == n.layout[a] for a in self.abis)
            kinds_ok = ot.kind == nt.kind or {ot.kind, nt.kind} <= {"int", "enum"}
            if reserved:
                sev, why = "compatible", "a reserved field, callers only zero it"
            elif not kinds_ok:
                sev, why = "breaking", f"a {ot.kind} became a {nt.kind}, source using it breaks"
            elif same:
                sev, why = "compatible", "same offset and size on every ABI" + self.align_note(o, n)
            else:
                sev, why = "breaking", "offset or size differs, see the per-ABI changes"
            self.add(
                "field",
                full,
                "changed",
                sev,
                f"type {spelled(o.field)} -> {spelled(n.field)}; {why}",
            )
        per: dict[str, tuple[str, str, str] | None] = {}
        for a in self.abis:
            (oo, os_), (no, ns) = o.layout[a], n.layout[a]
            if (oo, os_) == (no, ns):
                per[a] = None
                continue
            what = []
            if oo != no:
                what.append(f"offset {oo} -> {no}")
            if os_ != ns:
                what.append(f"size {os_} -> {ns}")
            per[a] = (
                ("compatible", ", ".join(what), "a reserved field, callers only zero it")
                if reserved
                else ("breaking", ", ".join(what), "old binaries use the old place")
            )
        self.add_per_abi("field", full, "changed", per)
        if o.path != n.path:
            peers = f" with {', '.join(n.peers)}" if n.peers else ""
            where = f"an anonymous {n.path[-1]}{peers}" if n.path else "the record itself"
            self.add(
                "field",
                full,
                "changed",
                "compatible",
                (
                    f"moved into {where}; C code reaches it by the same name at the same offset"
                    if all(o.layout[a][0] == n.layout[a][0] for a in self.abis)
                    else f"moved into {where}; see the offset change"
                ),
            )
        if o.field.counted_by != n.field.counted_by:
            self.add(
                "field",
                full,
                "changed",
                "compatible",
                f"__counted_by {o.field.counted_by or '-'} -> {n.field.counted_by or '-'}; "
                "an annotation, the layout is unchanged",
            )
        if o.field.doc.split() != n.field.doc.split():
            self.doc(full, {"comment": o.field.doc}, {"comment": n.field.doc})

    # constants ------------------------------------------------------------------

    def constants(self) -> None:
        o, n = self.old.constants, self.new.constants
        o_uneval = {u.name for u in self.old.unevaluated}
        n_uneval = {u.name for u in self.new.unevaluated}
        removed = [k for k in o if k not in n and k not in n_uneval]
        added = [k for k in n if k not in o and k not in o_uneval]
        renamed = self.constant_renames(removed, added)
        for name, c in n.items():
            if name in o:
                self.constant_changed(o[name], c, added)
            elif name in o_uneval:
                continue
            elif name in renamed.values():
                x = next(k for k, v in renamed.items() if v == name)
                self.add(
                    entity_of(self.new, c),
                    name,
                    "added",
                    "compatible",
                    f"new name of {x}, same value {fmt(c.value)}",
                )
            else:
                self.constant_added(c)
        for name in removed:
            c = o[name]
            ent = entity_of(self.old, c)
            if name in renamed:
                self.add(
                    ent,
                    name,
                    "removed",
                    "breaking",
                    f"renamed to {renamed[name]}, same value {fmt(c.value)}; a source break "
                    "(binaries are unaffected)",
                )
            else:
                vals = per_abi_text({a: value_of(c, a) for a in self.abis})
                self.add(
                    ent,
                    name,
                    "removed",
                    "breaking",
                    f"{c.kind} {name} = {vals} is gone; source using it no longer compiles",
                )

    def constant_renames(self, removed: list[str], added: list[str]) -> dict[str, str]:
        """Removed -> added constant with the same value on every ABI and the
        same home (value set or enum), or a similar name."""
        o, n = self.old.constants, self.new.constants
        out: dict[str, str] = {}
        for x in removed:
            ox = o[x]
            vx = [value_of(ox, a) for a in self.abis]
            best, score = None, 0.0
            for y in added:
                if y in out.values():
                    continue
                ny = n[y]
                if [value_of(ny, a) for a in self.abis] != vx:
                    continue
                s = similar(x, y)
                home = (ox.values and ox.values == ny.values) or (ox.enum and ox.enum == ny.enum)
                if home and not is_flag_bit(vx[0]) and s < RENAME_SIMILARITY:
                    continue  # plain values collide too easily: need a name match
                if home:
                    s += 1.0
                if s >= RENAME_SIMILARITY and s > score:
                    best, score = y, s
            if best is not None:
                out[x] = best
        return out

    def constant_added(self, c: Constant) -> None:
        ent = entity_of(self.new, c)
        vals = per_abi_text({a: value_of(c, a) for a in self.abis})
        if ent == "flag" and c.values:
            vs = self.new.value_sets[c.values]
            taken = self.bit_taken(c)
            if taken:
                self.add(
                    "flag",
                    c.name,
                    "added",
                    "breaking",
                    f"bit {vals} of {', '.join(vs.fields) or vs.id} already means {taken} in OLD; "
                    "old binaries setting it ask for something else",
                )
                return
            self.add(
                "flag",
                c.name,
                "added",
                "compatible",
                f"new bit {vals} of {', '.join(vs.fields) or vs.id}; old binaries never set it",
            )
            return
        what = f"{c.kind} {c.name} = {vals}" + (
            f" in enum {c.enum.removeprefix('anon:')}" if c.enum else ""
        )
        self.add(ent, c.name, "added", "compatible", f"new {what}; old binaries never use it")

    def bit_taken(self, c: Constant) -> str | None:
        """An OLD member of the same flag set with the same single bit."""
        old_set = self.old.value_sets.get(c.values or "")
        if old_set is None or not is_flag_bit(c.value):
            return None
        for m in old_set.members:
            oc = self.old.constants.get(m)
            if oc is not None and oc.value == c.value and m not in self.new.constants:
                return m
            if oc is not None and oc.value == c.value and m != c.name:
                nc = self.new.constants.get(m)
                if nc is not None and nc.value != c.value:
                    return m
        return None

    def constant_changed(self, o: Constant, n: Constant, added: list[str]) -> None:
        name = n.name
        ent = entity_of(self.new, n)
        changed = [a for a in self.abis if value_of(o, a) != value_of(n, a)]
        if o.kind != n.kind:
            home = f" of enum {n.enum.removeprefix('anon:')}" if n.enum else ""
            if changed:
                ov = per_abi_text({a: value_of(o, a) for a in self.abis})
                nv = per_abi_text({a: value_of(n, a) for a in self.abis})
                self.add(
                    ent,
                    name,
                    "changed",
                    "breaking",
                    f"{o.kind} = {ov} -> {n.kind}{home} = {nv}{self.old_value_now(o, added)}; "
                    "the value changed, old binaries send the old one",
                )
            else:
                self.add(
                    ent,
                    name,
                    "changed",
                    "compatible",
                    f"{o.kind} -> {n.kind}{home}, same value {fmt(n.value)}; "
                    "every use still compiles, only `#ifdef` no longer sees it",
                )
        elif changed:
            moved_to = self.old_value_now(o, added)
            per: dict[str, tuple[str, str, str] | None] = {}
            for a in self.abis:
                before, after = value_of(o, a), value_of(n, a)
                if before == after:
                    per[a] = None
                elif (
                    SENTINEL.search(name)
                    and isinstance(before, int)
                    and isinstance(after, int)
                    and after > before
                ):
                    per[a] = (
                        "compatible",
                        f"{fmt(before)} -> {fmt(after)}",
                        "a count or limit that grew with new entries, old binaries know fewer",
                    )
                else:
                    per[a] = (
                        "breaking",
                        f"{fmt(before)} -> {fmt(after)}{moved_to}",
                        "old binaries use the old value",
                    )
            self.add_per_abi(ent, name, "changed", per)
        if o.values and n.values and o.values != n.values and ent == "flag":
            self.add(
                ent,
                name,
                "changed",
                "compatible",
                f"now documented with {n.values} (was {o.values}); same value",
            )
        if o.doc.split() != n.doc.split():
            self.doc(name, {"comment": o.doc}, {"comment": n.doc})

    def old_value_now(self, o: Constant, added: list[str]) -> str:
        """` (its old value is now NAME)`: where a value went when its name was
        given to another value."""
        best, score = "", RENAME_SIMILARITY
        for y in added:
            c = self.new.constants[y]
            if all(value_of(c, a) == value_of(o, a) for a in self.abis):
                s = similar(o.name, y)
                if s >= score:
                    best, score = y, s
        return f" (its old value is now {best})" if best else ""

    def function_macros(self) -> None:
        o, n = self.old.function_macros, self.new.function_macros
        for name, m in n.items():
            sig = f"{name}({', '.join(m.params)})"
            if name not in o:
                self.add(
                    "constant",
                    name,
                    "added",
                    "compatible",
                    f"new function-like macro {sig}; old code does not use it",
                )
            elif (
                " ".join(o[name].body.split()) != " ".join(m.body.split())
                or o[name].params != m.params
            ):
                self.add(
                    "constant",
                    name,
                    "changed",
                    "compatible",
                    f"function-like macro {sig}: its expansion changed; not evaluated, "
                    "the constants it uses are compared on their own",
                )
        for name, m in o.items():
            if name not in n:
                self.add(
                    "constant",
                    name,
                    "removed",
                    "breaking",
                    f"function-like macro {name}({', '.join(m.params)}) is gone; "
                    "source using it no longer compiles",
                )

    # capabilities and device features ----------------------------------------

    def capabilities(self) -> None:
        o, n = self.old.capabilities, self.new.capabilities
        for name, cap in n.items():
            if name not in o:
                body = f"struct {cap.type}" if cap.type else "no body"
                self.add(
                    "capability",
                    name,
                    "added",
                    "compatible",
                    f"new capability id {cap.id} v{cap.version} in {cap.scope} ({body}); "
                    "old parsers skip unknown ids",
                )
                continue
            oc = o[name]
            if (oc.id, oc.scope) != (cap.id, cap.scope):
                self.add(
                    "capability",
                    name,
                    "changed",
                    "breaking",
                    f"id {oc.scope}/{oc.id} -> {cap.scope}/{cap.id}; old parsers look for the old id",
                )
            if oc.version != cap.version:
                self.add(
                    "capability",
                    name,
                    "changed",
                    "compatible",
                    f"version {oc.version} -> {cap.version}; parsers check the version",
                )
            if oc.type != cap.type:
                same = bool(oc.type and cap.type and self.same_layout(oc.type, cap.type))
                self.add(
                    "capability",
                    name,
                    "changed",
                    "compatible" if same else "breaking",
                    f"body {oc.type or '(none)'} -> {cap.type or '(none)'}; "
                    + ("same layout" if same else "old parsers read the old body"),
                )
        for name, cap in o.items():
            if name not in n:
                self.add(
                    "capability",
                    name,
                    "removed",
                    "breaking",
                    f"capability id {cap.id} in {cap.scope} is gone; "
                    "source using its name no longer compiles",
                )

    def features(self) -> None:
        """Device features (vfio_device_feature's index registry), reported as
        capabilities: both are ids of an optional sub-protocol."""
        o, n = self.old.features, self.new.features
        for name, f in n.items():
            if name not in o:
                self.add(
                    "capability",
                    name,
                    "added",
                    "compatible",
                    f"new device feature {f.index} ({', '.join(f.ops) or 'probe'}); "
                    "old binaries never ask for it",
                )
                continue
            of = o[name]
            if of.index != f.index:
                self.add(
                    "capability",
                    name,
                    "changed",
                    "breaking",
                    f"device feature index {of.index} -> {f.index}; old binaries ask for the old one",
                )
            if of.type != f.type:
                same = bool(of.type and f.type and self.same_layout(of.type, f.type))
                self.add(
                    "capability",
                    name,
                    "changed",
                    "compatible" if same else "breaking",
                    f"device feature payload {of.type or '(none)'} -> {f.type or '(none)'}; "
                    + ("same layout" if same else "old binaries pass the old payload"),
                )
            lost = [op for op in of.ops if op not in f.ops]
            gained = [op for op in f.ops if op not in of.ops]
            if lost or gained:
                self.add(
                    "capability",
                    name,
                    "changed",
                    "breaking" if lost else "compatible",
                    f"device feature ops {', '.join(of.ops)} -> {', '.join(f.ops)}; "
                    + (
                        "old binaries using " + ", ".join(lost) + " fail"
                        if lost
                        else "new operations only"
                    ),
                )
        for name, f in o.items():
            if name not in n:
                self.add(
                    "capability",
                    name,
                    "removed",
                    "breaking",
                    f"device feature {f.index} is gone; old binaries asking for it fail",
                )
