"""The reference docs' view of a spec: every decision the doc templates print.

Builder: Sphinx with MyST Markdown and the furo theme. Sphinx because the
kernel documents itself with it and its C domain is the index VFIO needs:
each request, struct, member and constant is declared as a C object
(`c:macro`, `c:struct`, `c:member`, ...), so the builder's own search finds
it by name, its roles make the cross-links and nitpicky mode fails the build
on a link that does not resolve. MyST because pipe tables and fenced code
keep generated pages readable in review; furo for a navigation sidebar and
tables that scroll instead of overflowing. mkdocs-material has no C object
index (search would be full-text only, cross-references plain URLs) and is
in maintenance mode.

`build(spec)` decides the pages: which exist, in which order a program
calls the requests of each fd kind, the layout tables per group of ABIs
with the cells that differ marked, who uses each struct, the errata per
request, the changelog from since/until. `render_docs(spec)` fills the
templates in templates/docs/ with it: {"docs/<page>": text}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2

from vfiogen import __version__
from vfiogen.emit.myst import Block, code, linked, prose, role, slug, text
from vfiogen.emit.naming import function_name
from vfiogen.entities import Member, members
from vfiogen.errors import DocsError, Loc
from vfiogen.releases import version_key
from vfiogen.spec import Constant, Record, Request, Spec, TypeRef

ROOT = "docs"

# --- what the spec does not say: how a program meets each fd kind ----------


@dataclass(frozen=True, slots=True)
class FdKind:
    title: str
    opened: str  # prose: where the fd comes from besides requests that return it
    example: str  # a Python expression (or `...` with a comment) giving one
    phases: tuple[tuple[str, tuple[str, ...]], ...]  # call order, grouped


FD_KINDS: dict[str, FdKind] = {
    "container": FdKind(
        "Container fd",
        "open `/dev/vfio/vfio`; groups are attached to it, then an IOMMU model is chosen.",
        'os.open("/dev/vfio/vfio", os.O_RDWR)',
        (
            ("negotiate", ("VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION")),
            ("choose the IOMMU model, after VFIO_GROUP_SET_CONTAINER", ("VFIO_SET_IOMMU",)),
            (
                "type1 IOMMU",
                (
                    "VFIO_IOMMU_GET_INFO",
                    "VFIO_IOMMU_MAP_DMA",
                    "VFIO_IOMMU_DIRTY_PAGES",
                    "VFIO_IOMMU_UNMAP_DMA",
                ),
            ),
            (
                "sPAPR TCE IOMMU",
                (
                    "VFIO_IOMMU_SPAPR_TCE_GET_INFO",
                    "VFIO_IOMMU_SPAPR_REGISTER_MEMORY",
                    "VFIO_IOMMU_SPAPR_TCE_CREATE",
                    "VFIO_IOMMU_ENABLE",
                    "VFIO_EEH_PE_OP",
                    "VFIO_IOMMU_DISABLE",
                    "VFIO_IOMMU_SPAPR_TCE_REMOVE",
                    "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY",
                ),
            ),
        ),
    ),
    "group": FdKind(
        "Group fd",
        "open `/dev/vfio/$GROUP`, the IOMMU group's number.",
        'os.open("/dev/vfio/26", os.O_RDWR)  # the IOMMU group of the device',
        (
            ("check the group is viable", ("VFIO_GROUP_GET_STATUS",)),
            ("attach it to a container", ("VFIO_GROUP_SET_CONTAINER",)),
            ("open its devices", ("VFIO_GROUP_GET_DEVICE_FD",)),
            ("detach", ("VFIO_GROUP_UNSET_CONTAINER",)),
        ),
    ),
    "device": FdKind(
        "Device fd",
        "open the device's cdev `/dev/vfio/devices/vfioN` (then bind it to an iommufd "
        "first), or ask its group.",
        'os.open("/dev/vfio/devices/vfio0", os.O_RDWR)  # or from VFIO_GROUP_GET_DEVICE_FD',
        (
            (
                "bind (device cdev only)",
                ("VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT"),
            ),
            (
                "discover",
                ("VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_GET_REGION_INFO", "VFIO_DEVICE_GET_IRQ_INFO"),
            ),
            (
                "use",
                (
                    "VFIO_DEVICE_SET_IRQS",
                    "VFIO_DEVICE_IOEVENTFD",
                    "VFIO_DEVICE_FEATURE",
                    "VFIO_DEVICE_QUERY_GFX_PLANE",
                    "VFIO_DEVICE_GET_GFX_DMABUF",
                ),
            ),
            (
                "reset",
                (
                    "VFIO_DEVICE_RESET",
                    "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
                    "VFIO_DEVICE_PCI_HOT_RESET",
                ),
            ),
            ("unbind", ("VFIO_DEVICE_DETACH_IOMMUFD_PT",)),
        ),
    ),
    "iommufd": FdKind(
        "iommufd",
        "open `/dev/iommu`; objects made through it are named by ids, not fds.",
        'os.open("/dev/iommu", os.O_RDWR)',
        (
            (
                "address space",
                (
                    "IOMMU_IOAS_ALLOC",
                    "IOMMU_OPTION",
                    "IOMMU_IOAS_IOVA_RANGES",
                    "IOMMU_IOAS_ALLOW_IOVAS",
                ),
            ),
            ("map", ("IOMMU_IOAS_MAP", "IOMMU_IOAS_MAP_FILE", "IOMMU_IOAS_COPY")),
            ("VFIO container compatibility", ("IOMMU_VFIO_IOAS",)),
            (
                "hardware page tables",
                (
                    "IOMMU_GET_HW_INFO",
                    "IOMMU_FAULT_QUEUE_ALLOC",
                    "IOMMU_HWPT_ALLOC",
                    "IOMMU_HWPT_SET_DIRTY_TRACKING",
                    "IOMMU_HWPT_GET_DIRTY_BITMAP",
                    "IOMMU_HWPT_INVALIDATE",
                ),
            ),
            (
                "virtual IOMMU",
                (
                    "IOMMU_VIOMMU_ALLOC",
                    "IOMMU_VDEVICE_ALLOC",
                    "IOMMU_VEVENTQ_ALLOC",
                    "IOMMU_HW_QUEUE_ALLOC",
                ),
            ),
            ("hand over to another process", ("IOMMU_IOAS_CHANGE_PROCESS",)),
            ("tear down", ("IOMMU_IOAS_UNMAP", "IOMMU_DESTROY")),
        ),
    ),
    "mig_data": FdKind(
        "Migration data fd",
        "returned when the device enters a migration state that moves data; "
        "`read()` or `write()` the device state through it.",
        "...  # the data fd VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE returned",
        (("pre-copy", ("VFIO_MIG_GET_PRECOPY_INFO",)),),
    ),
    "dmabuf": FdKind(
        "DMA-BUF fd",
        "a Linux dma-buf exporting device memory; it has no VFIO requests.",
        "...  # a dma-buf fd",
        (),
    ),
    "fault": FdKind(
        "Fault queue fd",
        "`read()` page faults (struct iommu_hwpt_pgfault) and `write()` responses.",
        "...  # the fd IOMMU_FAULT_QUEUE_ALLOC returned",
        (),
    ),
    "veventq": FdKind(
        "vEVENTQ fd",
        "`read()` virtual IOMMU events, each behind a struct iommufd_vevent_header.",
        "...  # the fd IOMMU_VEVENTQ_ALLOC returned",
        (),
    ),
}
UNKNOWN_FD = FdKind("Requests of unknown fd kind", "the overlay does not say.", "...", ())
OTHER_PHASE = "other"

ARG_TEXT = {
    "none": "none: `ioctl(fd, request)`",
    "value": "a value passed as the argument itself",
    "int_ptr": "a pointer to an integer",
    "string": "a pointer to a NUL-terminated string",
    "struct": "a pointer to",
}
RESULT_TEXT = {
    "status": "0 on success; -1 and `errno` on failure",
    "value": "the answer as a non-negative return value; -1 and `errno` on failure",
    "fd": "a new file descriptor; -1 and `errno` on failure",
}
ARGSZ_TEXT = {
    "none": "none: the argument has no size field",
    "minsz": "the caller sets `argsz` to at least the minimum size; the kernel only reads it",
    "grow": "as minsz, and when the capability chain does not fit the kernel raises `argsz` "
    "to the size needed: allocate that much and call again",
    "enospc": "when the array does not fit the kernel fails with `ENOSPC` and writes the "
    "needed count into the count field",
    "emsgsize": "when the array does not fit the kernel fails with `EMSGSIZE` and writes the "
    "needed count into the count field",
    "size": "iommufd `size`: the caller's `sizeof`; a shorter struct is an older one, a "
    "longer one must be zero past what the kernel knows",
}
DIRECTION_TEXT = {"in": "in", "out": "out", "inout": "in/out"}
SIZE_FIELDS = ("argsz", "size")
EXAMPLE_VALUES = {  # value-argument requests: what a program passes
    "VFIO_CHECK_EXTENSION": "abi.VFIO_TYPE1v2_IOMMU",
    "VFIO_SET_IOMMU": "abi.VFIO_TYPE1v2_IOMMU",
    "VFIO_GROUP_SET_CONTAINER": "container",
    "VFIO_GROUP_GET_DEVICE_FD": '"0000:06:0d.0"',
}
EXAMPLE_SETUP = {"VFIO_GROUP_SET_CONTAINER": ['container = os.open("/dev/vfio/vfio", os.O_RDWR)']}
EXAMPLE_FIELDS = 4  # fields an example sets or prints, at most

# --- the view -----------------------------------------------------------------


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
    example: list[str]


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
class PageRef:
    docname: str
    title: str


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


# --- building it ----------------------------------------------------------------


class _Names:
    """Which name is which entity, and the role that links to it."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.records = {n for n, r in spec.records.items() if not r.anonymous}
        self._members: dict[str, set[str]] = {}

    def request(self, name: str) -> str:
        return role("c:macro", name)

    def record(self, name: str) -> str:
        rec = self.spec.records.get(name)
        if rec is None or rec.anonymous:
            return code(name)
        return role("c:union" if rec.kind == "union" else "c:struct", name)

    def constant(self, name: str) -> str:
        c = self.spec.constants.get(name)
        if c is None:
            return code(name) if name not in self.spec.function_macros else role("c:macro", name)
        return role("c:enumerator" if c.kind == "enumerator" else "c:macro", name)

    def member(self, rec: str, name: str) -> str:
        """A link to a member as C reaches it; code (and why) when the record
        has no such member in this release (an overlay fact for a later one)."""
        if rec not in self._members:
            r = self.spec.records.get(rec)
            self._members[rec] = set(members(r, self.spec.records, self.spec.abis)) if r else set()
        if name not in self._members[rec]:
            return f"{code(name)} (not a member of {code(rec)} in this release)"
        return role("c:member", f"{rec}.{name}", name)

    def fd(self, kind: str | None) -> str:
        k = kind or "unknown"
        title = FD_KINDS.get(k, UNKNOWN_FD).title
        return role("doc", f"/fd/{k}", title)

    def link(self, keyword: str, ident: str) -> str | None:
        """Prose linker: an identifier the spec declares becomes a link."""
        if ident in self.spec.requests:
            return self.request(ident)
        if ident in self.records:
            return self.record(ident)
        if ident in self.spec.constants or ident in self.spec.function_macros:
            return self.constant(ident)
        if keyword == "enum" and any(e.tag == ident for e in self.spec.enums.values()):
            return role("c:enum", ident)
        return None

    def values_label(self, set_id: str) -> str:
        return "values-" + slug(set_id)

    def enum_label(self, key: str) -> str:
        return "enum-" + slug(key)


def stamp(spec: Spec) -> str:
    heads = ", ".join(f"{h.name} sha256 {h.sha256[:12]}" for h in spec.headers)
    return f"Generated by vfiogen {__version__} from {spec.source} ({heads}). Do not edit."


def release_text(spec: Spec, since: str | None, until: str | None = None) -> str:
    """since/until as the docs say them; "unknown" when no history was computed."""
    if since is None:
        out = "unknown"
    elif spec.history and since == spec.history[0]:
        out = f"{since} or earlier"
    else:
        out = since
    if until is not None:
        out += f", removed in {until}"
    return out


def loc_text(loc: Loc | None) -> str:
    """A position as the docs show it: repository-relative, never a home dir."""
    if loc is None:
        return ""
    text_ = str(loc)
    for anchor in ("headers/", "include/uapi/"):
        if anchor in text_ and not text_.startswith("linux/"):
            return text_[text_.index(anchor) :]
    return text_


def build(spec: Spec) -> DocsModel:
    names = _Names(spec)
    from vfiogen.abi import ABIS

    model = DocsModel(
        stamp=stamp(spec),
        title=f"VFIO and iommufd reference (Linux {spec.release or spec.kernel_version or '?'})",
        source=spec.source,
        release=spec.release,
        kernel_version=spec.kernel_version,
        headers=[(h.name, h.sha256) for h in spec.headers],
        abis=[(a, ABIS[a].ioc.name if a in ABIS else "?") for a in spec.abis],
        counts=[
            Fact("requests", str(len(spec.requests))),
            Fact("structs and unions", str(sum(not r.anonymous for r in spec.records.values()))),
            Fact("constants", str(len(spec.constants))),
            Fact("capabilities", str(len(spec.capabilities))),
            Fact("device features", str(len(spec.features))),
            Fact("errata", str(len(spec.errata))),
        ],
        history=list(spec.history),
        ignore_identifiers=_scalar_typedefs(spec),
    )
    errata = _errata(spec, names)
    model.errata = [e for _, e in errata]
    uses = _uses(spec, names)
    model.requests = [_request_page(spec, names, r, errata) for r in _ordered_requests(spec)]
    model.fd_pages = _fd_pages(spec, names)
    model.all_requests = sorted(
        (row for page in model.fd_pages for ph in page.phases for row in ph.requests),
        key=lambda r: r.name,
    )
    model.types = [
        _type_page(spec, names, rec, uses.get(rec.name, []), errata)
        for rec in spec.records.values()
        if not rec.anonymous
    ]
    model.constants = _constant_groups(spec, names)
    model.scopes, model.features, model.feature_types = _registries(spec, names)
    model.changelog, model.changelog_note = _changelog(spec, names)
    model.pages = [PageRef(p.docname, p.title) for p in model.fd_pages] + [
        PageRef("types/index", "Structs and unions"),
        PageRef("constants", "Constants, flags and enums"),
        PageRef("capabilities", "Capability chains"),
        PageRef("features", "Device features"),
        PageRef("errata", "Header errata"),
        PageRef("changelog", "Changelog"),
    ]
    _check_unique(model)
    return model


def _scalar_typedefs(spec: Spec) -> list[str]:
    out: set[str] = set()

    def walk(t: TypeRef | None) -> None:
        if t is None:
            return
        if t.kind == "int" and t.name not in ("char", "int", "long", "short", "unsigned"):
            out.add(t.name)
        walk(t.of)

    for rec in spec.records.values():
        for f in rec.fields:
            walk(f.type)
    return sorted(x for x in out if " " not in x)


def _check_unique(model: DocsModel) -> None:
    """Each C object is declared on exactly one page (Sphinx would warn)."""
    seen: dict[str, str] = {}
    decls = [(c.target, "constants") for g in model.constants for c in g.constants]
    decls += [(p.name, p.docname) for p in model.requests]
    decls += [(p.name, p.docname) for p in model.types]
    for name, where in decls:
        if name in seen:
            raise DocsError(None, f"{name} is declared on {seen[name]} and {where}")
        seen[name] = where


# --- requests and fd kinds ------------------------------------------------------


def _ordered_requests(spec: Spec) -> list[Request]:
    """Requests in the order their fd pages list them."""
    out: list[Request] = []
    for kind in _fd_kinds(spec):
        out += [r for _, rs in _phases(spec, kind) for r in rs]
    return out


def _fd_kinds(spec: Spec) -> list[str]:
    """fd kinds that have requests or are returned by one, in FD_KINDS order."""
    used = {r.fd or "unknown" for r in spec.requests.values()}
    used |= {r.result_fd for r in spec.requests.values() if r.result_fd}
    used |= {f.result_fd for f in spec.features.values() if f.result_fd}
    return [k for k in [*FD_KINDS, "unknown"] if k in used]


def _phases(spec: Spec, kind: str) -> list[tuple[str, list[Request]]]:
    mine = [r for r in spec.requests.values() if (r.fd or "unknown") == kind]
    listed: set[str] = set()
    out: list[tuple[str, list[Request]]] = []
    for title, order in FD_KINDS.get(kind, UNKNOWN_FD).phases:
        rs = [spec.requests[n] for n in order if n in spec.requests and spec.requests[n] in mine]
        listed.update(r.name for r in rs)
        if rs:
            out.append((title, rs))
    rest = [r for r in mine if r.name not in listed]  # newer than this table: header order
    if rest:
        out.append((OTHER_PHASE, rest))
    return out


def _request_row(spec: Spec, names: _Names, r: Request) -> RequestRow:
    summary = r.doc.summary if r.doc is not None and r.doc.summary else r.note
    arg = code(r.arg or "?")
    if r.arg == "struct" and r.arg_type:
        arg = names.record(r.arg_type)
    elif r.arg_type:
        arg = f"{code(r.arg or '?')} {code(r.arg_type)}"
    result = code(r.result or "status")
    if r.result_fd:
        result += " " + names.fd(r.result_fd)
    return RequestRow(
        r.name,
        names.request(r.name),
        linked(summary, names.link),
        arg,
        result,
        release_text(spec, r.since, r.until),
    )


def _fd_pages(spec: Spec, names: _Names) -> list[FdPage]:
    pages = []
    for kind in _fd_kinds(spec):
        fk = FD_KINDS.get(kind, UNKNOWN_FD)
        opened = [linked(fk.opened, names.link)]
        for r in spec.requests.values():
            if r.result_fd == kind:
                opened.append(f"returned by {names.request(r.name)} (on a {names.fd(r.fd)})")
        for f in spec.features.values():
            if f.result_fd == kind:
                opened.append(
                    f"returned by device feature {names.constant(f.name)} "
                    f"({role('doc', '/features', 'device features')})"
                )
        phases = [
            Phase(title, [_request_row(spec, names, r) for r in rs])
            for title, rs in _phases(spec, kind)
        ]
        pages.append(
            FdPage(
                kind,
                f"fd/{kind}",
                fk.title,
                opened,
                phases,
                [f"/requests/{row.name}" for ph in phases for row in ph.requests],
            )
        )
    return pages


def _numbers(spec: Spec, r: Request) -> list[NumberRow]:
    from vfiogen.abi import ABIS

    groups: dict[int, list[str]] = {}
    for abi in spec.abis:
        groups.setdefault(r.numbers[abi], []).append(abi)
    first = next(iter(groups), None)
    return [
        NumberRow(
            abis,
            ", ".join(sorted({ABIS[a].ioc.name for a in abis if a in ABIS})),
            f"0x{n:08x}",
            n != first,
        )
        for n, abis in groups.items()
    ]


def _request_page(
    spec: Spec, names: _Names, r: Request, errata: list[tuple[str, ErratumView]]
) -> RequestPage:
    rec = spec.records.get(r.arg_type or "") if r.arg == "struct" else None
    facts = [Fact("fd", names.fd(r.fd))]
    if r.arg == "struct" and r.arg_type:
        facts.append(Fact("argument", f"{ARG_TEXT['struct']} {names.record(r.arg_type)}"))
    else:
        arg = ARG_TEXT.get(r.arg or "", "unknown")
        if r.arg_type:
            arg += f" ({code(r.arg_type)})"
        facts.append(Fact("argument", arg))
    result = RESULT_TEXT.get(r.result or "status", code(r.result or "?"))
    if r.result_fd:
        result += f": a {names.fd(r.result_fd)}"
    facts.append(Fact("result", result))
    if r.argsz:
        facts.append(Fact("argsz negotiation", f"{code(r.argsz)}: {ARGSZ_TEXT.get(r.argsz, '')}"))
    if r.minsz and rec is not None:
        facts.append(Fact("minimum size", _minsz(spec, rec, r.minsz, names)))
    if r.count:
        facts.append(Fact("count field", names.member(r.arg_type or "", r.count)))
    if r.caps and r.caps in spec.scopes:
        sc = spec.scopes[r.caps]
        n = sum(c.scope == sc.name for c in spec.capabilities.values())
        facts.append(
            Fact(
                "capability chain",
                f"{role('ref', 'caps-' + slug(sc.name), sc.name)} ({n} capabilities), "
                f"present when {names.constant(sc.flag)} is set; first at "
                f"{names.member(r.arg_type or '', sc.offset)}",
            )
        )
    if rec is not None and any(
        t.record == rec.name and t.selector == "feature" for t in spec.tails.values()
    ):
        facts.append(
            Fact(
                "device features",
                f"{role('doc', '/features', 'the feature registry')} "
                f"({len(spec.features)} features)",
            )
        )
    if r.extension:
        facts.append(
            Fact(
                "gating extension",
                f"{names.constant(r.extension)}: usable when {names.request('VFIO_CHECK_EXTENSION')}"
                " says so",
            )
        )
    for flag, ext in r.flag_gates.items():
        facts.append(
            Fact("gated flag", f"{names.constant(flag)} needs extension {names.constant(ext)}")
        )
    if r.precondition:
        facts.append(Fact("precondition", linked(r.precondition, names.link)))
    if r.note:
        facts.append(Fact("note", linked(r.note, names.link)))
    facts.append(Fact("since", text(release_text(spec, r.since))))
    if r.until:
        facts.append(Fact("until", text(r.until)))
    facts.append(Fact("header", code(loc_text(r.loc)) + f" (section {text(r.section or '-')})"))
    if r.source:
        facts.append(Fact("kernel source", code(r.source)))
    if r.overlay_loc is not None:
        facts.append(Fact("overlay", code(loc_text(r.overlay_loc))))
    doc = r.doc
    summary = doc.summary if doc is not None and doc.summary else r.note or ""
    blocks = prose(doc.description, names.link) if doc is not None and doc.description else []
    if blocks and doc is not None and blocks[0].body == linked(doc.summary, names.link):
        blocks = blocks[1:]  # the description repeats the summary
    layouts = _layouts(spec, rec, names, r.directions, "args-" + slug(r.name)) if rec else []
    mems = _member_views(spec, rec, names, r.directions) if rec else []
    return RequestPage(
        name=r.name,
        docname=f"requests/{r.name}",
        summary=linked(summary, names.link),
        numbers=_numbers(spec, r),
        facts=facts,
        arg_type=names.record(rec.name) if rec else None,
        layouts=layouts,
        members=mems,
        tails=_tails(spec, rec, names) if rec else [],
        doc=blocks,
        doc_sections=[
            Fact(k, linked(v, names.link)) for k, v in (doc.sections if doc else {}).items()
        ],
        signature=code(doc.signature) if doc is not None and doc.signature else "",
        errata=[e for subj, e in errata if subj == r.name],
        example=_example(spec, r, rec),
    )


def _minsz(spec: Spec, rec: Record, name: str, names: _Names) -> str:
    ms = members(rec, spec.records, spec.abis)
    m = ms.get(name)
    if m is None:
        return names.member(rec.name, name)
    ends: dict[int, list[str]] = {}
    for abi in spec.abis:
        off, size = m.layout[abi]
        ends.setdefault(off + size, []).append(abi)
    sizes = "; ".join(f"{n} bytes ({', '.join(a)})" for n, a in ends.items())
    return f"up to and including {names.member(rec.name, name)}: {sizes}"


def _example(spec: Spec, r: Request, rec: Record | None) -> list[str]:
    """A short program calling the request through the generated vfio.abi."""
    fk = FD_KINDS.get(r.fd or "unknown", UNKNOWN_FD)
    fn = f"abi.{function_name(r.name)}"
    setup = list(EXAMPLE_SETUP.get(r.name, []))
    body: list[str] = []
    uses_ctypes = False
    if r.arg == "struct" and rec is not None:
        ms = members(rec, spec.records, spec.abis)
        body.append(f"arg = abi.{_py_class(rec.name)}()")
        size_field = next((f for f in SIZE_FIELDS if f in ms and f in r.directions), None)
        if size_field:
            body.append(f"arg.{size_field} = ctypes.sizeof(arg)")
            uses_ctypes = True
        ins = [
            m
            for n, m in ms.items()
            if r.directions.get(n) in ("in", "inout") and n != size_field and _settable(m)
        ]
        for m in ins[:EXAMPLE_FIELDS]:
            body.append(f"arg.{m.name} = {_example_value(spec, rec, m)}")
        ret = "new_fd = " if r.result == "fd" else "ret = " if r.result == "value" else ""
        body.append(f"{ret}{fn}(fd, arg)")
        outs = [
            n
            for n, m in ms.items()
            if r.directions.get(n) in ("out", "inout") and n != size_field and _settable(m)
        ]
        if outs:
            body.append(f"print({', '.join('arg.' + n for n in outs[:EXAMPLE_FIELDS])})")
    else:
        arg = ""
        if r.arg in ("value", "int_ptr"):
            value = EXAMPLE_VALUES.get(r.name, "0")
            if value.startswith("abi.") and value[4:] not in spec.constants:
                value = "0"
            arg = f", {value}"
        elif r.arg == "string":
            arg = ", " + EXAMPLE_VALUES.get(r.name, '"name"')
        call = f"{fn}(fd{arg})"
        if r.result == "fd":
            body.append(f"new_fd = {call}")
        elif r.result == "value":
            body.append(f"print({call})")
        else:
            body.append(call)
    head = ["import ctypes"] if uses_ctypes else []
    head += ["import os", "", "from vfio import abi", "", f"fd = {fk.example}", *setup]
    return head + body


def _py_class(cname: str) -> str:
    return "_" + cname.replace("::", "__") if "::" in cname else cname


def _settable(m: Member) -> bool:
    """A field an example should show: a scalar that is not padding."""
    t = m.field.type
    return (
        t.kind in ("int", "enum")
        and not m.name.startswith("__")
        and m.name not in ("pad", "reserved", "padding")
    )


def _example_value(spec: Spec, rec: Record, m: Member) -> str:
    for vs in _value_sets_of(spec, rec.name, m):
        if vs.kind in ("enum", "values"):
            for name in vs.members:
                c = spec.constants.get(name)
                if c is not None and isinstance(c.value, int):
                    return f"abi.{name}"
    return "0"


# --- structs and unions ----------------------------------------------------------


def _value_sets_of(spec: Spec, rec: str, m: Member) -> list[Any]:
    key = f"{rec}.{m.name}"
    out = [vs for vs in spec.value_sets.values() if key in vs.fields]
    if m.field.values and m.field.values in spec.value_sets:
        vs = spec.value_sets[m.field.values]
        if vs not in out:
            out.insert(0, vs)
    return out


def _set_ref(spec: Spec, names: _Names, vs: Any) -> str:
    if vs.kind == "enum":
        key = vs.id[len("enum ") :]
        en = spec.enums.get(key)
        title = f"enum {en.tag}" if en is not None and en.tag else _anon_enum_title(key)
        return role("ref", names.enum_label(key), title)
    return role("ref", names.values_label(vs.id), f"{vs.kind} of {vs.id}")


def _anon_enum_title(key: str) -> str:
    return f"enum {{{key.split(':', 1)[-1]}, ...}}"


def _ctype(t: TypeRef, names: _Names) -> str:
    """A field's C type as markup, the record part linked."""
    if t.kind == "array":
        assert t.of is not None
        n = t.count_expr or ("" if t.count is None else str(t.count))
        return f"{_ctype(t.of, names)} {code('[' + n + ']')}"
    if t.kind == "pointer":
        assert t.of is not None
        return f"{_ctype(t.of, names)} {code('*')}"
    if t.kind == "record" and "::" not in t.name:
        return f"{t.base or 'struct'} {names.record(t.name)}"
    if t.kind == "record":
        return code(f"{t.base or 'struct'} {{...}}")
    if t.kind == "enum":
        return f"enum {names.link('enum', t.name) or code(t.name)}"
    return code(t.name)


def _c_decl(t: TypeRef, name: str) -> str | None:
    """`T name[n]` for the C domain, or None for a type C cannot spell here."""
    if t.kind == "array":
        assert t.of is not None
        n = t.count_expr or ("" if t.count is None else str(t.count))
        return _c_decl(t.of, f"{name}[{n}]")
    if t.kind == "pointer":
        assert t.of is not None
        return _c_decl(t.of, f"*{name}")
    if t.kind == "record" and "::" in t.name:
        return None
    return f"{t.c()} {name}"


def _layouts(
    spec: Spec,
    rec: Record,
    names: _Names,
    directions: dict[str, str] | None,
    label: str,
) -> list[LayoutTable]:
    """One table per group of ABIs that lay the record out alike; cells of
    later groups that differ from the first group are marked."""
    ms = members(rec, spec.records, spec.abis)
    groups: dict[tuple[Any, ...], list[str]] = {}
    for abi in spec.abis:
        key = (
            rec.layout[abi].size,
            rec.layout[abi].align,
            tuple(m.layout[abi] for m in ms.values()),
        )
        groups.setdefault(key, []).append(abi)
    tables: list[LayoutTable] = []
    ref_abi = spec.abis[0]
    for i, abis in enumerate(groups.values()):
        a = abis[0]
        rows = []
        for m in ms.values():
            off, size = m.layout[a]
            r_off, r_size = m.layout[ref_abi]
            sets = _value_sets_of(spec, rec.name, m)
            path = " ".join(f"(in anonymous {k})" for k in m.path)
            rows.append(
                LayoutRow(
                    m.name,
                    names.member(rec.name, m.name),
                    Cell(off, off != r_off),
                    Cell(size, size != r_size),
                    _ctype(m.field.type, names) + (f" {path}" if path else ""),
                    [_set_ref(spec, names, vs) for vs in sets],
                    (
                        None
                        if directions is None
                        else DIRECTION_TEXT.get(directions.get(m.name, ""), "")
                    ),
                )
            )
        lay, ref = rec.layout[a], rec.layout[ref_abi]
        tables.append(
            LayoutTable(
                f"{label}-{i}" if len(groups) > 1 else label,
                abis,
                Cell(lay.size, lay.size != ref.size),
                Cell(lay.align, lay.align != ref.align),
                ", ".join(tables[0].abis) if i else None,
                rows,
            )
        )
    return tables


def _member_views(
    spec: Spec, rec: Record, names: _Names, directions: dict[str, str] | None
) -> list[MemberView]:
    doc = rec.doc.params if rec.doc is not None else {}
    out = []
    for m in members(rec, spec.records, spec.abis).values():
        out.append(
            MemberView(
                m.name,
                _c_decl(m.field.type, f"{rec.name}.{m.name}"),
                linked(doc.get(m.name) or m.field.doc, names.link),
                None if directions is None else DIRECTION_TEXT.get(directions.get(m.name, ""), ""),
                release_text(spec, m.field.since, m.field.until),
            )
        )
    return out


def _tails(spec: Spec, rec: Record, names: _Names) -> list[str]:
    out = []
    for t in spec.tails.values():
        if t.record != rec.name:
            continue
        where = names.member(rec.name, t.field)
        if t.count:
            out.append(f"{where}: {names.member(rec.name, t.count)} elements")
        if t.selector == "feature":
            out.append(
                f"{where}: the payload of the feature selected in "
                f"{names.member(rec.name, 'flags')} ({role('doc', '/features', 'registry')})"
            )
        elif t.selector:
            for flag, typ in t.cases.items():
                what = "nothing" if typ == "none" else _type_word(spec, names, typ)
                out.append(
                    f"{where}: {what} when {names.member(rec.name, t.selector)} "
                    f"has {names.constant(flag)}"
                )
    return out


def _type_word(spec: Spec, names: _Names, typ: str) -> str:
    return names.record(typ) if typ in spec.records else code(typ)


def _uses(spec: Spec, names: _Names) -> dict[str, list[str]]:
    """record -> markup of everything that refers to it (the other direction
    of every link a request, registry or record makes to a type)."""
    out: dict[str, list[str]] = {}

    def add(rec: str | None, what: str) -> None:
        if rec and rec in spec.records and what not in out.setdefault(rec, []):
            out[rec].append(what)

    for r in spec.requests.values():
        if r.arg == "struct":
            add(r.arg_type, f"argument of {names.request(r.name)}")
    for c in spec.capabilities.values():
        add(c.type, f"capability {names.constant(c.name)}")
    for sc in spec.scopes.values():
        add(sc.header, f"capability header of the {role('ref', 'caps-' + slug(sc.name), sc.name)}")
    for f in spec.features.values():
        add(f.type, f"payload of device feature {names.constant(f.name)}")
    for t in spec.tails.values():
        for flag, typ in t.cases.items():
            add(
                typ,
                f"{names.member(t.record, t.field)} of {names.record(t.record)} when "
                f"{code(t.selector or '')} has {names.constant(flag)}",
            )
    for rec in spec.records.values():
        if rec.anonymous:
            continue
        for m in members(rec, spec.records, spec.abis).values():
            t: TypeRef | None = m.field.type
            while t is not None and t.kind in ("array", "pointer"):
                t = t.of
            if t is not None and t.kind == "record":
                add(t.name, f"member {names.member(rec.name, m.name)} of {names.record(rec.name)}")
    return out


def _type_page(
    spec: Spec,
    names: _Names,
    rec: Record,
    used_by: list[str],
    errata: list[tuple[str, ErratumView]],
) -> TypePage:
    doc = rec.doc
    ms = members(rec, spec.records, spec.abis)
    values = []
    for m in ms.values():
        sets = _value_sets_of(spec, rec.name, m)
        if not sets:
            continue
        consts = []
        for vs in sets:
            for name in vs.members:
                c = spec.constants.get(name)
                if c is not None:
                    consts.append(f"{names.constant(name)} = {code(_value(c, vs.kind))}")
        values.append(FieldValues(m.name, [_set_ref(spec, names, vs) for vs in sets], consts))
    blocks = prose(doc.description, names.link) if doc is not None and doc.description else []
    if blocks and doc is not None and blocks[0].body == linked(doc.summary, names.link):
        blocks = blocks[1:]
    facts = [
        Fact("since", text(release_text(spec, rec.since))),
        Fact("header", code(loc_text(rec.loc))),
    ]
    if rec.until:
        facts.insert(1, Fact("until", text(rec.until)))
    return TypePage(
        name=rec.name,
        docname=f"types/{rec.name}",
        kind=rec.kind,
        directive="c:union" if rec.kind == "union" else "c:struct",
        summary=linked(doc.summary, names.link) if doc is not None else "",
        doc=blocks,
        facts=facts,
        since=text(release_text(spec, rec.since, rec.until)),
        used_by=used_by,
        layouts=_layouts(spec, rec, names, None, "layout-" + slug(rec.name)),
        members=_member_views(spec, rec, names, None),
        values=values,
        tails=_tails(spec, rec, names),
        errata=[e for subj, e in errata if subj == f"{rec.kind} {rec.name}"],
    )


# --- constants, registries, errata, changelog ------------------------------------------


def _value(c: Constant, kind: str) -> str:
    if c.per_abi:
        return ", ".join(f"{a}: {_num(v, kind)}" for a, v in c.per_abi.items())
    if isinstance(c.value, str):
        return repr(c.value)
    return _num(c.value, kind)


def _num(v: int, kind: str) -> str:
    if kind == "flags" or (kind != "enum" and v > 9):
        return f"0x{v:x}" if v >= 0 else str(v)
    return str(v)


def _constant_groups(spec: Spec, names: _Names) -> list[ConstantGroup]:
    groups: list[ConstantGroup] = []
    done: set[str] = set()
    for vs in spec.value_sets.values():
        if vs.kind == "enum":
            continue
        consts = [
            _constant_view(spec, spec.constants[n], vs.kind, None)
            for n in vs.members
            if n in spec.constants and spec.constants[n].kind == "macro" and n not in done
        ]
        done.update(c.name for c in consts)
        if consts:
            groups.append(
                ConstantGroup(
                    names.values_label(vs.id),
                    f"{vs.kind.capitalize()} of {vs.id}",
                    vs.kind,
                    None,
                    [_field_ref(spec, names, f) for f in vs.fields],
                    consts,
                )
            )
    for key, en in spec.enums.items():
        scope = en.tag or "@" + slug(key.split(":", 1)[-1]).replace("-", "_")
        consts = [
            _constant_view(spec, spec.constants[n], "enum", scope)
            for n in en.enumerators
            if n in spec.constants and n not in done
        ]
        done.update(c.name for c in consts)
        vs = spec.value_sets.get(en.values or "")
        groups.append(
            ConstantGroup(
                names.enum_label(key),
                f"enum {en.tag}" if en.tag else _anon_enum_title(key),
                "enum",
                scope,
                [_field_ref(spec, names, f) for f in (vs.fields if vs else [])],
                consts,
            )
        )
    by_header: dict[str, list[ConstantView]] = {}
    for c in spec.constants.values():
        if c.name not in done:
            by_header.setdefault(c.loc.file, []).append(_constant_view(spec, c, "values", None))
    for header, consts in by_header.items():
        groups.append(
            ConstantGroup(
                "macros-" + slug(header), f"Other macros of {header}", "macros", None, [], consts
            )
        )
    fms = [
        ConstantView(
            fm.name,
            "c:macro",
            f"{fm.name}({', '.join(fm.params)})",
            code(fm.body),
            "",
            "",
        )
        for fm in spec.function_macros.values()
    ]
    if fms:
        groups.append(
            ConstantGroup(
                "function-macros", "Function-like macros", "function macros", None, [], fms
            )
        )
    return groups


def _field_ref(spec: Spec, names: _Names, key: str) -> str:
    rec, _, fname = key.partition(".")
    if rec in spec.records and not spec.records[rec].anonymous:
        return names.member(rec, fname) + f" of {names.record(rec)}"
    return code(key)


def _constant_view(spec: Spec, c: Constant, kind: str, scope: str | None) -> ConstantView:
    return ConstantView(
        c.name,
        "c:enumerator" if scope else "c:macro",
        f"{scope}.{c.name}" if scope else c.name,
        code(_value(c, kind)),
        text(c.doc),
        release_text(spec, c.since, c.until),
    )


def _registries(spec: Spec, names: _Names) -> tuple[list[ScopeView], list[list[str]], list[str]]:
    scopes = []
    for sc in spec.scopes.values():
        rows = [
            [
                names.constant(c.name),
                str(c.id),
                str(c.version),
                _type_word(spec, names, c.type) if c.type else "(header only)",
                text(release_text(spec, c.since, c.until)),
            ]
            for c in spec.capabilities.values()
            if c.scope == sc.name
        ]
        scopes.append(
            ScopeView(
                "caps-" + slug(sc.name),
                sc.name,
                names.request(sc.request),
                names.record(sc.header),
                (
                    names.member(spec.requests[sc.request].arg_type or "", sc.offset)
                    if sc.request in spec.requests
                    else code(sc.offset)
                ),
                names.constant(sc.flag),
                rows,
            )
        )
    features = [
        [
            names.constant(f.name),
            str(f.index),
            ", ".join(code(o) for o in f.ops),
            _type_word(spec, names, f.type) if f.type else "(none)",
            names.fd(f.result_fd) if f.result_fd else "",
            text(release_text(spec, f.since, f.until)),
        ]
        for f in spec.features.values()
    ]
    carriers = sorted(
        {r.name for r in spec.requests.values() if r.arg_type in _feature_records(spec)}
    )
    return scopes, features, [names.request(n) for n in carriers]


def _feature_records(spec: Spec) -> set[str]:
    return {t.record for t in spec.tails.values() if t.selector == "feature"}


def _errata(spec: Spec, names: _Names) -> list[tuple[str, ErratumView]]:
    out = []
    for e in spec.errata:
        kw, _, ident = e.subject.partition(" ")
        subject = (
            names.request(e.subject)
            if e.subject in spec.requests
            else (f"{kw} {names.record(ident)}" if ident in spec.records else code(e.subject))
        )
        out.append(
            (
                e.subject,
                ErratumView(
                    subject, loc_text(e.loc), e.kind, code(e.claim), linked(e.truth, names.link)
                ),
            )
        )
    return out


def _changelog(spec: Spec, names: _Names) -> tuple[list[ReleaseChanges], str]:
    """Per release (newest first): what appeared and what vanished, from the
    since/until the history wrote into the spec."""
    events: dict[str, dict[str, list[str]]] = {}

    def add(release: str | None, what: str, markup: str) -> None:
        if release:
            events.setdefault(release, {}).setdefault(what, []).append(markup)

    for r in spec.requests.values():
        add(r.since, "requests added", names.request(r.name))
        add(r.until, "requests removed", code(r.name))
    for rec in spec.records.values():
        if rec.anonymous:
            continue
        add(rec.since, "types added", names.record(rec.name))
        add(rec.until, "types removed", code(rec.name))
        for m in members(rec, spec.records, spec.abis).values():
            if m.field.since != rec.since:
                add(m.field.since, "fields added", names.member(rec.name, m.name))
            add(m.field.until, "fields removed", code(f"{rec.name}.{m.name}"))
    for c in spec.constants.values():
        add(c.since, "constants added", names.constant(c.name))
        add(c.until, "constants removed", code(c.name))
    for cap in spec.capabilities.values():
        add(cap.since, "capabilities added", names.constant(cap.name))
    for f in spec.features.values():
        add(f.since, "device features added", names.constant(f.name))
    releases = sorted(events, key=version_key, reverse=True)
    if spec.history:
        note = (
            f"From the release history over {len(spec.history)} pinned releases "
            f"({', '.join(spec.history)}); {spec.history[0]} is the oldest, so what it lists "
            f"was there at or before {spec.history[0]}."
        )
    else:
        note = (
            "No release history was computed for this spec (`vfiogen history "
            "--write-spec`), so since/until are unknown except the overlay's kernel "
            "versions of some requests, listed here."
        )
    order = [
        "requests added",
        "requests removed",
        "types added",
        "types removed",
        "fields added",
        "fields removed",
        "constants added",
        "constants removed",
        "capabilities added",
        "device features added",
    ]
    out = [
        ReleaseChanges(rel, [ChangeGroup(w, events[rel][w]) for w in order if w in events[rel]])
        for rel in releases
    ]
    return out, note


# --- rendering ------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vfiogen.templates", "docs"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    return env


def render_docs(spec: Spec) -> dict[str, str]:
    """{"docs/<page>": source}: the Sphinx project of the reference docs."""
    model = build(spec)
    env = environment()

    def page(template: str, **context: Any) -> str:
        return env.get_template(template).render(site=model, **context)

    out = {
        "conf.py": page("conf.py.j2"),
        "_static/favicon.svg": page("favicon.svg.j2"),
        "index.md": page("index.md.j2"),
        "types/index.md": page("types_index.md.j2"),
        "constants.md": page("constants.md.j2"),
        "capabilities.md": page("capabilities.md.j2"),
        "features.md": page("features.md.j2"),
        "errata.md": page("errata.md.j2"),
        "changelog.md": page("changelog.md.j2"),
    }
    for fd in model.fd_pages:
        out[f"{fd.docname}.md"] = page("fd.md.j2", page=fd)
    for r in model.requests:
        out[f"{r.docname}.md"] = page("request.md.j2", page=r)
    for t in model.types:
        out[f"{t.docname}.md"] = page("type.md.j2", page=t)
    return {f"{ROOT}/{path}": body for path, body in out.items()}
