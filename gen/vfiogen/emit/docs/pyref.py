"""The Python reference pages and their links to the ABI pages: one page per
public module of `vfio` (from pyapi, i.e. the rendered package's code and
docstrings), the vfio.abi page of enum and flag classes, and both directions
of every link: a request page names what covers it (an API object that issues
it, its vfio.requests function), an API entry the requests it issues, a type
page its Python classes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from vfiogen.emit.bindings.model import PyModel
from vfiogen.emit.docs.examples import NEEDS as EXAMPLE_NEEDS
from vfiogen.emit.docs.examples import python_blocks, runnable
from vfiogen.emit.docs.myst import code, docstring, role
from vfiogen.emit.docs.names import Names
from vfiogen.emit.docs.pyapi import PyEntry, PyModule
from vfiogen.emit.pyparse import parse_module
from vfiogen.emit.docs.view import (
    Fact,
    PyAbiPage,
    PyEnumView,
    PyModulePage,
    PyObjectView,
)
from vfiogen.ir.model import Spec

ABI_MODULE = "vfio.abi"
DIRECTIVES = {
    "class": "py:class",
    "function": "py:function",
    "method": "py:method",
    "classmethod": "py:method",
    "staticmethod": "py:method",
    "property": "py:property",
    "attribute": "py:attribute",
    "data": "py:data",
}
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def docname(module: str) -> str:
    return f"python/{module}"


def module_pages(modules: list[PyModule], names: Names) -> list[PyModulePage]:
    """One page per module; an object another public module defines is
    listed there and only named here (one declaration per object)."""
    public = {m.name for m in modules}
    pages = []
    for mod in modules:
        objects: list[PyObjectView] = []
        reexports: list[str] = []
        for entry in mod.entries:
            home = entry.defined_in.rsplit(".", 1)[0]
            if home != mod.name and home in public:
                reexports.append(role("py:obj", f"{home}.{entry.name}", entry.name))
                continue
            objects += _objects(entry, names, mod.name)
        title = f"`{mod.name}`"
        doc = python_blocks(docstring(mod.doc, names.link), mod.name)
        runs = runnable(doc) or any(runnable(o.doc) for o in objects)
        pages.append(
            PyModulePage(
                mod.name,
                docname(mod.name),
                title,
                doc,
                objects,
                reexports,
                list(EXAMPLE_NEEDS) if runs else [],
            )
        )
    return pages


def _objects(entry: PyEntry, names: Names, module: str) -> list[PyObjectView]:
    options = []
    signature = entry.signature
    if entry.kind in ("classmethod", "staticmethod"):
        options.append(f":{entry.kind}:")
    if entry.coroutine:
        options.append(":async:")
    if entry.kind in ("property", "attribute", "data"):
        if signature:
            options.append(f":type: {signature}")
        signature = ""
    view = PyObjectView(
        DIRECTIVES[entry.kind],
        entry.name,
        signature,
        options,
        python_blocks(docstring(entry.doc, names.link), module),
        [names.request(r) for r in entry.requests],
        heading=entry.name if entry.kind == "class" else None,
    )
    out = [view]
    for member in entry.members:
        out += _objects(member, names, module)
    return out


def request_users(modules: list[PyModule], names: Names) -> dict[str, list[Fact]]:
    """request -> one fact per module: the objects that issue it."""
    users: dict[str, dict[str, list[str]]] = {}
    public = {m.name for m in modules}
    for mod in modules:
        for entry in _flat(mod.entries):
            home = entry.defined_in.rsplit(".", 1)[0]
            if home != mod.name and home in public and "." not in entry.name:
                continue  # listed under its own module
            for request in entry.requests:
                link = role("py:obj", f"{mod.name}.{entry.name}", _shown(entry))
                users.setdefault(request, {}).setdefault(mod.name, []).append(link)
    return {
        request: [Fact(code(module), ", ".join(links)) for module, links in by_module.items()]
        for request, by_module in users.items()
    }


def _flat(entries: Iterable[PyEntry]) -> Iterable[PyEntry]:
    for e in entries:
        yield e
        yield from _flat(e.members)


def _shown(entry: PyEntry) -> str:
    return entry.name + ("()" if entry.kind not in ("property", "attribute", "data") else "")


def abi_page(spec: Spec, names: Names, model: PyModel) -> PyAbiPage:
    structs = [
        (r.name, names.record(r.cname))
        for r in model.records
        if r.cname in spec.records and not spec.records[r.cname].anonymous
    ]
    enums = []
    for e in model.enums:
        members = [(m.name, names.constant(m.cname)) for m in e.members]
        fields = []
        for f in e.fields:
            rec, _, member = f.partition(".")
            fields.append(names.member(rec, member) if rec in names.records else code(f))
        enums.append(
            PyEnumView(
                e.name,
                e.base,
                docstring(e.doc, names.link)[0].body if e.doc else "",
                members,
                fields,
            )
        )
    return PyAbiPage(structs, enums)


def type_facts(model: PyModel, cname: str) -> tuple[str, list[Fact]]:
    """A type page's ctypes class (declared there) and the enum and flag
    classes its fields take (declared on the vfio.abi page)."""
    rec = next((r for r in model.records if r.cname == cname), None)
    if rec is None:
        return "", []
    facts = [Fact("ctypes class", role("py:class", f"{ABI_MODULE}.{rec.name}"))]
    for field_name, cls in rec.values.items():
        facts.append(Fact(f"`{field_name}` values", role("py:class", f"{ABI_MODULE}.{cls}")))
    return f"{ABI_MODULE}.{rec.name}", facts


def undocumented_targets(
    pages: list[PyModulePage], abi: PyAbiPage | None, structs: Iterable[str]
) -> list[str]:
    """The names the signatures mention that no page declares (typing names,
    the standard library): Sphinx's nitpicky mode is told to accept exactly these."""
    declared = {f"{p.name}.{o.target}" for p in pages for o in p.objects}
    declared |= {f"{ABI_MODULE}.{e.name}" for e in abi.enums} if abi else set()
    declared |= set(structs)
    out: set[str] = set()
    for page in pages:
        for o in page.objects:
            text = o.signature + " " + " ".join(x for x in o.options if x.startswith(":type:"))
            for name in _annotation_names(text.replace(":type:", "")):
                if not any(d == name or d.endswith("." + name) for d in declared):
                    out.add(name)
    return sorted(out)


def _annotation_names(text: str) -> set[str]:
    """Dotted names in a signature's annotations (not its defaults)."""
    text = text.strip()
    if not text:
        return set()
    source = f"def f{text}: ..." if text.startswith("(") else f"x: {text}"
    try:
        tree = parse_module(source)
    except SyntaxError:
        return set(_DOTTED.findall(text))
    out = set()
    for node in ast.walk(tree):
        ann: list[ast.expr] = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            ann.append(node.annotation)
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            ann.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            ann.append(node.annotation)
        for a in ann:
            out |= set(_DOTTED.findall(ast.unparse(a)))
    return out
