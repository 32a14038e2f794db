"""The cookbook: hand-written pages of runnable programs, shipped as they are
from templates/docs/cookbook/ (like the runtime in templates/vfio/). Each
page starts with HEADER; a `% needs: edu, cdev` comment says what the guest
tier must have to run its blocks (tests/hardware/guest/test_docs_examples.py
reads it from the built sources), a `% requires: NAME, ...` comment the
header names (requests, constants, types) it uses: a page ships when the
spec defines them all, as a runtime module does."""

from __future__ import annotations

import re
from pathlib import Path

from vfiogen.data import data_dir
from vfiogen.emit.bindings.runtime import defined_names
from vfiogen.errors import DocsError, Loc
from vfiogen.ir.model import Spec

HEADER = (
    "% The cookbook, not generated: vfiogen copies this page as is from templates/docs/cookbook/."
)
INDEX = "cookbook/index"
REQUIRES = re.compile(r"^% requires: (.+)$", re.M)


def cookbook_dir() -> Path:
    return data_dir("templates") / "docs" / "cookbook"


def pages(spec: Spec, root: Path | None = None) -> dict[str, str]:
    """{"cookbook/<page>.md": text} of the pages this spec's package can run,
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
            out[f"cookbook/{path.name}"] = text
    if f"{INDEX}.md" not in out:
        raise DocsError(Loc(str(root)), "expected index.md, the cookbook's table of contents")
    return out
