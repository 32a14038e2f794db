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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vfiogen.emit.fuzz import facts
from vfiogen.emit.naming import common_prefix
from vfiogen.errors import FuzzError
from vfiogen.ir.query import is_flag_bit
from vfiogen.ir.model import Field, Record, Request, Spec, TypeRef

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
OPENERS = {
    "container": 'openat$vfio_container(fd const[AT_FDCWD], file ptr[in, string["/dev/vfio/vfio"]], flags const[O_RDWR], mode const[0])',
    "group": 'syz_open_dev$vfio_group(dev ptr[in, string["/dev/vfio/#"]], id intptr, flags const[O_RDWR])',
    "device": 'syz_open_dev$vfio_cdev(dev ptr[in, string["/dev/vfio/devices/vfio#"]], id intptr, flags const[O_RDWR])',
    "iommufd": 'openat$iommufd(fd const[AT_FDCWD], file ptr[in, string["/dev/iommu"]], flags const[O_RDWR], mode const[0])',
}
# Address fields that point at memory to map (vma) rather than at a buffer.
VMA_FIELDS = re.compile(r"^(vaddr|user_va)$")
INTS = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
    resources: list[tuple[str, str]] = field(default_factory=list)  # (name, fd kind)
    opens: list[str] = field(default_factory=list)
    calls: list[SyzCall] = field(default_factory=list)
    structs: list[SyzStruct] = field(default_factory=list)
    flags: list[SyzFlags] = field(default_factory=list)
    requests: int = 0


def syz_name(cname: str) -> str:
    """A record's syzlang name: anonymous records as parent__anonN."""
    return cname.replace("::", "__")


class _Builder:
    """Walks the requests, defining each struct and flag set on first use."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.structs: dict[str, SyzStruct] = {}
        self.flags: dict[str, SyzFlags] = {}
        self.used_kinds: set[str] = set()
        self.sets: dict[str, list[str]] = {}
        for vs in spec.value_sets.values():
            for f in vs.fields:
                self.sets.setdefault(f, []).extend(vs.members)

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
        self.used_kinds.add(kind)
        return RESOURCES[kind]

    def flag_set(self, rec: Record, f: Field) -> str | None:
        members, _ = facts.bound_members(self.spec, rec, f)
        if not members:
            return None
        name = f"{syz_name(rec.name)}_{f.name}".strip("_")
        self.flags.setdefault(
            name, SyzFlags(name, list(dict.fromkeys(members)), f"values of {rec.name}.{f.name}")
        )
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
            if key in facts.FD_TAILS:
                inner = self.resource(facts.FD_TAILS[key])
            if t.count is None and t.count_expr is None:
                return f"array[{inner}]"
            return f"array[{inner}, {t.count}]" if t.count else "void"
        width = self.int_type(t)
        if facts.is_address(rec, f):
            return "vma64" if VMA_FIELDS.match(f.name) else "ptr64[inout, array[int8]]"
        if facts.is_fd(f):
            kind = facts.FD_FIELD_KINDS.get(key)
            return self.resource(kind) if kind else "fd"
        flags = self.flag_set(rec, f)
        return f"flags[{flags}, {width}]" if flags else width

    def struct(self, cname: str, *, req: Request | None = None, variant: str = "") -> str:
        """Define the record (once) and return its syzlang name; `req` gives the
        directions and the size field, `variant` replaces the selected tail."""
        name = syz_name(cname) + variant
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
        directions = req.directions if req else {}
        fields = []
        for i, f in enumerate(rec.fields):
            fname = f.name or f"anon{sum(1 for g in rec.fields[:i] if not g.name)}"
            ftype = self.field_type(rec, f, size_field=size_field, count_of=count_of, req=req)
            if ftype == "void":
                continue
            fields.append(SyzField(fname, ftype, _attr(directions.get(f.name))))
        placeholder.fields = fields
        return name

    # -- calls -----------------------------------------------------------------

    def call(self, req: Request) -> list[SyzCall]:
        fd = self.resource(req.fd or "device")
        head = [("fd", fd), ("cmd", f"const[{req.name}]")]
        ret = self.resource(req.result_fd) if req.result == "fd" and req.result_fd else ""
        doc = (req.doc.summary if req.doc else "") or req.note
        comment = f"{req.name}: {doc}".strip()
        if req.arg == "none":
            return [SyzCall(f"ioctl${req.name}", head, ret, comment)]
        if req.arg == "value":
            return [
                SyzCall(
                    f"ioctl${req.name}", head + [("arg", "flags[vfio_extensions]")], ret, comment
                )
            ]
        if req.arg == "int_ptr":
            kind = facts.INT_PTR_FDS.get(req.name)
            pointee = self.resource(kind) if kind else "int32"
            return [
                SyzCall(f"ioctl${req.name}", head + [("arg", f"ptr[in, {pointee}]")], ret, comment)
            ]
        if req.arg == "string":
            return [SyzCall(f"ioctl${req.name}", head + [("arg", "ptr[in, string]")], ret, comment)]
        assert req.arg_type is not None
        calls = [
            SyzCall(
                f"ioctl${req.name}",
                head + [("arg", f"ptr[{_direction(req)}, {self.struct(req.arg_type, req=req)}]")],
                ret,
                comment,
            )
        ]
        calls += self.variants(req, head, ret)
        return calls

    def variants(self, req: Request, head: list[tuple[str, str]], ret: str) -> list[SyzCall]:
        """One call per case of a selected tail: the tail typed, the selector
        limited to the values that choose that case."""
        tail = next(
            (t for t in self.spec.tails.values() if t.record == req.arg_type and t.selector),
            None,
        )
        if tail is None:
            return []
        cases: list[tuple[str, str | None, list[int]]] = (
            []
        )  # (suffix, element type, selector values)
        if tail.selector == "feature":
            probe = _value(self.spec, "VFIO_DEVICE_FEATURE_PROBE")
            for feat in self.spec.features.values():
                ops = [_value(self.spec, f"VFIO_DEVICE_FEATURE_{op.upper()}") for op in feat.ops]
                values = sorted({feat.index | op | extra for op in ops for extra in (0, probe)})
                elem = self.struct(feat.type) if feat.type else None
                cases.append((feat.name.removeprefix("VFIO_DEVICE_FEATURE_"), elem, values))
        else:
            rec = self.spec.records[tail.record]
            sel = next(f for f in rec.fields if f.name == tail.selector)
            members = self.sets.get(f"{rec.name}.{sel.name}", [])
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
                    kind = facts.FD_TAILS.get(flag)
                    elem = (
                        f"array[{self.resource(kind) if kind in RESOURCES else 'fd'}]"
                        if kind
                        else f"array[{INTS[facts.typedef_bytes(element)]}]"
                    )
                prefix = common_prefix(list(tail.cases))
                cases.append((flag.removeprefix(prefix), elem, values))
        out = []
        base = self.spec.records[req.arg_type or ""]
        for suffix, elem, values in cases:
            vname = f"{syz_name(base.name)}__{suffix.lower()}"
            if vname in self.structs or vname in self.flags:
                raise FuzzError(base.loc, f"syzlang name {vname} is taken twice")
            fields = [
                SyzField(f.name, f.type, f.attr)
                for f in self.structs[syz_name(base.name)].fields
                if f.name != tail.field
            ]
            sel_field = "flags"
            for f in fields:
                if f.name == sel_field:
                    f.type = f"flags[{vname}_flags, int32]"
            if elem is not None:
                fields.append(SyzField(tail.field, elem, _attr(req.directions.get(tail.field))))
            self.flags[f"{vname}_flags"] = SyzFlags(
                f"{vname}_flags",
                [hex(v) for v in values],
                f"{tail.selector} values that select {suffix}",
            )
            self.structs[vname] = SyzStruct(
                vname, False, fields, f"{req.arg_type} with the {suffix} tail"
            )
            out.append(
                SyzCall(
                    f"ioctl${req.name}_{suffix}",
                    head + [("arg", f"ptr[{_direction(req)}, {vname}]")],
                    ret,
                    f"{req.name} with {tail.field} as {suffix}",
                )
            )
        return out


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


def build(spec: Spec) -> SyzModel:
    b = _Builder(spec)
    m = SyzModel(requests=len(spec.requests))
    for req in spec.requests.values():
        if not req.annotated:
            continue  # unannotated (vendor) request: no fd kind to issue it on; skipped
        m.calls += b.call(req)
    ext = facts.extensions(spec)
    if ext:
        b.flags["vfio_extensions"] = SyzFlags("vfio_extensions", ext, "CHECK_EXTENSION ids")
    m.opens = [f"{OPENERS[k]} {RESOURCES[k]}" for k in OPENERS if k in b.used_kinds]
    m.resources = [(RESOURCES[k], k) for k in RESOURCES if k in b.used_kinds]
    m.structs = list(b.structs.values())
    m.flags = list(b.flags.values())
    for name in [s.name for s in m.structs] + [f.name for f in m.flags]:
        if not IDENT.fullmatch(name):
            raise FuzzError(None, f"{name!r} is not a syzlang identifier")
    return m
