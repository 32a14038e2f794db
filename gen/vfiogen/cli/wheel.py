"""`vfiogen wheel`: the `vfio` package of one source as an installable wheel
(`pip install DIR/vfio-*.whl`), built with the standard library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfiogen.cli.common import add_source_args
from vfiogen.cli.compile import compile_from_args
from vfiogen.emit.bindings.build import render_bindings
from vfiogen.emit.bindings.wheel import write_wheel

HELP = "write a wheel of the vfio package into --out"
DESCRIPTION = (
    "Build one wheel of the generated vfio package (pure Python, standard library "
    "only at runtime, typed) for the source; version KERNEL+vfiogenVERSION."
)


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--out", default="dist", help="output directory (default: %(default)s)")


def run(a: argparse.Namespace) -> int:
    spec = compile_from_args(a, with_history=True)
    path = write_wheel(spec, render_bindings(spec), Path(a.out))
    if not a.quiet:
        print(f"vfiogen: wrote {path}", file=sys.stderr)
    return 0
