"""Render templates into an output tree, black-formatted and reproducible.

`render_tree` returns {relative path: text} without touching the disk;
`write_tree` stages it in a temporary directory inside the output and moves
each part into place only when everything rendered, so a failure leaves the
previous output intact; `stale` compares a tree with what is on disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from vfiogen.emit.bindings.build import render_bindings
from vfiogen.emit.docs.build import render_docs
from vfiogen.emit.fuzz.build import render_fuzz
from vfiogen.emit.reports.coverage import coverage_text
from vfiogen.inputs.proof import Proof
from vfiogen.ir.codec import to_json
from vfiogen.ir.model import Spec


def render_tree(spec: Spec, proof: Proof | None = None) -> dict[str, str]:
    """{relative path: text} of everything `vfiogen build` writes; the docs
    cite the hardware tier's `proof` when given."""
    out = render_bindings(spec)
    out["spec.json"] = to_json(spec)
    out["report.txt"] = coverage_text(spec)
    out.update(render_docs(spec, proof, out))
    out.update(render_fuzz(spec))
    return out


def stale(tree: dict[str, str], root: Path) -> list[str]:
    """Paths whose content on disk differs from `tree`, and files left over
    inside the directories the tree owns (vfio/, docs/, ...)."""
    bad = [
        p for p, text in tree.items() if not (root / p).is_file() or (root / p).read_text() != text
    ]
    for top in sorted({p.split("/", 1)[0] for p in tree if "/" in p}):
        for path in sorted((root / top).rglob("*")) if (root / top).is_dir() else []:
            rel = str(path.relative_to(root))
            if path.is_file() and "__pycache__" not in path.parts and rel not in tree:
                bad.append(rel)
    return bad


def write_tree(tree: dict[str, str], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".vfiogen-", dir=root))
    try:
        for rel, text in tree.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        # The package directory is replaced whole, so no stale module survives.
        tops = sorted({rel.split("/", 1)[0] for rel in tree})
        for top in tops:
            src, dst = staging / top, root / top
            if src.is_dir():
                old = None
                if dst.exists():
                    old = root / f".{top}.old"
                    if old.exists():
                        shutil.rmtree(old)
                    dst.rename(old)
                src.rename(dst)
                if old is not None:
                    shutil.rmtree(old)
            else:
                os.chmod(src, 0o644)
                os.replace(src, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
