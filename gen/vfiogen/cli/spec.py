"""`vfiogen spec`: compile a header into the spec JSON."""

from __future__ import annotations

import argparse

from vfiogen.cli.common import add_source_args, compile_from_args, emit
from vfiogen.ir.codec import to_json

HELP = "compile a header into the spec JSON"


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("-o", "--output", help="output file (default: stdout)")


def run(a: argparse.Namespace) -> int:
    emit(a.output, to_json(compile_from_args(a, with_history=True)))
    return 0
