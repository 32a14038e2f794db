"""The spec (IR): plain typed data that every emitter reads.

The front end and the overlay fill it in; layout, request numbers and
constant values are stored per ABI. Nothing here knows about C text or
templates. `vfiogen.ir.codec` gives the versioned JSON form
(`spec.schema.json` beside it describes it); every element carries `loc`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from vfiogen.errors import Loc

SCHEMA_VERSION = 2  # 2: extensions, region_vendors

FdKind = Literal[
    "container", "group", "device", "iommufd", "mig_data", "dmabuf", "fault", "veventq"
]
ArgKind = Literal["none", "value", "int_ptr", "string", "struct"]
ResultKind = Literal["status", "value", "fd"]
Direction = Literal["in", "out", "inout"]
ArgszStyle = Literal["none", "minsz", "grow", "enospc", "emsgsize", "size"]
FieldKindName = Literal["user_address", "fd", "length"]
# what an fd field holds: one of our fd kinds, or an eventfd (None: any file)
FieldFd = Literal[
    "container", "group", "device", "iommufd", "mig_data", "dmabuf", "fault", "veventq", "eventfd"
]

# what a VFIO_CHECK_EXTENSION value names: an IOMMU model (VFIO_SET_IOMMU
# takes it) or a property of the model in use
ExtensionKind = Literal["iommu", "property"]
# the kernel's container IOMMU back ends whose check_extension answers
ExtensionDriver = Literal["type1", "spapr_tce", "noiommu", "iommufd"]

FD_KINDS = typing.get_args(FdKind)
EXTENSION_KINDS = typing.get_args(ExtensionKind)
EXTENSION_DRIVERS = typing.get_args(ExtensionDriver)
ARG_KINDS = typing.get_args(ArgKind)
RESULT_KINDS = typing.get_args(ResultKind)
DIRECTIONS = typing.get_args(Direction)
ARGSZ_STYLES = typing.get_args(ArgszStyle)
FIELD_KIND_NAMES = typing.get_args(FieldKindName)
FIELD_FDS = typing.get_args(FieldFd)


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
            inner = self.of.c()
            dims = inner.find("[") if self.of.kind == "array" else -1
            if dims >= 0:  # T[outer][inner]: this array's count comes first
                return f"{inner[:dims]}[{n}]{inner[dims:]}"
            return f"{inner}[{n}]"
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
    """Byte offset and size; a bit-field also has its first bit counted from
    the record's start (offset = bit_offset // 8, size = its type's size)."""

    offset: int
    size: int
    bit_offset: int | None = None


@dataclass
class RecordLayout:
    size: int
    align: int


@dataclass
class FieldKind:
    """What an integer member holds beyond its C type (overlay [records]):
    a user address the kernel dereferences, a file descriptor, or the length
    of a sibling member."""

    kind: FieldKindName
    loc: Loc
    fd: FieldFd | None = None  # fd: what it must be (None: any file)
    of: str | None = None  # length: the sibling member it measures
    mapping: bool = False  # user_address: memory the kernel maps or pins, not a buffer
    when: str | None = None  # a selected tail: only in the case this constant selects
    since: str | None = None
    until: str | None = None
    # user_address: the struct at the address, chosen by a sibling member's value
    selector: str | None = None  # that member ("out_data_type")
    cases: dict[str, str] = field(default_factory=dict)  # constant -> record tag


@dataclass
class Field:
    """A member of a struct or union. `name` is "" for an anonymous member,
    whose `type` then names an anonymous record (tag `parent::anonN`)."""

    name: str
    type: TypeRef
    loc: Loc
    align: int | None = None  # explicit alignment (__aligned_u64, _Alignas, aligned(N))
    bits: int | None = None  # a bit-field's declared width (0: an unnamed `T :0;`)
    packed: bool = False  # __attribute__((packed)) on the member
    counted_by: str | None = None  # __counted_by(x) in the header
    doc: str = ""
    values: str | None = None  # id of the ValueSet bound to this field
    kind: FieldKind | None = None  # from the overlay
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
    packed: bool = False  # __attribute__((packed)) / __packed on the type
    align: int | None = None  # __attribute__((aligned(N))) on the type
    pack: int | None = None  # `#pragma pack(N)` in force: member alignment capped at N
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
class Skipped:
    """Something in the header the spec leaves out on purpose, and why: a
    `static inline` function, a variable, an attribute with no ABI effect."""

    name: str
    loc: Loc
    kind: Literal["function", "variable", "attribute"]
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
    fd: FdKind | None = None
    arg: ArgKind | None = None
    arg_type: str | None = None
    result: ResultKind | None = None
    result_fd: FdKind | None = None
    argsz: ArgszStyle | None = None
    minsz: str | None = None
    count: str | None = None
    caps: str | None = None
    extension: str | None = None
    arg_fd: FdKind | None = None  # int_ptr: the int is an fd of this kind
    flag_gates: dict[str, str] = field(default_factory=dict)
    directions: dict[str, Direction] = field(default_factory=dict)
    precondition: str = ""
    note: str = ""
    source: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # errno name -> when the kernel returns it
    since: str | None = None
    until: str | None = None
    # When `since` is the overlay's exact kernel version rather than a pinned
    # release: the pins that bracket it, [newest without, oldest with] ("" for
    # none older). Its evidence: the version lies between the two.
    since_pinned: list[str] = field(default_factory=list)


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
    result_fd: FdKind | None = None
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
    # flag -> element type (`field` is a member name here: the function by its module)
    cases: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class CallPhase:
    """A step of using an fd: the requests a program calls in it, in order."""

    title: str
    requests: list[str]


@dataclass
class FdKindInfo:
    """How a program meets an fd kind (overlay [fd_kinds]): where the fd comes
    from, a Python expression giving one, and the call order of its requests."""

    name: FdKind
    loc: Loc
    title: str
    opened: str  # markup
    example: str
    phases: list[CallPhase] = field(default_factory=list)


@dataclass
class KernelBug:
    """An argument that makes a kernel log a problem (UBSAN, an oops...), found
    by the kernel fuzzer (overlay [kernel_bugs]). The fuzzer steers around it,
    since the hardware tier fails a boot whose log has one, unless asked to
    reproduce it. since/until: the headers that have the request."""

    name: str
    loc: Loc
    request: str  # the request whose handler has the bug
    path: list[str]  # "record.member" steps from the argument to the field
    mask: int  # the field triggers it when field & mask == equals (nonzero: != 0)
    equals: int
    fix: str  # what the fuzzer sets the masked bits to instead: "PAGE" or an integer
    what: str
    source: str  # where in the kernel
    flag: str | None = None  # the flags bit that takes the buggy path (None: any flags)
    exact: bool = False  # the handler takes that path only when flags is exactly the bit
    setup: dict[str, str] = field(default_factory=dict)  # member -> constant or integer
    prelude: dict[str, str] = field(default_factory=dict)  # request issued first -> its flags
    fixed_by: str | None = None  # the first kernel release seen without it
    trigger: str = ""  # an argument (x86_64 hex) that triggered it ("": built from setup)
    detector: str = ""  # the kernel function that reports it ("": none, the kernel is silent)
    since: str | None = None
    until: str | None = None
    nonzero: bool = False  # it triggers when any bit of mask is set (equals is 0)
    iommu: str | None = None  # the container IOMMU model (extension) whose driver has it


@dataclass
class FsmState:
    """One state of a kernel state machine (overlay [state_machines]): the
    flags a device must report for it, and from it toward each target the
    next step the kernel takes (the machine's `blocked` state: refused)."""

    name: str  # the enumerator
    loc: Loc
    needs: list[str]  # flag constants the device must have for this state
    next: dict[str, str]  # target state -> next step from here
    since: str | None = None
    until: str | None = None


@dataclass
class StateMachine:
    """A state machine the kernel enforces and the header does not encode
    (the VFIO migration FSM: vfio_mig_get_next_state). A request to move
    from one state to a target walks `next` one step at a time, skipping the
    steps whose `needs` the device lacks; the kernel refuses (with `errno`) a
    target the device's flags do not support, any value not a state, and a
    walk that reaches `blocked`, which is never a target itself."""

    name: str  # the C enum whose values are the states
    loc: Loc
    feature: str  # the device feature that reads and sets the state
    flags_feature: str  # the device feature that reports the flags `needs` names
    blocked: str  # the state that marks a refused arc
    errno: str  # the kernel's answer to a refused target or arc
    source: str  # where in the kernel
    states: dict[str, FsmState] = field(default_factory=dict)
    since: str | None = None
    until: str | None = None


@dataclass
class Extension:
    """A value VFIO_CHECK_EXTENSION answers on a container (overlay
    [extensions]): an IOMMU model VFIO_SET_IOMMU accepts, or a property of
    the model in use. The header defines the numbers only; which is which,
    and which drivers answer, is the kernel's."""

    name: str  # the constant
    loc: Loc
    kind: ExtensionKind
    value: int
    drivers: list[ExtensionDriver]  # whose check_extension may answer > 0
    source: str  # where in the kernel
    since: str | None = None
    until: str | None = None


@dataclass
class RegionVendor:
    """A PCI vendor whose vendor-specific regions (VFIO_REGION_TYPE_PCI_VENDOR_TYPE
    | vendor) take the subtypes VFIO_REGION_SUBTYPE_<family>_* (overlay
    [region_vendors]); the header says so only in a comment."""

    family: str  # "INTEL"
    loc: Loc
    vendor: int  # the PCI-SIG vendor ID
    subtypes: list[str]  # this release's VFIO_REGION_SUBTYPE_<family>_* constants
    said: Loc | None = None  # the header's comment naming the vendor, when it has one
    since: str | None = None
    until: str | None = None


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
    skipped: list[Skipped] = field(default_factory=list)
    value_sets: dict[str, ValueSet] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    requests: dict[str, Request] = field(default_factory=dict)
    scopes: dict[str, CapabilityScope] = field(default_factory=dict)
    capabilities: dict[str, Capability] = field(default_factory=dict)
    features: dict[str, Feature] = field(default_factory=dict)
    tails: dict[str, Tail] = field(default_factory=dict)
    fd_kinds: dict[str, FdKindInfo] = field(default_factory=dict)
    kernel_bugs: dict[str, KernelBug] = field(default_factory=dict)
    state_machines: dict[str, StateMachine] = field(default_factory=dict)
    extensions: dict[str, Extension] = field(default_factory=dict)
    region_vendors: dict[str, RegionVendor] = field(default_factory=dict)
    errata: list[Erratum] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    # The releases `since`/`until` were computed over, oldest first (empty
    # when they were not): `since` equal to the first means "at or before".
    history: list[str] = field(default_factory=list)
