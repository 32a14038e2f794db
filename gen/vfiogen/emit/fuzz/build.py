"""The fuzz harnesses of a spec: every decision the generated fuzzers print.

Both sides of the ABI are fuzzed from the same facts:
- our decoders: `fuzz/targets.py` has a target per capability scope
  (vfio.caps.walk), counted tail (caps.counted_tail), struct (bounds-checked
  decode and the unpack codec) and grow-style request (vfio.api._negotiate
  against a fake kernel); `fuzz/harness.py` runs them coverage-guided from
  `fuzz/seeds/` (fuzz_seeds); `fuzz/strategies.py` holds hypothesis
  strategies for valid and deliberately invalid structs and chains;
- the kernel: `fuzz/kernel.py` issues every request on every fd kind with
  arguments mutated from these facts, inside the hardware tier's guest;
- syzkaller: `fuzz/vfio.txt` describes every request in syzlang (fuzz_syz),
  standing for syzkaller's own VFIO/iommufd files; `fuzz/vfio_alongside.txt`
  loads beside them; each with its `.const` file (syzconst).

`fuzz/facts.py` holds the per-struct facts the three Python outputs share;
facts the spec does not carry (which fields hold addresses or fds) come from
the tables in fuzz_facts. `render_fuzz` gives {"fuzz/<file>": text}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vfiogen.emit.fuzz import facts
from vfiogen.emit.fuzz import seeds as fuzz_seeds
from vfiogen.emit.fuzz import syz as fuzz_syz
from vfiogen.emit.fuzz import syzconst
from vfiogen.emit.bindings import model as pymodel
from vfiogen.emit.naming import function_name
from vfiogen.data import data_dir
from vfiogen.emit.templating import black_format, render, stamp
from vfiogen.ir.model import KernelBug, Record, Request, Spec

ROOT = "fuzz"
# Rendered from the spec (templates/fuzz/<name>.j2) and the runtime that reads
# them, real Python copied verbatim (templates/fuzz/<name>).
PYTHON_FILES = ("__init__.py", "facts.py", "targets.py", "kernel_spec.py")
RUNTIME_FILES = ("strategies.py", "harness.py", "kernel.py", "kernel_rows.py")

# The argsz styles whose field is the buffer size the caller provides.
SIZED = ("minsz", "grow", "enospc", "emsgsize", "size")
# Styles of requests whose answer the hardware tier records as seeds.
QUERY_STYLES = ("minsz", "grow", "enospc")


@dataclass(slots=True)
class RecordFacts:
    """What a fuzzer needs to know of one struct or union beyond its layout."""

    cname: str
    cls: str  # the class in vfio.abi
    size_field: str | None  # argsz / size: the buffer size the caller provides
    minsz_field: str | None  # the last field the kernel requires
    flags: list[tuple[str, str]]  # (field, mask of the known bits, hex)
    values: list[tuple[str, str]]  # (field, tuple of the known values)
    tail: tuple[str, str] | None  # (count field, tail field) of a counted tail
    addresses: tuple[str, ...]
    fds: dict[str, str]  # field -> the fd kind it takes ("": an eventfd of its own)
    inputs: tuple[str, ...] | None  # the fields the kernel reads; None: not a request argument


@dataclass(slots=True)
class Case:
    """One case of a tail selected by a flag bit: what the elements are."""

    flag: str  # the constant
    element: str  # "none", "u8", "s32", "fd:<kind>", or a class in vfio.abi

    @property
    def element_code(self) -> str:
        return _element_expr(self.element)


@dataclass(slots=True)
class RequestFacts:
    name: str
    function: str  # in vfio.requests
    fd: str
    arg: str
    cls: str | None
    opens_fd: bool  # the answer may be a new file descriptor
    int_fd: str | None  # int_ptr: the fd kind the int names
    extension: str | None  # the CHECK_EXTENSION id that says a handler serves it
    query: bool  # reads nothing but its size and index fields: a recordable answer
    index_fields: tuple[str, ...]
    selector: str | None  # "flags" (cases below) or "feature" (FEATURES)
    cases: list[Case]
    count_field: str | None  # the count of the argument's tail (counted or selected)
    element: str | None  # a counted tail's elements: "fd:<kind>", "u8", "s32" or a class
    mutations: tuple[str, ...]
    shares: tuple[str, ...]  # other requests with the same number on the same fd kind

    @property
    def element_code(self) -> str:
        return _element_expr(self.element)


@dataclass(slots=True)
class FeatureFacts:
    name: str
    index: int
    payload: str | None  # class in vfio.abi
    ops: list[str]  # GET / SET constants


@dataclass(slots=True)
class BugFacts:
    """A known kernel bug, as kernel.py checks an argument for it."""

    name: str
    request: str
    cls: str  # its argument's class
    flag: str | None
    exact: bool
    offset: str  # a Python expression: where the field sits in the argument
    size: str  # and its size
    need: str  # the argsz the handler needs before it reads the field
    mask: int
    match: int
    fix: str
    setup: list[tuple[str, str]]  # (member, Python expression) a reproducer sets
    prelude: list[tuple[str, str]]  # (request, Python expression of its flags) issued first
    fixed_by: str | None
    trigger: str  # hex, no spaces
    what: str
    detector: str
    nonzero: bool  # it triggers when field & mask != 0 (match is 0)
    iommu: str | None  # the IOMMU model (extension constant) whose driver has it


@dataclass(slots=True)
class FuzzModel:
    stamp: str
    source: str
    abi: str  # the layout of the crafted seeds
    records: list[RecordFacts] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    tails: list[str] = field(default_factory=list)  # classes with a counted tail
    negotiations: list[tuple[str, str, str | None]] = field(default_factory=list)
    requests: list[RequestFacts] = field(default_factory=list)
    features: list[FeatureFacts] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    iommu_drivers: list[tuple[str, list[str]]] = field(default_factory=list)  # model -> drivers
    kernel_bugs: list[BugFacts] = field(default_factory=list)
    seeds: dict[str, list[fuzz_seeds.Seed]] = field(default_factory=dict)  # by target kind
    syz: dict[str, fuzz_syz.SyzModel] = field(default_factory=dict)  # by mode
    syzkaller_commit: str = fuzz_syz.SYZKALLER_COMMIT


def build(spec: Spec) -> FuzzModel:
    py = pymodel.build(spec)
    names = py.record_names
    m = FuzzModel(stamp(spec), spec.source, _layout_abi(spec))
    args = _arguments(spec)
    for rec in spec.records.values():
        m.records.append(_record(spec, rec, names, args.get(rec.name)))
    m.scopes = [s.name for s in py.scopes]
    m.tails = [b.record for b in py.builders if b.selector is None]  # caps.COUNTED_TAILS
    for s in py.scopes:
        if spec.requests[s.request].argsz == "grow":
            m.negotiations.append((s.request, s.info, s.name))
    for name, req in spec.requests.items():
        if req.argsz == "grow" and req.caps is None and req.arg_type in names:
            m.negotiations.append((name, names[req.arg_type], None))
    m.extensions = facts.extensions(spec)
    m.iommu_drivers = [
        (e.name, list(e.drivers)) for e in spec.extensions.values() if e.kind == "iommu"
    ]
    m.features = [
        FeatureFacts(
            f.name,
            f.index,
            names.get(f.type or ""),
            [f"VFIO_DEVICE_FEATURE_{op.upper()}" for op in f.ops],
        )
        for f in spec.features.values()
    ]
    m.requests = [_request(spec, req, names) for req in spec.requests.values()]
    m.kernel_bugs = [_bug(spec, bug, names) for bug in spec.kernel_bugs.values()]
    m.seeds = fuzz_seeds.build(spec, m)
    m.syz = {mode: fuzz_syz.build(spec, mode) for mode in fuzz_syz.MODES}
    return m


def _layout_abi(spec: Spec) -> str:
    return "x86_64" if "x86_64" in spec.abis else spec.abis[0]


def _arguments(spec: Spec) -> dict[str, Request]:
    """The first request that takes each struct as its argument."""
    out: dict[str, Request] = {}
    for req in spec.requests.values():
        if req.arg == "struct" and req.arg_type:
            out.setdefault(req.arg_type, req)
    return out


def _record(spec: Spec, rec: Record, names: dict[str, str], req: Request | None) -> RecordFacts:
    flags: list[tuple[str, str]] = []
    values: list[tuple[str, str]] = []
    addresses: list[str] = []
    fds: dict[str, str] = {}
    for f in rec.fields:
        if not f.name:
            continue
        members, all_flags = facts.bound_members(spec, rec, f)
        ints = [facts.int_value(spec, n) or 0 for n in members]
        width = facts.width(f)
        if ints and width:
            top = (1 << (8 * width)) - 1
            if all_flags:
                mask = 0
                for v in ints:
                    mask |= v & top
                flags.append((f.name, hex(mask)))
            else:
                values.append((f.name, repr(tuple(sorted({v & top for v in ints})))))
        if facts.is_address(f):
            addresses.append(f.name)
        elif facts.is_fd(f):
            fds[f.name] = facts.fd_kind(f)
    tail = next(
        (
            (t.count, t.field)
            for t in spec.tails.values()
            if t.record == rec.name and t.count and not t.selector
        ),
        None,
    )
    size_field = minsz_field = None
    inputs = None
    if req is not None:
        if req.argsz in SIZED and rec.fields and rec.fields[0].name in ("argsz", "size"):
            size_field = rec.fields[0].name
            minsz_field = req.minsz
        inputs = tuple(
            n for n, d in req.directions.items() if d in ("in", "inout") and n != size_field
        )
    return RecordFacts(
        rec.name,
        names[rec.name],
        size_field,
        minsz_field,
        flags,
        values,
        tail,
        tuple(addresses),
        fds,
        inputs,
    )


def _bug(spec: Spec, bug: KernelBug, names: dict[str, str]) -> BugFacts:
    """Where the bug's field sits in its request's argument, on this spec's
    layouts (the overlay checked that every step exists)."""
    req = spec.requests[bug.request]
    path = [tuple(step.split(".", 1)) for step in bug.path]
    parts = [f'offset_of(_abi.{names[record]}, "{member}")' for record, member in path]
    last_record, last_member = path[-1]
    size = f'size_of(_abi.{names[last_record]}, "{last_member}")'
    # the handler reads the whole struct the field is in before it looks at the field
    need = (
        f"{parts[0]} + ctypes.sizeof(_abi.{names[path[1][0]]})"
        if len(path) > 1
        else f"{parts[0]} + {size}"
    )
    return BugFacts(
        bug.name,
        bug.request,
        names[req.arg_type or ""],
        bug.flag,
        bug.exact,
        " + ".join(parts),
        size,
        need,
        bug.mask,
        bug.equals,
        "mmap.PAGESIZE" if bug.fix == "PAGE" else str(int(bug.fix, 0)),
        [(m, v if v.lstrip("-").isdigit() else f"_abi.{v}") for m, v in bug.setup.items()],
        [(r, f"_abi.{flag}") for r, flag in bug.prelude.items()],
        bug.fixed_by,
        bug.trigger.replace(" ", ""),
        bug.what,
        bug.detector,
        bug.nonzero,
        bug.iommu,
    )


def _element(typedef: str, names: dict[str, str], spec: Spec) -> str:
    """A tail element as the kernel fuzzer fills it: a class, or s32 / u8 bytes."""
    if typedef in spec.records:
        return names[typedef]
    return "s32" if facts.typedef_bytes(typedef) == 4 else "u8"


def _tail_of(
    spec: Spec, req: Request, names: dict[str, str]
) -> tuple[str | None, list[Case], str | None, str | None]:
    """The argument's tail: (selector, cases of a flag selector, count field,
    element of a counted tail)."""
    tail = next((t for t in spec.tails.values() if t.record == req.arg_type), None)
    if tail is None:
        return None, [], None, None
    if not tail.selector:
        fld = next(f for f in spec.records[tail.record].fields if f.name == tail.field)
        of = fld.type.of
        fds = facts.tail_fds(spec, tail.record, tail.field)
        if fds is not None:
            element = "fd:" + fds
        elif of is not None and of.kind == "record":
            element = names[of.name]
        else:
            element = "s32" if of is not None and facts.SCALAR_BYTES.get(of.base) == 4 else "u8"
        return None, [], tail.count, element
    cases = []
    for flag, typedef in tail.cases.items():
        fds = facts.tail_fds(spec, tail.record, tail.field, flag)
        if fds is not None:
            kind = "fd:" + fds
        elif typedef == "none":
            kind = "none"
        else:
            kind = _element(typedef, names, spec)
        cases.append(Case(flag, kind))
    return tail.selector, cases, tail.count, None


def _request(spec: Spec, req: Request, names: dict[str, str]) -> RequestFacts:
    cls = names.get(req.arg_type or "") if req.arg == "struct" else None
    arg = _record(spec, spec.records[req.arg_type or ""], names, req) if cls else None
    selector, cases, count_field, element = _tail_of(spec, req, names)
    index_fields = tuple(f for f, _ in arg.values) if arg else ()
    query = bool(
        arg is not None
        and req.result == "status"
        and req.argsz in QUERY_STYLES
        and arg.inputs is not None
        and set(arg.inputs) <= set(index_fields)
    )
    opens_fd = req.result == "fd" or (
        selector == "feature" and any(f.result_fd for f in spec.features.values())
    )
    shares = tuple(
        sorted(
            other.name
            for other in spec.requests.values()
            if other.name != req.name and other.fd == req.fd and other.numbers == req.numbers
        )
    )
    return RequestFacts(
        req.name,
        function_name(req.name),
        req.fd or "unknown",
        req.arg or "none",
        cls,
        opens_fd,
        req.arg_fd,
        req.extension,
        query,
        index_fields,
        selector,
        cases,
        count_field,
        element,
        _mutations(spec, req, arg, cases),
        shares,
    )


def _fd_tail(spec: Spec, arg: RecordFacts) -> bool:
    return arg.tail is not None and facts.tail_fds(spec, arg.cname, arg.tail[1]) is not None


def _mutations(
    spec: Spec, req: Request, arg: RecordFacts | None, cases: list[Case]
) -> tuple[str, ...]:
    """The ways the kernel fuzzer may break this request's argument; "valid"
    and "wrong_fd" (the request sent to another fd kind) apply to all."""
    out = ["valid", "wrong_fd"]
    if req.arg == "value":
        out += ["value_random"]
    elif req.arg == "int_ptr":
        out += ["value_random", "fd_other"] if req.arg_fd else ["value_random"]
    elif req.arg == "string":
        out += ["string_random", "string_empty", "string_long"]
    elif arg is not None:
        if arg.size_field:
            out += ["argsz_zero", "argsz_large", "argsz_huge"]
            if arg.minsz_field:
                out.append("argsz_small")
        if arg.flags:
            out += ["flags_random", "flags_unknown"]
        if arg.values:
            out.append("index_out_of_range")
        if arg.inputs:
            out.append("fields_random")
        if arg.tail or any(c.element != "none" for c in cases):
            out.append("count_lies")
        if arg.addresses:
            out.append("address_bad")
        if arg.fds or any(c.element.startswith("fd:") for c in cases) or _fd_tail(spec, arg):
            out.append("fd_bad")
    return tuple(out)


# --- rendering ----------------------------------------------------------------


def _element_expr(element: str | None) -> str:
    """A tail element kind as kernel.py spells it: a string, or the class."""
    if element is None:
        return "None"
    if element in ("none", "u8", "s32") or element.startswith("fd:"):
        return repr(element)
    return "_abi." + element


def render_fuzz(spec: Spec) -> dict[str, str]:
    """{"fuzz/<file>": text}: the harnesses, their seeds and the syzkaller
    descriptions; Python files black-formatted."""
    model = build(spec)
    out: dict[str, str] = {}
    for name in PYTHON_FILES:
        out[name] = black_format(render("fuzz/" + name + ".j2", m=model))
    for name in RUNTIME_FILES:
        out[name] = data_dir("templates").joinpath("fuzz", name).read_text()
    out["README.md"] = render("fuzz/README.md.j2", m=model)
    for kind, seeds in model.seeds.items():
        out[f"seeds/{kind}.txt"] = render("fuzz/seeds.txt.j2", m=model, kind=kind, seeds=seeds)
    for mode, syz in model.syz.items():
        txt = "vfio.txt" if mode == "replace" else f"vfio_{mode}.txt"
        const = syzconst.build(spec, syz.consts)
        out[txt] = render("fuzz/vfio.txt.j2", m=model, syz=syz, const_name=txt + ".const")
        out[txt + ".const"] = render("fuzz/vfio.txt.const.j2", m=model, c=const, txt=txt)
    return {f"{ROOT}/{path}": text for path, text in out.items()}
