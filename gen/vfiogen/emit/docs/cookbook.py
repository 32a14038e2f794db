"""The cookbook: hand-written pages of runnable programs in
templates/docs/cookbook/ (like the runtime in templates/vfio/), each shipped
as written plus, at its end, the requests its code issues; each request
page links back to the recipes that issue it.

Each page starts with HEADER; a `% needs: edu, cdev` comment says what the
guest tier must have to run its blocks (tests/hardware/guest/test_docs_examples.py
reads it from the built sources), a `% requires: NAME, ...` comment the
header names (requests, constants, types) it uses: a page ships when the
spec defines them all, as a runtime module does. Which requests a page's
code issues is read from its python blocks by the Python reference's own
reading of the package (pyapi.Package.program): calls of vfio.api objects,
followed into the package, and direct vfio.requests calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vfiogen.data import data_dir
from vfiogen.emit.bindings.runtime import defined_names
from vfiogen.emit.docs.facts import fd_kind
from vfiogen.emit.docs.myst import role, text as plain
from vfiogen.emit.docs.names import Names
from vfiogen.emit.docs.pyapi import Package
from vfiogen.emit.docs.view import CookbookPage, Fact
from vfiogen.errors import DocsError, Loc
from vfiogen.ir.model import Spec

HEADER = (
    "% The cookbook, written by hand in templates/docs/cookbook/;"
    " vfiogen adds the requests its code issues."
)
INDEX = "cookbook/index"
REQUIRES = re.compile(r"^% requires: (.+)$", re.M)
PYTHON_BLOCK = re.compile(r"^(`{3,})python\n(.*?)^\1$", re.S | re.M)
"""A fenced python block, as the guest tier finds the blocks it runs."""


@dataclass(slots=True)
class Recipe:
    """One page as written, and where it was read from."""

    path: Path
    text: str


def cookbook_dir() -> Path:
    return data_dir("templates") / "docs" / "cookbook"


def pages(spec: Spec, root: Path | None = None) -> dict[str, Recipe]:
    """{"cookbook/<page>.md": recipe} of the pages this spec's package can run,
    every page checked for its header."""
    root = root or cookbook_dir()
    defined = defined_names(spec)
    out = {}
    for path in sorted(root.glob("*.md")):
        text = path.read_text()
        if not text.startswith(HEADER + "\n"):
            raise DocsError(Loc(str(path), 1), f"expected the cookbook header line {HEADER!r}")
        requires = [n.strip() for m in REQUIRES.finditer(text) for n in m.group(1).split(",")]
        if all(n in defined for n in requires):
            out[f"cookbook/{path.name}"] = Recipe(path, text)
    if f"{INDEX}.md" not in out:
        raise DocsError(Loc(str(root)), "expected index.md, the cookbook's table of contents")
    return out


def program(text: str) -> str:
    """A page's python blocks as one module, each line on the line the page
    has it (the rest blank): the blocks run in order in one namespace, and a
    parse error names the page's own line."""
    lines = [""] * (text.count("\n") + 1)
    for m in PYTHON_BLOCK.finditer(text):
        first = text.count("\n", 0, m.start(2))
        for i, line in enumerate(m.group(2).splitlines()):
            lines[first + i] = line
    return "\n".join(lines)


def link(
    spec: Spec, names: Names, package: Package, recipes: dict[str, Recipe], order: list[str]
) -> tuple[list[CookbookPage], dict[str, list[str]]]:
    """The pages, each with the requests its code issues (by fd kind, in
    `order`: the fd pages' call order), and request -> the pages that issue it."""
    rank = {name: i for i, name in enumerate(order)}
    out: list[CookbookPage] = []
    used_in: dict[str, list[str]] = {}
    for path, recipe in recipes.items():
        docname = path.removesuffix(".md")
        module = "cookbook." + Path(path).stem
        issued = package.program(module, str(recipe.path), program(recipe.text))
        ordered = sorted(issued, key=lambda r: (rank.get(r, len(rank)), r))
        for request in ordered:
            used_in.setdefault(request, []).append(role("doc", f"/{docname}"))
        out.append(CookbookPage(path, recipe.text, _by_fd(spec, names, ordered)))
    return out, used_in


def _by_fd(spec: Spec, names: Names, requests: list[str]) -> list[Fact]:
    """One fact per fd kind, in the order the requests come: its requests."""
    groups: dict[str, list[str]] = {}
    for name in requests:
        kind = spec.requests[name].fd or "unknown"
        groups.setdefault(kind, []).append(names.request(name))
    return [Fact(plain(fd_kind(spec, k).title), ", ".join(rs)) for k, rs in groups.items()]
