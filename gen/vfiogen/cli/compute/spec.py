"""`vfiogen spec`, computed: the spec compiled (or read from the spec cache),
dated when it is a pinned release, as JSON."""

from __future__ import annotations

import argparse

from vfiogen.cli.common import emit
from vfiogen.cli.compile import compile_from_args
from vfiogen.ir.codec import to_json


def run(a: argparse.Namespace) -> int:
    emit(a.output, to_json(compile_from_args(a, with_history=True)))
    return 0
