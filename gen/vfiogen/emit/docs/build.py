"""The reference docs of a spec: the pages, and every decision they print.

Builder: Sphinx with MyST Markdown and Sphinx's own alabaster theme.
Sphinx because the kernel documents itself with it and its C domain is the
index VFIO needs: each request, struct, member and constant is declared as
a C object (`c:macro`, `c:struct`, `c:member`, ...), so the builder's own
search finds it by name, its roles make every cross-link, and nitpicky mode
fails the build on a link that does not resolve. MyST because pipe tables
and fenced code keep the generated pages readable in review. alabaster
because it needs no other package and builds ~160 pages in a third of
furo's time (furo re-parses the whole navigation tree for every page).
mkdocs-material has no object index (search would be full text only, links
plain URLs) and is in maintenance mode.

`build(spec)` decides the pages: which exist, in which order a program
calls the requests of each fd kind (docs_facts), each request's facts and
the Python that covers it (pyapi, pyref) and the cookbook recipes whose code
issues it (cookbook), with structs (docs_types) and registries (docs_registry)
built beside it; `render_docs(spec)` fills templates/docs/ with that model:
{"docs/<page>": text}, the Sphinx project including its conf.py and the
cookbook's runnable pages, each ending with the requests its code issues.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfiogen.ir.abi import ABIS
from vfiogen.emit import templating
from vfiogen.emit.docs.facts import (
    fd_kind,
    ARG_TEXT,
    ARGSZ_TEXT,
    OTHER_PHASE,
    RESULT_TEXT,
    SUMMARY_CHARS,
)
from vfiogen.emit.bindings import model as bindings_model
from vfiogen.emit.bindings.build import render_bindings
from vfiogen.emit.docs import cookbook, pyapi, pyref
from vfiogen.emit.docs.proof import proof_page, request_facts
from vfiogen.emit.docs.names import Names, loc_text, release_text, stamp
from vfiogen.emit.docs.registry import changelog, constant_groups, errata_views, registries
from vfiogen.emit.docs.types import layouts, member_views, tails, type_page, uses
from vfiogen.emit.docs.view import (
    DocsModel,
    ErratumView,
    Fact,
    FdPage,
    NumberRow,
    PageRef,
    Phase,
    RequestPage,
    RequestRow,
)
from vfiogen.emit.docs.myst import code, linked, prose, role, slug, text
from vfiogen.ir.query import members
from vfiogen.errors import DocsError
from vfiogen.inputs.proof import Proof
from vfiogen.ir.model import FD_KINDS, Record, Request, Spec, TypeRef

ROOT = "docs"


def build(
    spec: Spec,
    proof: Proof | None = None,
    package: dict[str, str] | None = None,
    *,
    cookbook_root: Path | None = None,
) -> DocsModel:
    """The docs of `spec`; `package` is the rendered `vfio` package
    ({"vfio/x.py": text}) the Python reference and the cookbook's links read
    (rendered when None); `cookbook_root` the recipes (templates/docs/cookbook/)."""
    names = Names(spec)
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
    errata = errata_views(spec, names)
    model.errata = [e for _, e in errata]
    users = uses(spec, names)
    model.requests = [_request_page(spec, names, r, errata) for r in _ordered_requests(spec)]
    for page in model.requests:
        page.proof = request_facts(proof, page.name)
    model.fd_pages = _fd_pages(spec, names)
    model.all_requests = sorted(
        (row for page in model.fd_pages for ph in page.phases for row in ph.requests),
        key=lambda r: r.name,
    )
    model.types = [
        type_page(spec, names, rec, users.get(rec.name, []), errata)
        for rec in spec.records.values()
        if not rec.anonymous
    ]
    package_read = pyapi.Package(spec, render_bindings(spec) if package is None else package)
    _python(spec, names, model, package_read)
    model.cookbook, used_in = cookbook.link(
        spec,
        names,
        package_read,
        cookbook.pages(spec, cookbook_root),
        [p.name for p in model.requests],
    )
    for page in model.requests:
        page.cookbook = used_in.get(page.name, [])
    model.constants = constant_groups(spec, names)
    model.scopes, model.features, model.feature_types = registries(spec, names)
    model.changelog, model.changelog_note = changelog(spec, names)
    model.pages = (
        [PageRef(p.docname, p.title) for p in model.fd_pages]
        + [
            PageRef(cookbook.INDEX, "Cookbook"),
            PageRef("types/index", "Structs and unions"),
            PageRef("constants", "Constants, flags and enums"),
            PageRef("capabilities", "Capability chains"),
            PageRef("features", "Device features"),
            PageRef("errata", "Header errata"),
            PageRef("changelog", "Changelog"),
        ]
        + [PageRef(p.docname, p.name) for p in model.python]
    )
    if model.python_abi is not None:
        model.pages.append(PageRef(pyref.docname(pyref.ABI_MODULE), pyref.ABI_MODULE))
    if proof is not None:
        model.proof = proof_page(spec, names, proof)
        model.pages.append(PageRef("proof", "Proven on real kernels"))
    _check_unique(model)
    return model


def _python(spec: Spec, names: Names, model: DocsModel, package: pyapi.Package) -> None:
    """The Python reference, and its links to and from the ABI pages."""
    modules = pyapi.modules(package)
    model.python = pyref.module_pages(modules, names)
    users = pyref.request_users(modules, names)
    for page in model.requests:
        page.python = users.get(page.name, [])
    py = bindings_model.build(spec)
    model.python_abi = pyref.abi_page(spec, names, py)
    for t in model.types:
        t.py_class, t.python = pyref.type_facts(py, t.name)
    model.python_ignore = pyref.undocumented_targets(
        model.python, model.python_abi, [t.py_class for t in model.types if t.py_class]
    )


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
    return [k for k in [*FD_KINDS, "unknown"] if k in used]  # the IR's order


def _phases(spec: Spec, kind: str) -> list[tuple[str, list[Request]]]:
    mine = [r for r in spec.requests.values() if (r.fd or "unknown") == kind]
    listed: set[str] = set()
    out: list[tuple[str, list[Request]]] = []
    for title, order in fd_kind(spec, kind).phases:
        rs = [spec.requests[n] for n in order if n in spec.requests and spec.requests[n] in mine]
        listed.update(r.name for r in rs)
        if rs:
            out.append((title, rs))
    rest = [r for r in mine if r.name not in listed]  # newer than this table: header order
    if rest:
        out.append((OTHER_PHASE, rest))
    return out


def _request_row(spec: Spec, names: Names, r: Request) -> RequestRow:
    summary = r.doc.summary if r.doc is not None and r.doc.summary else _short(r.note)
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


def _short(note: str) -> str:
    """The overlay's note cut to a table cell, for a request without kernel-doc."""
    first = note.split(";")[0].strip()
    if len(first) <= SUMMARY_CHARS:
        return first
    return first[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " ..."


def _fd_pages(spec: Spec, names: Names) -> list[FdPage]:
    pages = []
    for kind in _fd_kinds(spec):
        fk = fd_kind(spec, kind)
        opened = [fk.opened]  # our own markup: code spans kept
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
    spec: Spec, names: Names, r: Request, errata: list[tuple[str, ErratumView]]
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
    tables = layouts(spec, rec, names, r.directions, "args-" + slug(r.name)) if rec else []
    mems = member_views(spec, rec, names, r.directions) if rec else []
    return RequestPage(
        name=r.name,
        docname=f"requests/{r.name}",
        summary=linked(summary, names.link),
        numbers=_numbers(spec, r),
        facts=facts,
        arg_type=names.record(rec.name) if rec else None,
        layouts=tables,
        members=mems,
        tails=tails(spec, rec, names) if rec else [],
        doc=blocks,
        doc_sections=[
            Fact(k, linked(v, names.link)) for k, v in (doc.sections if doc else {}).items()
        ],
        signature=code(doc.signature) if doc is not None and doc.signature else "",
        errata=[e for subj, e in errata if subj == r.name],
        errors=[Fact(code(e), linked(why, names.link)) for e, why in sorted(r.errors.items())],
    )


def _minsz(spec: Spec, rec: Record, name: str, names: Names) -> str:
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


# --- rendering ------------------------------------------------------------------------


def render_docs(
    spec: Spec,
    proof: Proof | None = None,
    package: dict[str, str] | None = None,
    *,
    cookbook_root: Path | None = None,
) -> dict[str, str]:
    """{"docs/<page>": source}: the Sphinx project of the reference docs; with
    the hardware tier's `proof`, where each request was proven; the Python
    reference from the rendered `package` (rendered here when None); the
    cookbook from `cookbook_root` (templates/docs/cookbook/ when None)."""
    model = build(spec, proof, package, cookbook_root=cookbook_root)

    def page(template: str, **context: Any) -> str:
        return templating.render(f"docs/{template}", site=model, **context)

    out = {
        "conf.py": templating.black_format(page("conf.py.j2")),
        "_static/favicon.svg": page("favicon.svg.j2"),
        "_static/custom.css": page("custom.css.j2"),
        "_static/scorer.js": page("scorer.js.j2"),
        "index.md": page("index.md.j2"),
        "types/index.md": page("types_index.md.j2"),
        "constants.md": page("constants.md.j2"),
        "capabilities.md": page("capabilities.md.j2"),
        "features.md": page("features.md.j2"),
        "errata.md": page("errata.md.j2"),
        "changelog.md": page("changelog.md.j2"),
    }
    if model.proof is not None:
        out["proof.md"] = page("proof.md.j2", page=model.proof)
    for fd in model.fd_pages:
        out[f"{fd.docname}.md"] = page("fd.md.j2", page=fd)
    for r in model.requests:
        out[f"{r.docname}.md"] = page("request.md.j2", page=r)
    for t in model.types:
        out[f"{t.docname}.md"] = page("type.md.j2", page=t)
    for p in model.python:
        out[f"{p.docname}.md"] = page("py_module.md.j2", page=p)
    for recipe in model.cookbook:
        out[recipe.path] = page("cookbook.md.j2", page=recipe)
    if model.python_abi is not None:
        out[f"{pyref.docname(pyref.ABI_MODULE)}.md"] = page("py_abi.md.j2", page=model.python_abi)
    return {f"{ROOT}/{path}": body for path, body in out.items()}
