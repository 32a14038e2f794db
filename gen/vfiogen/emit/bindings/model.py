"""The Python bindings' view of a spec: every decision the templates print.

Class names, ctypes expressions, type annotations, layouts grouped by ABI,
enum/flag classes and request function signatures are all decided here; the
Jinja templates under templates/vfio/ only lay them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vfiogen.emit.naming import (
    anonymous_enum_name,
    camel,
    common_prefix,
    function_name,
    member_name,
)
from vfiogen.ir.query import is_flag_member
from vfiogen.ir.model import Field, Record, Spec, Tail, TypeRef

# canonical C scalar -> (ctypes alias in vfio._layout, ctypes class for annotations)
SCALARS = {
    "char": ("_char", "ctypes.c_char"),
    "signed char": ("_s8", "ctypes.c_int8"),
    "unsigned char": ("_u8", "ctypes.c_uint8"),
    "_Bool": ("_bool", "ctypes.c_bool"),
    "short": ("_s16", "ctypes.c_int16"),
    "unsigned short": ("_u16", "ctypes.c_uint16"),
    "int": ("_s32", "ctypes.c_int32"),
    "unsigned int": ("_u32", "ctypes.c_uint32"),
    "long": ("_slong", "ctypes.c_int64"),
    "unsigned long": ("_ulong", "ctypes.c_uint64"),
    "long long": ("_s64", "ctypes.c_int64"),
    "unsigned long long": ("_u64", "ctypes.c_uint64"),
}


def pydoc(text: str) -> str:
    """Text made safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()


@dataclass(slots=True)
class PyField:
    name: str  # the ctypes field name (_anonN for anonymous members)
    ctype: str  # expression: "_u32", "_u8 * 16", "vfio_iova_range * 0"
    annotation: str
    doc: str
    values: str | None  # the enum/flag class the field takes
    anonymous: bool = False


@dataclass(slots=True)
class PyLayout:
    abis: tuple[str, ...]
    size: int
    align: int
    offsets: tuple[int, ...]


@dataclass(slots=True)
class PyRecord:
    cname: str  # C tag, or the spec's synthetic name for anonymous records
    name: str  # the Python class name
    base: str  # "ctypes.Structure" / "ctypes.Union"
    doc: str
    fields: list[PyField]
    layouts: list[PyLayout]
    reached: list[
        tuple[str, str]
    ]  # (name, annotation) of members reached through anonymous members
    values: dict[str, str]  # field -> enum/flag class, including reached members
    flexible: str | None  # the trailing flexible array member, if any


@dataclass(slots=True)
class PyMember:
    name: str
    cname: str
    value: str  # a Python expression


@dataclass(slots=True)
class PyEnum:
    name: str
    base: str  # "enum.IntFlag" / "enum.IntEnum"
    doc: str
    members: list[PyMember]
    fields: list[str]  # "record.field" it is linked from


@dataclass(slots=True)
class PyConstant:
    name: str
    annotation: str
    value: str
    doc: str


@dataclass(slots=True)
class PyRequest:
    name: str
    function: str
    number: str  # a Python expression
    fd: str
    arg: str
    arg_type: str | None  # Python class for struct arguments
    result: str
    result_fd: str | None
    doc: str
    argsz: str | None
    since: str | None
    until: str | None
    errors: dict[str, str]  # errno name -> when the kernel returns it (the overlay)
    precondition: str


@dataclass(slots=True)
class PyScope:
    name: str
    request: str
    info: str
    offset: str
    flag: str


@dataclass(slots=True)
class PyCapability:
    scope: str
    id: int
    name: str
    version: int
    type: str | None


@dataclass(slots=True)
class PyPointee:
    """A user-address member whose struct a sibling member's value chooses
    (overlay [records] selector/cases): vfio.abi.POINTEES."""

    record: str
    field: str
    selector: str
    cases: list[tuple[str, str]]  # (constant, class) of each case


@dataclass(slots=True)
class PyBuilder:
    """A struct-plus-tail the runtime can build: the counted tail, and for a
    selected one which flag picks which element type."""

    record: str
    field: str
    count: str
    selector: str | None
    cases: list[tuple[str, str | None]]  # (flag expression, element expression or None)


@dataclass(slots=True)
class PyModel:
    release: str | None
    source: str
    sha256: dict[str, str]
    abis: list[str]
    records: list[PyRecord] = field(default_factory=list)
    enums: list[PyEnum] = field(default_factory=list)
    constants: list[PyConstant] = field(default_factory=list)
    requests: list[PyRequest] = field(default_factory=list)
    record_names: dict[str, str] = field(default_factory=dict)  # C tag -> class
    scopes: list[PyScope] = field(default_factory=list)
    capabilities: list[PyCapability] = field(default_factory=list)
    builders: list[PyBuilder] = field(default_factory=list)
    pointees: list[PyPointee] = field(default_factory=list)
    # overlay [extensions]: (name, kind) in the overlay's order; [region_vendors]: (ID, family)
    extensions: list[tuple[str, str]] = field(default_factory=list)
    region_vendors: list[tuple[str, str]] = field(default_factory=list)
    spec: Spec | None = None


def build(spec: Spec) -> PyModel:
    m = PyModel(
        spec.release, spec.source, {h.name: h.sha256 for h in spec.headers}, spec.abis, spec=spec
    )
    m.record_names = {name: _class_name(name) for name in spec.records}
    enum_for_field = _enums(spec, m)
    for rec in spec.records.values():
        m.records.append(_record(spec, rec, m.record_names, enum_for_field))
    _constants(spec, m)
    _requests(spec, m)
    _registries(spec, m)
    m.pointees = _pointees(spec, m)
    m.extensions = [(x.name, x.kind) for x in spec.extensions.values()]
    m.region_vendors = [(f"{v.vendor:#06x}", v.family) for v in spec.region_vendors.values()]
    return m


def _pointees(spec: Spec, m: PyModel) -> list[PyPointee]:
    """Every user address whose struct a sibling chooses, cases in value order."""
    out: list[PyPointee] = []
    for rec in spec.records.values():
        for f in rec.fields:
            kind = f.kind
            if kind is None or kind.selector is None or not kind.cases:
                continue
            cases = sorted(kind.cases.items(), key=lambda c: (spec.constants[c[0]].value, c[0]))
            out.append(
                PyPointee(
                    m.record_names[rec.name],
                    f.name,
                    kind.selector,
                    [(name, m.record_names[tag]) for name, tag in cases],
                )
            )
    return out


def _registries(spec: Spec, m: PyModel) -> None:
    """Capability scopes and types, for vfio.caps; counted tails, for vfio.abi's TAIL."""
    for sc in spec.scopes.values():
        req = spec.requests[sc.request]
        flag = spec.constants.get(sc.flag)
        if req.arg_type in m.record_names and flag is not None:
            m.scopes.append(
                PyScope(
                    sc.name,
                    sc.request,
                    m.record_names[req.arg_type],
                    sc.offset,
                    _value_expr(spec, sc.flag),
                )
            )
    scopes = {s.name for s in m.scopes}
    for cap in spec.capabilities.values():
        if cap.scope in scopes:
            m.capabilities.append(
                PyCapability(
                    cap.scope, cap.id, cap.name, cap.version, m.record_names.get(cap.type or "")
                )
            )
    for tail in spec.tails.values():
        builder = _builder(spec, m, tail)
        if builder is not None:
            m.builders.append(builder)


def _element(spec: Spec, m: PyModel, ctype: str) -> str | None:
    """The ctypes expression, in vfio.abi, of a tail case's element type ("__s32", a struct tag)."""
    scalar = re.fullmatch(r"__([us])(8|16|32|64)", ctype)
    if scalar:
        return f"ctypes.c_{'u' if scalar[1] == 'u' else ''}int{scalar[2]}"
    if ctype in spec.records:
        return m.record_names[ctype]
    return None


def _builder(spec: Spec, m: PyModel, tail: Tail) -> PyBuilder | None:
    """A builder for a counted tail, selected by flags or not (a tail selected
    by a feature number has no count: its payload is built by the feature).
    Its expressions are vfio.abi's own names (the struct's TAIL)."""
    if not tail.count:
        return None
    record = m.record_names[tail.record]
    if tail.selector is None:
        fld = next(f for f in spec.records[tail.record].fields if f.name == tail.field)
        elem = fld.type.of
        if elem is None:
            return None
        if elem.kind == "record":
            expr: str | None = m.record_names[elem.name]
        elif elem.kind == "int":
            expr = SCALARS[elem.base][1]
        else:
            return None
        return PyBuilder(record, tail.field, tail.count, None, [("0", expr)])
    cases = []
    for flag, ctype in tail.cases.items():
        if flag not in spec.constants:
            return None
        cases.append((flag, None if ctype == "none" else _element(spec, m, ctype)))
    return PyBuilder(record, tail.field, tail.count, tail.selector, cases)


def _class_name(cname: str) -> str:
    return "_" + cname.replace("::", "__") if "::" in cname else cname


def _doc_of(rec: Record) -> str:
    if rec.doc is not None:
        text = rec.doc.summary
        if rec.doc.description and rec.doc.description != rec.doc.summary:
            text += "\n\n" + rec.doc.description
        return pydoc(f"{rec.kind} {rec.name}: {text}")
    return f"{rec.kind} {rec.name} ({rec.loc.to_json()})."


def ctype_of(t: TypeRef, names: dict[str, str], enum_signed: dict[str, bool]) -> tuple[str, str]:
    """(ctypes expression, annotation) of a field type."""
    if t.kind == "int":
        alias, cls = SCALARS[t.base]
        return alias, "bytes" if t.base == "char" else "int"
    if t.kind == "enum":
        return ("_s32" if enum_signed.get(t.name) else "_u32"), "int"
    if t.kind == "pointer":
        return "_ptr", "int"
    if t.kind == "record":
        return names[t.name], names[t.name]
    assert t.kind == "array" and t.of is not None
    inner, inner_ann = ctype_of(t.of, names, enum_signed)
    count = t.count or 0
    if t.of.kind == "int" and t.of.base == "char":
        return f"_char * {count}", "bytes"
    inner_cls = _ann_class(t.of, names)
    return (
        f"({inner}) * {count}" if " " in inner else f"{inner} * {count}"
    ), f"ctypes.Array[{inner_cls}]"


def _ann_class(t: TypeRef, names: dict[str, str]) -> str:
    if t.kind == "int":
        return SCALARS[t.base][1]
    if t.kind in ("enum",):
        return "ctypes.c_uint32"
    if t.kind == "pointer":
        return "ctypes.c_uint64"
    if t.kind == "record":
        return names[t.name]
    assert t.of is not None
    return f"ctypes.Array[{_ann_class(t.of, names)}]"


def _record(
    spec: Spec, rec: Record, names: dict[str, str], enum_for_field: dict[str, str]
) -> PyRecord:
    signed = {
        k: any(
            isinstance(spec.constants[e].value, int) and spec.constants[e].value < 0  # type: ignore[operator]
            for e in en.enumerators
            if e in spec.constants
        )
        for k, en in spec.enums.items()
    }
    fields: list[PyField] = []
    anon = 0
    for f in rec.fields:
        ctype, ann = ctype_of(f.type, names, signed)
        name = f.name
        if not name:
            name, anon = f"_anon{anon}", anon + 1
        fields.append(
            PyField(
                name,
                ctype,
                ann,
                pydoc(f.doc),
                enum_for_field.get(f"{rec.name}.{f.name}"),
                anonymous=not f.name,
            )
        )
    groups: dict[tuple[int, int, tuple[int, ...]], list[str]] = {}
    for abi in spec.abis:
        key = (
            rec.layout[abi].size,
            rec.layout[abi].align,
            tuple(f.layout[abi].offset for f in rec.fields),
        )
        groups.setdefault(key, []).append(abi)
    layouts = [PyLayout(tuple(abis), s, a, offs) for (s, a, offs), abis in groups.items()]
    reached: list[tuple[str, str]] = []
    values = {f.name: f.values for f in fields if f.values and not f.anonymous}
    for f in rec.fields:
        if not f.name and f.type.kind == "record":
            _reach(spec, spec.records[f.type.name], names, signed, enum_for_field, reached, values)
    last = rec.fields[-1] if rec.fields else None
    flexible = (
        last.name
        if last is not None
        and last.type.kind == "array"
        and last.type.count is None
        and last.type.count_expr is None
        else None
    )
    return PyRecord(
        rec.name,
        names[rec.name],
        "ctypes.Union" if rec.kind == "union" else "ctypes.Structure",
        _doc_of(rec),
        fields,
        layouts,
        reached,
        values,
        flexible,
    )


def _reach(
    spec: Spec,
    rec: Record,
    names: dict[str, str],
    signed: dict[str, bool],
    enum_for_field: dict[str, str],
    out: list[tuple[str, str]],
    values: dict[str, str],
) -> None:
    for f in rec.fields:
        if f.name:
            out.append((f.name, ctype_of(f.type, names, signed)[1]))
            cls = enum_for_field.get(f"{rec.name}.{f.name}")
            if cls:
                values[f.name] = cls
        elif f.type.kind == "record":
            _reach(spec, spec.records[f.type.name], names, signed, enum_for_field, out, values)


def _value_expr(spec: Spec, name: str) -> str:
    c = spec.constants[name]
    if c.per_abi:
        return f"_pick({c.per_abi!r})"
    return repr(c.value)


def _enums(spec: Spec, m: PyModel) -> dict[str, str]:
    """One class per value set and per enum; returns "record.field" -> class."""
    taken: set[str] = set(m.record_names.values())
    by_field: dict[str, str] = {}
    done_enums: set[str] = set()

    def unique(name: str, fallback: str) -> str:
        if name and name not in taken and name.isidentifier():
            taken.add(name)
            return name
        taken.add(fallback)
        return fallback

    sets = list(spec.value_sets.values())
    for vs in sets:
        members = [
            n
            for n in vs.members
            if n in spec.constants and isinstance(spec.constants[n].value, int)
        ]
        if not members:
            continue
        if vs.kind == "enum":
            key = vs.id[5:]
            done_enums.add(key)
            en = spec.enums[key]
            name = unique(
                camel(en.tag) if en.tag else anonymous_enum_name(members), camel(members[0])
            )
        else:
            name = unique(camel(vs.id), camel(vs.id) + "Values")
        is_flag = vs.kind == "flags" or (
            vs.kind == "enum" and "flag" in vs.id.lower() and all(_is_bit(spec, n) for n in members)
        )
        m.enums.append(
            _enum(
                spec,
                name,
                members,
                is_flag,
                vs.fields,
                f"Values of {', '.join(vs.fields) or vs.id}.",
            )
        )
        for f in vs.fields:
            by_field.setdefault(f, name)  # several enums for one field: the first (PCI) wins
    for key, en in spec.enums.items():
        if key in done_enums:
            continue
        members = [n for n in en.enumerators if n in spec.constants]
        if not members:
            continue
        name = unique(
            camel(en.tag) if en.tag else anonymous_enum_name(members),
            camel(members[0]),
        )
        is_flag = bool(
            en.tag and "flag" in en.tag.lower() and all(_is_bit(spec, n) for n in members)
        )
        doc = en.doc.summary if en.doc is not None else f"enum {en.tag or key}"
        m.enums.append(_enum(spec, name, members, is_flag, [], doc))
    return by_field


def _is_bit(spec: Spec, name: str) -> bool:
    """May `name` be a member of an IntFlag class: a flag-set member, or zero
    (IntFlag's empty set)."""
    v = spec.constants[name].value
    return v == 0 or is_flag_member(name, v)


def _enum(
    spec: Spec, name: str, members: list[str], is_flag: bool, fields: list[str], doc: str
) -> PyEnum:
    prefix = common_prefix(members)
    seen: set[str] = set()
    out = []
    for cname in members:
        py = member_name(cname, prefix)
        if py in seen or py.startswith("_"):
            py = cname
        seen.add(py)
        out.append(PyMember(py, cname, _value_expr(spec, cname)))
    base = "enum.IntFlag" if is_flag and all(_is_bit(spec, n) for n in members) else "enum.IntEnum"
    return PyEnum(name, base, pydoc(doc), out, fields)


def _constants(spec: Spec, m: PyModel) -> None:
    for name, c in spec.constants.items():
        if isinstance(c.value, str):
            m.constants.append(PyConstant(name, "str", repr(c.value), pydoc(c.doc)))
        else:
            m.constants.append(PyConstant(name, "int", _value_expr(spec, name), pydoc(c.doc)))


def _requests(spec: Spec, m: PyModel) -> None:
    for name, r in spec.requests.items():
        nums = set(r.numbers.values())
        number = repr(next(iter(nums))) if len(nums) == 1 else f"_pick({r.numbers!r})"
        doc = ""
        if r.doc is not None:
            doc = r.doc.summary
            if r.doc.description and r.doc.description != r.doc.summary:
                doc += "\n\n" + r.doc.description
            for key, text in r.doc.sections.items():
                doc += f"\n\n{key}: {text}"
        facts = [
            f"fd: {r.fd}",
            f"argument: {r.arg}" + (f" {r.arg_type}" if r.arg_type else ""),
            f"result: {r.result}" + (f" ({r.result_fd} fd)" if r.result_fd else ""),
        ]
        if r.argsz:
            facts.append(f"argsz: {r.argsz}")
        if r.since:
            facts.append(f"since Linux {r.since}")
        doc = (doc or name) + "\n\n" + "; ".join(facts) + "."
        arg_type = m.record_names.get(r.arg_type or "") if r.arg == "struct" else None
        m.requests.append(
            PyRequest(
                name,
                function_name(name),
                number,
                r.fd or "unknown",
                r.arg or "none",
                arg_type,
                r.result or "status",
                r.result_fd,
                pydoc(doc),
                r.argsz,
                r.since,
                r.until,
                dict(r.errors),
                r.precondition,
            )
        )


def describe(model: PyModel) -> dict[str, Any]:
    """A summary for the CLI's report of what was emitted."""
    return {
        "records": len(model.records),
        "enums": len(model.enums),
        "constants": len(model.constants),
        "requests": len(model.requests),
    }
