"""The reference docs' view model: what each page shows, as markup strings
and numbers decided by `docs.build`; the templates in templates/docs/ only
lay these out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vfiogen.emit.docs.myst import Block


@dataclass(slots=True)
class Cell:
    value: int
    differs: bool = False  # differs from the same cell of the first ABI group


@dataclass(slots=True)
class LayoutRow:
    name: str
    ref: str  # markup: the member object
    offset: Cell
    size: Cell
    ctype: str  # markup
    values: list[str]  # markup: value sets / enums the field takes
    direction: str | None  # request pages: in / out / in/out; "" when unknown


@dataclass(slots=True)
class LayoutTable:
    label: str
    abis: list[str]
    size: Cell
    align: Cell
    reference: str | None  # the first group's ABIs when this one differs, else None
    rows: list[LayoutRow]


@dataclass(slots=True)
class Fact:
    label: str
    value: str  # markup


@dataclass(slots=True)
class NumberRow:
    abis: list[str]
    encoding: str
    number: str
    differs: bool


@dataclass(slots=True)
class ErratumView:
    subject: str  # markup
    loc: str
    kind: str
    claim: str  # markup
    truth: str  # markup


@dataclass(slots=True)
class RequestRow:
    name: str
    ref: str
    summary: str
    arg: str
    result: str
    since: str


@dataclass(slots=True)
class Phase:
    title: str
    requests: list[RequestRow]


@dataclass(slots=True)
class FdPage:
    kind: str
    docname: str
    title: str
    opened: list[str]  # markup: how a program gets one
    phases: list[Phase]
    toctree: list[str]


@dataclass(slots=True)
class MemberView:
    name: str
    decl: str | None  # the C declaration for the c:member object, None when not C
    doc: str  # markup
    direction: str | None
    since: str


@dataclass(slots=True)
class FieldValues:
    field: str
    sets: list[str]  # markup: links to the set's section
    members: list[str]  # markup: each constant and its value


@dataclass(slots=True)
class RequestPage:
    name: str
    docname: str
    summary: str
    numbers: list[NumberRow]
    facts: list[Fact]
    arg_type: str | None  # markup
    layouts: list[LayoutTable]
    members: list[MemberView]
    tails: list[str]
    doc: list[Block]
    doc_sections: list[Fact]
    signature: str  # markup: the header's pseudo-signature
    errata: list[ErratumView]
    proof: list[Fact] = field(default_factory=list)  # "<flavor>/<mode>" -> outcome
    errors: list[Fact] = field(default_factory=list)  # errno -> when the kernel returns it
    python: list[Fact] = field(default_factory=list)  # module -> what covers this request
    cookbook: list[str] = field(default_factory=list)  # markup: the recipes whose code issues it


@dataclass(slots=True)
class TypePage:
    name: str
    docname: str
    kind: str
    directive: str
    summary: str
    doc: list[Block]
    facts: list[Fact]
    since: str
    used_by: list[str]
    layouts: list[LayoutTable]
    members: list[MemberView]
    values: list[FieldValues]
    tails: list[str]
    errata: list[ErratumView]
    python: list[Fact] = field(default_factory=list)  # the Python classes of this type
    py_class: str = ""  # the ctypes class declared here ("vfio.abi.vfio_irq_set")


@dataclass(slots=True)
class ConstantView:
    name: str
    directive: str  # "c:macro" / "c:enumerator"
    target: str  # the name declared (enumerators qualified by their enum)
    value: str  # markup
    doc: str
    since: str


@dataclass(slots=True)
class ConstantGroup:
    label: str
    title: str
    kind: str  # "flags", "values", "enum", "macros", "function macros"
    enum: str | None  # the c:enum name for enum groups
    taken_by: list[str]  # markup: fields
    constants: list[ConstantView]


@dataclass(slots=True)
class ScopeView:
    label: str
    name: str
    request: str
    header: str
    offset: str
    flag: str
    capabilities: list[list[str]]  # rows of markup: name, id, version, type, since


@dataclass(slots=True)
class ChangeGroup:
    what: str  # "requests added", ...
    names: list[str]  # markup


@dataclass(slots=True)
class ReleaseChanges:
    release: str
    groups: list[ChangeGroup]


@dataclass(slots=True)
class CookbookPage:
    """A recipe as written, and what its code issues (added at its end)."""

    path: str  # "cookbook/edu.md"
    text: str
    issues: list[Fact]  # fd kind -> markup: the requests it issues


@dataclass(slots=True)
class PageRef:
    docname: str
    title: str


@dataclass(slots=True)
class ProofPage:
    """Every request against every kernel flavor / IOMMU mode the tier ran."""

    source: str
    runs: list[str]
    rows: list[list[str]]  # markup: the request, then one cell per run (fuzzer columns last)
    proven: int
    total: int
    fuzz: bool = False  # the last columns are the fuzzer's reach per flavor


@dataclass(slots=True)
class DocsModel:
    stamp: str
    title: str
    source: str
    release: str | None
    kernel_version: str | None
    headers: list[tuple[str, str]]
    abis: list[tuple[str, str]]  # (abi, ioctl encoding)
    counts: list[Fact]
    history: list[str]
    ignore_identifiers: list[str]  # C scalar typedefs the C domain cannot resolve
    fd_pages: list[FdPage] = field(default_factory=list)
    requests: list[RequestPage] = field(default_factory=list)
    types: list[TypePage] = field(default_factory=list)
    constants: list[ConstantGroup] = field(default_factory=list)
    scopes: list[ScopeView] = field(default_factory=list)
    features: list[list[str]] = field(default_factory=list)
    feature_types: list[str] = field(default_factory=list)
    errata: list[ErratumView] = field(default_factory=list)
    changelog: list[ReleaseChanges] = field(default_factory=list)
    changelog_note: str = ""
    all_requests: list[RequestRow] = field(default_factory=list)
    pages: list[PageRef] = field(default_factory=list)  # the top toctree
    proof: ProofPage | None = None
    python: list[PyModulePage] = field(default_factory=list)
    python_abi: PyAbiPage | None = None
    python_ignore: list[str] = field(default_factory=list)  # py:class targets not documented
    cookbook: list[CookbookPage] = field(default_factory=list)


@dataclass(slots=True)
class PyObjectView:
    """One Python object of the reference: a Sphinx `py:` directive."""

    directive: str  # "py:class", "py:method", "py:property", ...
    target: str  # the name inside the module: "Device.region_info"
    signature: str  # as written in the code (not markup: Sphinx parses it)
    options: list[str]  # directive options: ":classmethod:", ":type: int"
    doc: list[Block]
    issues: list[str]  # markup: the requests it issues
    heading: str | None = None  # a class starts a section


@dataclass(slots=True)
class PyModulePage:
    name: str  # "vfio.api"
    docname: str
    title: str
    doc: list[Block]
    objects: list[PyObjectView]
    reexports: list[str] = field(default_factory=list)  # markup
    needs: list[str] = field(default_factory=list)  # what the guest tier needs to run its examples


@dataclass(slots=True)
class PyEnumView:
    name: str  # the class in vfio.abi
    base: str  # "enum.IntFlag"
    doc: str  # markup
    members: list[tuple[str, str]]  # (Python member, markup of the C constant)
    fields: list[str]  # markup: the struct members that take it


@dataclass(slots=True)
class PyAbiPage:
    """vfio.abi: the ctypes struct classes (declared on the type pages) and the
    enum and flag classes (declared here)."""

    structs: list[tuple[str, str]]  # (class name, markup of the C type)
    enums: list[PyEnumView]
