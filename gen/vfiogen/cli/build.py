"""`vfiogen build`: the whole output tree (the vfio package, the spec, the
report, the docs' sources, the fuzz harnesses); `--check` says whether the
tree on disk is stale instead of writing it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfiogen.cli.common import add_source_args
from vfiogen.cli.compile import compile_from_args
from vfiogen.emit import tree
from vfiogen.inputs import proof

HELP = "write the vfio package, spec and report into --out"


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--out", default="generated", help="output directory (default: %(default)s)")
    p.add_argument(
        "--check", action="store_true", help="compare with --out without writing; exit 1 when stale"
    )


def run(a: argparse.Namespace) -> int:
    files = tree.render_tree(compile_from_args(a, with_history=True), proof.snapshot())
    out = Path(a.out)
    if a.check:
        bad = tree.stale(files, out)
        for path in bad:
            print(f"vfiogen: {out / path} is stale", file=sys.stderr)
        if not bad and not a.quiet:
            print(f"vfiogen: {out} is up to date ({len(files)} files)", file=sys.stderr)
        return 1 if bad else 0
    tree.write_tree(files, out)
    if not a.quiet:
        print(f"vfiogen: wrote {len(files)} files to {out}", file=sys.stderr)
    return 0
