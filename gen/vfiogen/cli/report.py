"""`vfiogen report`: overlay coverage and errata: what is unannotated, where
the header's own comments are wrong."""

from __future__ import annotations

import argparse
import sys

from vfiogen.cli.common import add_source_args
from vfiogen.cli.compile import compile_from_args
from vfiogen.emit.reports.coverage import coverage_text

HELP = "overlay coverage and header errata"


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)


def run(a: argparse.Namespace) -> int:
    sys.stdout.write(coverage_text(compile_from_args(a)))
    return 0
