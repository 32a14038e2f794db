"""syzkaller descriptions (syzlang) of every request, from the spec.

syzkaller's hand-written dev_vfio.txt covers 6 container requests and its
extractor cannot type `_IO()` requests; the spec knows each request's fd
kind, argument and per-field direction, so all of them are described here:
fd kinds become resources (each with a constructor: an open, a request that
returns it, or an output field), the size field `len[parent]`, counted tails
`len[<tail>]`, bound value sets flag sets, output fields `(out)`. A tail
selected by a flag bit or by the feature index gets one call variant per
case beside the generic one.

Layout is syzkaller's own (natural alignment), which is the kernel's on
64-bit ABIs; i386's 4-byte alignment of `__u64` is not expressed.

Two modes (generated/fuzz/README.md): `replace` stands for syzkaller's
dev_vfio.txt and dev_iommu.txt; `alongside` loads beside them, every call and
type suffixed `$vfiogen`, their `fd_iommufd` / `openat$iommufd` reused and our
container a `fd_vfio`, so their six container calls take it. syzkaller's
rules shape the output (its kit's README, "facts learnt"): union fields carry
no direction, flags / len are never output, a resource field is `(out)`
(an inout one would make its own call need it), an fd kind nothing consumes
is a plain `fd`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vfiogen.emit.fuzz import facts
from vfiogen.emit.naming import common_prefix
from vfiogen.errors import FuzzError
from vfiogen.ir.query import is_flag_bit
from vfiogen.ir.model import Field, Record, Request, Spec, Tail, TypeRef

# fd kind -> (resource, how a program gets one without a request)
RESOURCES = {
    "container": "fd_vfio_container",
    "group": "fd_vfio_group",
    "device": "fd_vfio_device",
    "iommufd": "fd_iommufd",
    "mig_data": "fd_vfio_mig_data",
    "dmabuf": "fd_vfio_dmabuf",
    "fault": "fd_iommufd_fault",
    "veventq": "fd_iommufd_veventq",
}
# fd kinds syzkaller already names in files both modes keep (dev_udmabuf.txt).
EXTERNAL = {"dmabuf": "fd_dma_buf"}
# and in alongside mode, the ones dev_iommu.txt / dev_vfio.txt declare.
ALONGSIDE_EXTERNAL = {"iommufd": "fd_iommufd"}
ALONGSIDE_BASE = {"container": "fd_vfio"}
MODES = ("replace", "alongside")
# What syzkaller's own dev_vfio.txt / dev_iommu.txt describe per fd kind, at
# the commit of the checker kit (tests/emit/test_syzkaller.py checks these counts).
SYZKALLER_COMMIT = "1e72964"
SYZKALLER_OWN = {
    "container": ("fd_vfio", 6),
    "iommufd": ("fd_iommufd", 14),
}
SUFFIX = "$vfiogen"
OPENERS = {
    "container": 'openat$vfio_container(fd const[AT_FDCWD], file ptr[in, string["/dev/vfio/vfio"]], flags const[O_RDWR], mode const[0])',
    "group": 'syz_open_dev$vfio_group(dev ptr[in, string["/dev/vfio/#"]], id intptr, flags const[O_RDWR])',
    "device": 'syz_open_dev$vfio_cdev(dev ptr[in, string["/dev/vfio/devices/vfio#"]], id intptr, flags const[O_RDWR])',
    "iommufd": 'openat$iommufd(fd const[AT_FDCWD], file ptr[in, string["/dev/iommu"]], flags const[O_RDWR], mode const[0])',
}
INTS = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}
NEVER_OUT = ("flags[", "len[", "const[")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(slots=True)
class SyzField:
    name: str
    type: str
    attr: str = ""  # "(in)", "(out)", "(inout)"


@dataclass(slots=True)
class SyzStruct:
    name: str
    union: bool
    fields: list[SyzField]
    comment: str

    def lines(self) -> list[str]:
        """The fields as syz-fmt writes them: types at one tab stop past the
        longest name, one tab before the attribute."""
        stop = (max((len(f.name) for f in self.fields), default=0) // 8 + 1) * 8
        return [
            f"\t{f.name}"
            + "\t" * ((stop - len(f.name) + 7) // 8)
            + f.type
            + (f"\t{f.attr}" if f.attr else "")
            for f in self.fields
        ]


@dataclass(slots=True)
class SyzCall:
    name: str  # ioctl$VFIO_GET_API_VERSION
    args: list[tuple[str, str]]
    ret: str
    comment: str

    @property
    def text(self) -> str:
        args = ", ".join(f"{n} {t}" for n, t in self.args)
        return f"{self.name}({args})" + (f" {self.ret}" if self.ret else "")


@dataclass(slots=True)
class SyzFlags:
    name: str
    values: list[str]
    comment: str


@dataclass(slots=True)
class SyzModel:
    mode: str
    resources: list[tuple[str, str]] = field(default_factory=list)  # (name, base)
    reused: list[str] = field(default_factory=list)  # syzkaller's resources we use
    opens: list[str] = field(default_factory=list)
    calls: list[SyzCall] = field(default_factory=list)
    structs: list[SyzStruct] = field(default_factory=list)
    flags: list[SyzFlags] = field(default_factory=list)
    requests: int = 0
    consts: list[str] = field(default_factory=list)  # the names the .const file defines
    # (fd kind, its syzlang type, requests issued on it, syzkaller's own type
    # and count, "": none), in fd kind order
    by_kind: list[tuple[str, str, int, str]] = field(default_factory=list)


def syz_name(cname: str) -> str:
    """A record's syzlang name: anonymous records as parent__anonN."""
    return cname.replace("::", "__")


class _Builder:
    """Walks the requests, defining each struct and flag set on first use."""

    def __init__(self, spec: Spec, mode: str) -> None:
        self.spec = spec
        self.mode = mode
        self.suffix = SUFFIX if mode == "alongside" else ""
        self.structs: dict[str, SyzStruct] = {}
        self.flags: dict[str, SyzFlags] = {}
        self.used_kinds: set[str] = set()
        self.sets: dict[str, list[str]] = {}
        for vs in spec.value_sets.values():
            for f in vs.fields:
                self.sets.setdefault(f, []).extend(vs.members)
        self.names = dict(RESOURCES)
        self.names.update(EXTERNAL)
        if mode == "alongside":
            self.names.update(ALONGSIDE_EXTERNAL)
        self.consumed = _consumed_kinds(spec)
        self.produced = {
            f.type: f.result_fd for f in spec.features.values() if f.type and f.result_fd
        }

    # -- types -----------------------------------------------------------------

    def int_type(self, t: TypeRef) -> str:
        if t.kind == "enum":
            return "int32"
        if t.base in ("long", "unsigned long"):
            return "intptr"
        size = {"char": 1, "short": 2, "int": 4, "long long": 8}
        base = t.base.replace("unsigned ", "").replace("signed ", "") or "int"
        return INTS[size.get(base, 1 if "char" in base or base == "_Bool" else 4)]

    def resource(self, kind: str) -> str:
        """The kind's resource; a plain `fd` for a kind nothing takes as input
        (syzkaller rejects a resource that is never an input)."""
        if kind not in self.consumed and kind not in EXTERNAL:
            return "fd"
        self.used_kinds.add(kind)
        return self.names[kind]

    def flag_set(self, rec: Record, f: Field) -> str | None:
        members, _ = facts.bound_members(self.spec, rec, f)
        if not members:
            return None
        name = f"{syz_name(rec.name)}_{f.name}".strip("_") + self.suffix
        if name not in self.flags:
            values = list(dict.fromkeys(members))
            self.flags[name] = SyzFlags(name, values, f"values of {rec.name}.{f.name}")
        return name

    def field_type(
        self,
        rec: Record,
        f: Field,
        *,
        size_field: str | None,
        count_of: dict[str, str],
        req: Request | None,
    ) -> str:
        t = f.type
        key = f"{rec.name}.{f.name}"
        if f.name and f.name == size_field:
            return f"len[parent, {self.int_type(t)}]"
        if f.name in count_of:
            return f"len[{count_of[f.name]}, {self.int_type(t)}]"
        if t.kind == "record":
            # an anonymous member's fields take their directions from the request
            return self.struct(t.name, req=req if not f.name else None)
        if t.kind == "array":
            assert t.of is not None
            inner = self.struct(t.of.name) if t.of.kind == "record" else self.int_type(t.of)
            fds = facts.tail_fds(self.spec, rec.name, f.name)
            if fds is not None:
                inner = self.resource(fds) if fds in RESOURCES else "fd"
            if t.count is None and t.count_expr is None:
                return f"array[{inner}]"
            return f"array[{inner}, {t.count}]" if t.count else "void"
        width = self.int_type(t)
        if facts.is_address(f):
            return "vma64" if facts.is_mapping(f) else "ptr64[inout, array[int8]]"
        if facts.is_fd(f):
            kind = facts.fd_kind(f)
            return self.resource(kind) if kind else "fd"
        of = facts.length_of(f)
        if of is not None:
            return f"len[{of}, {width}]"
        flags = self.flag_set(rec, f)
        return f"flags[{flags}, {width}]" if flags else width

    def struct(self, cname: str, *, req: Request | None = None, variant: str = "") -> str:
        """Define the record (once) and return its syzlang name; `req` gives the
        directions and the size field, `variant` replaces the selected tail."""
        name = syz_name(cname) + variant + self.suffix
        if name in self.structs:
            return name
        rec = self.spec.records[cname]
        placeholder = SyzStruct(name, rec.kind == "union", [], f"{rec.kind} {cname}")
        self.structs[name] = placeholder
        size_field = None
        if req and req.argsz not in (None, "none") and not rec.anonymous:
            size_field = rec.fields[0].name if rec.fields[0].name in ("argsz", "size") else None
        count_of = {
            t.count: t.field
            for t in self.spec.tails.values()
            if t.record == cname and t.count and not t.selector
        }
        directions = dict(req.directions) if req and rec.kind == "struct" else {}
        produced = self.produced.get(cname)
        if produced:  # the fd a feature payload returns is written by the kernel
            for f in rec.fields:
                if facts.is_fd(f) and facts.fd_kind(f) == produced:
                    directions[f.name] = "out"
        fields = []
        for i, f in enumerate(rec.fields):
            fname = f.name or f"anon{sum(1 for g in rec.fields[:i] if not g.name)}"
            ftype = self.field_type(rec, f, size_field=size_field, count_of=count_of, req=req)
            if ftype == "void":
                continue
            fields.append(self.directed(fname, ftype, directions.get(f.name), f.type))
        placeholder.fields = fields
        return name

    def directed(self, name: str, ftype: str, direction: str | None, t: TypeRef) -> SyzField:
        """A field with its direction, as syzkaller allows it: a resource the
        kernel writes is `(out)`; flags / len / const the kernel writes are a
        plain integer `(out)`, or take the pointer's direction when inout."""
        if direction == "inout" and ftype in self.names.values():
            direction = "out"
        if direction in ("out", "inout") and ftype.startswith(NEVER_OUT):
            if direction == "inout":
                return SyzField(name, ftype)
            ftype = self.int_type(t)
        return SyzField(name, ftype, _attr(direction))

    # -- calls -----------------------------------------------------------------

    def call_name(self, name: str) -> str:
        return f"ioctl${name}{self.suffix}"

    def call(self, req: Request) -> list[SyzCall]:
        fd = self.resource(req.fd or "device")
        head = [("fd", fd), ("cmd", f"const[{req.name}]")]
        ret = self.resource(req.result_fd) if req.result == "fd" and req.result_fd else ""
        doc = (req.doc.summary if req.doc else "") or req.note
        comment = f"{req.name}: {doc}".strip()
        name = self.call_name(req.name)
        if req.arg == "none":
            return [SyzCall(name, head, ret, comment)]
        if req.arg == "value":
            arg = ("arg", f"flags[vfio_extensions{self.suffix}]")
            return [SyzCall(name, head + [arg], ret, comment)]
        if req.arg == "int_ptr":
            pointee = self.resource(req.arg_fd) if req.arg_fd else "int32"
            return [SyzCall(name, head + [("arg", f"ptr[in, {pointee}]")], ret, comment)]
        if req.arg == "string":
            return [SyzCall(name, head + [("arg", "ptr[in, string]")], ret, comment)]
        assert req.arg_type is not None
        arg = ("arg", f"ptr[{_direction(req)}, {self.struct(req.arg_type, req=req)}]")
        return [SyzCall(name, head + [arg], ret, comment)] + self.variants(req, head, ret)

    def cases(self, req: Request, tail: Tail) -> list[tuple[str, str | None, list[int]]]:
        """(suffix, element type, selector values) of each case of a selected tail."""
        cases: list[tuple[str, str | None, list[int]]] = []
        if tail.selector == "feature":
            probe = _value(self.spec, "VFIO_DEVICE_FEATURE_PROBE")
            for feat in self.spec.features.values():
                ops = [_value(self.spec, f"VFIO_DEVICE_FEATURE_{op.upper()}") for op in feat.ops]
                values = sorted({feat.index | op | extra for op in ops for extra in (0, probe)})
                elem = self.struct(feat.type) if feat.type else None
                cases.append((feat.name.removeprefix("VFIO_DEVICE_FEATURE_"), elem, values))
            return cases
        rec = self.spec.records[tail.record]
        sel = next(f for f in rec.fields if f.name == tail.selector)
        members = self.sets.get(f"{rec.name}.{sel.name}", [])
        prefix = common_prefix(list(tail.cases))
        for flag, element in tail.cases.items():
            bit = _value(self.spec, flag)
            group = _mask_of(self.spec, members, bit)
            others = [
                v for n in members if is_flag_bit(v := _value(self.spec, n)) and not v & group
            ]
            values = sorted({bit} | {bit | o for o in others})
            elem = None
            if element in self.spec.records:
                elem = self.struct(element)
            elif element != "none":
                kind = facts.tail_fds(self.spec, tail.record, tail.field, flag)
                if kind is not None:
                    elem = f"array[{self.resource(kind) if kind in RESOURCES else 'fd'}]"
                else:
                    elem = f"array[{INTS[facts.typedef_bytes(element)]}]"
            cases.append((flag.removeprefix(prefix), elem, values))
        return cases

    def variants(self, req: Request, head: list[tuple[str, str]], ret: str) -> list[SyzCall]:
        """One call per case of a selected tail: the tail typed, the selector
        limited to the values that choose that case."""
        tail = next(
            (t for t in self.spec.tails.values() if t.record == req.arg_type and t.selector),
            None,
        )
        if tail is None:
            return []
        out = []
        base = self.spec.records[req.arg_type or ""]
        for suffix, elem, values in self.cases(req, tail):
            vname = f"{syz_name(base.name)}__{suffix.lower()}{self.suffix}"
            fname = f"{syz_name(base.name)}__{suffix.lower()}_flags{self.suffix}"
            if vname in self.structs or fname in self.flags:
                raise FuzzError(base.loc, f"syzlang name {vname} is taken twice")
            fields = [
                SyzField(f.name, f.type, f.attr)
                for f in self.structs[syz_name(base.name) + self.suffix].fields
                if f.name != tail.field
            ]
            for f in fields:
                if f.name == "flags":
                    f.type = f"flags[{fname}, int32]"
            if elem is not None:
                fields.append(
                    self.directed(tail.field, elem, req.directions.get(tail.field), TypeRef("int"))
                )
            self.flags[fname] = SyzFlags(
                fname, [hex(v) for v in values], f"{tail.selector} values that select {suffix}"
            )
            self.structs[vname] = SyzStruct(
                vname, False, fields, f"{req.arg_type} with the {suffix} tail"
            )
            out.append(
                SyzCall(
                    self.call_name(f"{req.name}_{suffix}"),
                    head + [("arg", f"ptr[{_direction(req)}, {vname}]")],
                    ret,
                    f"{req.name} with {tail.field} as {suffix}",
                )
            )
        return out


def _consumed_kinds(spec: Spec) -> set[str]:
    """The fd kinds some call takes as input: a request's fd, an int pointer's,
    an input field's or a tail's."""
    kinds: set[str] = {r.fd for r in spec.requests.values() if r.fd}
    kinds |= {r.arg_fd for r in spec.requests.values() if r.arg_fd}
    for rec in spec.records.values():
        takers = [r for r in spec.requests.values() if r.arg_type == rec.name]
        for f in rec.fields:
            if f.kind is None or f.kind.kind != "fd" or not f.kind.fd:
                continue
            if not facts.is_fd(f) or any(r.directions.get(f.name) == "in" for r in takers):
                kinds.add(f.kind.fd)  # a tail of fds is always an input
    return kinds


def _direction(req: Request) -> str:
    """The pointer's direction: in when the kernel writes nothing back."""
    return "in" if set(req.directions.values()) <= {"in"} else "inout"


def _attr(direction: str | None) -> str:
    return f"({direction})" if direction else ""


def _value(spec: Spec, name: str) -> int:
    v = spec.constants[name].value
    if not isinstance(v, int):
        raise FuzzError(spec.constants[name].loc, f"{name} is not an integer")
    return v


def _mask_of(spec: Spec, members: list[str], bit: int) -> int:
    """The mask member that covers `bit` (DATA_TYPE_MASK for DATA_BOOL), else the bit."""
    for n in members:
        v = spec.constants[n].value
        if isinstance(v, int) and "MASK" in n and v & bit:
            return v
    return bit


def build(spec: Spec, mode: str = "replace") -> SyzModel:
    if mode not in MODES:
        raise FuzzError(None, f"syzlang mode {mode!r}; expected one of {', '.join(MODES)}")
    b = _Builder(spec, mode)
    m = SyzModel(mode, requests=len(spec.requests))
    for req in spec.requests.values():
        m.calls += b.call(req)
    ext = facts.extensions(spec)
    if ext:
        name = "vfio_extensions" + b.suffix
        b.flags[name] = SyzFlags(name, ext, "CHECK_EXTENSION ids")
    external = EXTERNAL | (ALONGSIDE_EXTERNAL if mode == "alongside" else {})
    own = [k for k in RESOURCES if k in b.used_kinds and k not in external]
    m.opens = [
        f"{OPENERS[k].replace('(', b.suffix + '(', 1)} {RESOURCES[k]}" for k in own if k in OPENERS
    ]
    m.resources = [
        (RESOURCES[k], ALONGSIDE_BASE.get(k, "fd") if mode == "alongside" else "fd") for k in own
    ]
    m.reused = sorted({b.names[k] for k in b.used_kinds} - {RESOURCES[k] for k in own})
    kinds: set[str | None] = {r.fd for r in spec.requests.values()}
    kinds |= {r.result_fd for r in spec.requests.values()}
    kinds |= {f.kind.fd for r in spec.records.values() for f in r.fields if f.kind and f.kind.fd}
    for k in RESOURCES:
        if k in kinds:
            name = b.names[k] if k in b.used_kinds else "fd"
            upstream = SYZKALLER_OWN.get(k)
            theirs = f"`{upstream[0]}`: {upstream[1]}" if upstream else ""
            m.by_kind.append((k, name, sum(r.fd == k for r in spec.requests.values()), theirs))
    m.structs = list(b.structs.values())
    # a flags set whose field became a plain output integer is used nowhere
    words = {
        w
        for text in [t for c in m.calls for _, t in c.args]
        + [f.type for s in m.structs for f in s.fields]
        for w in IDENT.findall(text)
    }
    m.flags = [f for f in b.flags.values() if f.name in words]
    named = {v for f in m.flags for v in f.values if IDENT.fullmatch(v)}
    m.consts = sorted(named | {r.name for r in spec.requests.values()})
    for name in [s.name for s in m.structs] + [f.name for f in m.flags]:
        if not IDENT.fullmatch(name):
            raise FuzzError(None, f"{name!r} is not a syzlang identifier")
    return m
