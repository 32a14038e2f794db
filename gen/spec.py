"""The spec (IR): plain typed data that every emitter reads.

The front end and the overlay fill it in; layout, request numbers and
constant values are stored per ABI. Nothing here knows about C text or
templates. `to_json`/`from_json` give the versioned JSON form
(`schema/spec.schema.json` describes it); every element carries `loc`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from vfiogen.errors import Loc, SpecFormatError

SCHEMA_VERSION = 1

FdKind = Literal[
    "container", "group", "device", "iommufd", "mig_data", "dmabuf", "fault", "veventq"
]
ArgKind = Literal["none", "value", "int_ptr", "string", "struct"]
ResultKind = Literal["status", "value", "fd"]
Direction = Literal["in", "out", "inout"]
ArgszStyle = Literal["none", "minsz", "grow", "enospc", "emsgsize", "size"]

FD_KINDS = typing.get_args(FdKind)
ARG_KINDS = typing.get_args(ArgKind)
RESULT_KINDS = typing.get_args(ResultKind)
DIRECTIONS = typing.get_args(Direction)
ARGSZ_STYLES = typing.get_args(ArgszStyle)


@dataclass
class DocBlock:
    """A kernel-doc comment, split into its parts."""

    loc: Loc
    name: str  # what the comment documents: "VFIO_X", "struct x", "enum y"
    signature: str = ""  # the pseudo-signature after " - " on the first line
    summary: str = ""
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)  # @field docs
    sections: dict[str, str] = field(default_factory=dict)  # Return:, Availability:


@dataclass
class TypeRef:
    """A C type as a field or argument uses it.

    kind: "int" (name = spelled type, base = canonical scalar), "record"
    (name = tag, or the synthetic name of an anonymous record), "enum",
    "pointer" (of = pointee), "array" (of = element, count None = flexible).
    """

    kind: Literal["int", "record", "enum", "pointer", "array"]
    name: str = ""
    base: str = ""
    of: TypeRef | None = None
    count: int | None = None
    count_expr: str | None = None  # an ABI-dependent size: sizeof(long) ...

    def c(self) -> str:
        """The type as C spells it (arrays as `T[n]`)."""
        if self.kind == "array":
            assert self.of is not None
            n = self.count_expr or ("" if self.count is None else str(self.count))
            return f"{self.of.c()}[{n}]"
        if self.kind == "pointer":
            assert self.of is not None
            return f"{self.of.c()} *"
        if self.kind == "enum":
            return f"enum {self.name}"
        if self.kind == "record":
            return self.name if "::" in self.name else f"{self.base} {self.name}"
        return self.name


@dataclass
class FieldLayout:
    offset: int
    size: int


@dataclass
class RecordLayout:
    size: int
    align: int


@dataclass
class Field:
    """A member of a struct or union. `name` is "" for an anonymous member,
    whose `type` then names an anonymous record (tag `parent::anonN`)."""

    name: str
    type: TypeRef
    loc: Loc
    align: int | None = None  # explicit alignment (__aligned_u64, _Alignas)
    counted_by: str | None = None  # __counted_by(x) in the header
    doc: str = ""
    values: str | None = None  # id of the ValueSet bound to this field
    layout: dict[str, FieldLayout] = field(default_factory=dict)
    since: str | None = None  # release history (vfiogen history), as on Record
    until: str | None = None


@dataclass
class Record:
    name: str
    kind: Literal["struct", "union"]
    loc: Loc
    fields: list[Field] = field(default_factory=list)
    anonymous: bool = False
    doc: DocBlock | None = None
    layout: dict[str, RecordLayout] = field(default_factory=dict)
    end_line: int = 0
    since: str | None = None
    until: str | None = None


@dataclass
class Enum:
    key: str  # the tag, or "anon:FIRST_ENUMERATOR"
    loc: Loc
    tag: str | None = None
    enumerators: list[str] = field(default_factory=list)
    doc: DocBlock | None = None
    values: str | None = None  # the ValueSet that mirrors it
    since: str | None = None  # tagged enums only
    until: str | None = None


@dataclass
class Constant:
    """An object-like macro with an integer or string value, or an enumerator."""

    name: str
    loc: Loc
    kind: Literal["macro", "enumerator"]
    value: int | str
    per_abi: dict[str, int] | None = None  # only when the value differs by ABI
    expr: str = ""
    enum: str | None = None
    doc: str = ""
    values: str | None = None  # the ValueSet it is a member of
    since: str | None = None
    until: str | None = None


@dataclass
class FunctionMacro:
    name: str
    loc: Loc
    params: list[str]
    body: str
    doc: str = ""


@dataclass
class Unevaluated:
    """An object-like macro whose value could not be computed, and why."""

    name: str
    loc: Loc
    expr: str
    reason: str


@dataclass
class ValueSet:
    """Constants that belong to one field: flag bits, masks, or plain values.

    kind "flags" when every member is a bit or a mask, else "values"; an enum
    linked to a field is a ValueSet of kind "enum".
    """

    id: str
    loc: Loc
    kind: Literal["flags", "values", "enum"]
    members: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # "record.field"
    origin: Literal["proximity", "overlay", "enum"] = "proximity"
    since: str | None = None  # when the set first had a member (its members: Constant.since)
    until: str | None = None


@dataclass
class Section:
    """A banner comment that opens a part of the header (fd kind hint)."""

    title: str
    loc: Loc
    fd_hint: str | None


@dataclass
class Ioc:
    """How the request number is built: `_IOR(type, nr, size_type)`."""

    macro: str
    type: int
    nr: int
    size_type: str | None
    dir: Literal["none", "read", "write", "readwrite"]


@dataclass
class Request:
    name: str
    loc: Loc
    ioc: Ioc
    numbers: dict[str, int]
    section: str | None = None
    fd_hint: str | None = None
    doc: DocBlock | None = None
    # From the overlay (None when unannotated).
    annotated: bool = False
    overlay_loc: Loc | None = None
    fd: str | None = None
    arg: str | None = None
    arg_type: str | None = None
    result: str | None = None
    result_fd: str | None = None
    argsz: str | None = None
    minsz: str | None = None
    count: str | None = None
    caps: str | None = None
    extension: str | None = None
    flag_gates: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    precondition: str = ""
    note: str = ""
    source: str = ""
    since: str | None = None
    until: str | None = None


@dataclass
class CapabilityScope:
    name: str
    loc: Loc
    request: str
    header: str
    offset: str
    flag: str


@dataclass
class Capability:
    name: str
    loc: Loc
    id: int
    scope: str
    version: int
    type: str | None
    since: str | None = None
    until: str | None = None


@dataclass
class Feature:
    name: str
    loc: Loc
    index: int
    type: str | None
    ops: list[str]
    result_fd: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass
class Tail:
    """A variable-length trailing member and how its length is known."""

    record: str
    field: str
    loc: Loc
    count: str | None = None  # counted array: element count field
    selector: str | None = None  # "flags"-style field, or "feature"
    cases: dict[str, str] = field(default_factory=dict)  # flag -> element type


@dataclass
class Erratum:
    """A place where the header's comments disagree with the truth."""

    subject: str
    loc: Loc
    kind: Literal["struct-name", "direction", "missing-doc", "prose"]
    claim: str
    truth: str


@dataclass
class HeaderFile:
    name: str  # include-relative path: "linux/vfio.h"
    sha256: str


@dataclass
class Coverage:
    requests: int = 0
    annotated: int = 0
    unannotated_requests: list[str] = field(default_factory=list)
    undirected_fields: list[str] = field(default_factory=list)  # "REQ: field"
    uncovered_capabilities: list[str] = field(default_factory=list)
    untyped_tails: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)  # overlay entries


@dataclass
class Spec:
    schema_version: int
    generator: str
    source: str  # "release 7.2", "header /path", "git REF"
    release: str | None
    kernel_version: str | None
    headers: list[HeaderFile]
    abis: list[str]
    records: dict[str, Record] = field(default_factory=dict)
    enums: dict[str, Enum] = field(default_factory=dict)
    constants: dict[str, Constant] = field(default_factory=dict)
    function_macros: dict[str, FunctionMacro] = field(default_factory=dict)
    unevaluated: list[Unevaluated] = field(default_factory=list)
    value_sets: dict[str, ValueSet] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    requests: dict[str, Request] = field(default_factory=dict)
    scopes: dict[str, CapabilityScope] = field(default_factory=dict)
    capabilities: dict[str, Capability] = field(default_factory=dict)
    features: dict[str, Feature] = field(default_factory=dict)
    tails: dict[str, Tail] = field(default_factory=dict)
    errata: list[Erratum] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    # The releases `since`/`until` were computed over, oldest first (empty
    # when they were not): `since` equal to the first means "at or before".
    history: list[str] = field(default_factory=list)


# --- JSON codec -------------------------------------------------------------
# One generic walk in each direction, driven by the dataclass type hints, so
# adding a field to the IR needs no codec change.


_FIELDS: dict[type, list[tuple[str, Any]]] = {}
_MISSING = object()


def _defaults(cls: type) -> list[tuple[str, Any]]:
    """(name, default value or _MISSING) of a dataclass, computed once."""
    if cls not in _FIELDS:
        out = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out.append((f.name, f.default))
            elif f.default_factory is not dataclasses.MISSING:
                out.append((f.name, f.default_factory()))
            else:
                out.append((f.name, _MISSING))
        _FIELDS[cls] = out
    return _FIELDS[cls]


def _encode(value: Any) -> Any:
    if isinstance(value, Loc):
        return value.to_json()
    if dataclasses.is_dataclass(value):
        out = {}
        for name, default in _defaults(type(value)):
            v = getattr(value, name)
            if default is not _MISSING and v == default:
                continue  # defaults are implied; keeps the JSON short
            out[name] = _encode(v)
        return out
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def to_json(spec: Spec) -> str:
    """The spec's JSON text, one entity per line (readable diffs, and the
    fast C encoder does the work); identical input gives identical bytes."""
    data = _encode(spec)
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and value:
            lines.append(f" {json.dumps(key)}: {{")
            entries = list(value.items())
            for j, (k, v) in enumerate(entries):
                sep = "," if j < len(entries) - 1 else ""
                lines.append(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}{sep}")
            lines.append(f" }}{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Loc:
        return Loc.from_json(value)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _decode(args[0], value, where)
        return value  # int | str and similar scalars
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_decode(item, v, where) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _decode(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SpecFormatError(where, f"expected an object for {tp.__name__}")
        hints = _hints(tp)
        unknown = set(value) - set(hints)
        if unknown:
            raise SpecFormatError(where, f"unknown keys {sorted(unknown)}")
        kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise SpecFormatError(where, str(exc)) from None
    return value


def from_json(text: str, path: str = "<spec>") -> Spec:
    """Load a spec written by `to_json`; refuses other schema versions."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecFormatError(Loc(path, exc.lineno), f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise SpecFormatError(Loc(path, 1), "not a vfiogen spec (no schema_version)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise SpecFormatError(
            Loc(path, 1),
            f"spec schema version {data['schema_version']}, "
            f"expected {SCHEMA_VERSION}: regenerate it with this vfiogen",
        )
    spec = _decode(Spec, data, path)
    assert isinstance(spec, Spec)
    return spec
