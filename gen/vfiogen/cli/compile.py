"""The spec the command line names: what every compiling command shares."""

from __future__ import annotations

import argparse

from vfiogen import pipeline
from vfiogen.analyses import history
from vfiogen.cli.common import overlay_files, parse_abis, resolve_source
from vfiogen.ir.model import Spec


def compile_from_args(a: argparse.Namespace, with_history: bool = False) -> Spec:
    """The spec of the source the arguments name; a pinned release compiled
    `with_history` also gets since/until from the history of all the pins."""
    src = resolve_source(a)
    spec = pipeline.compile_spec(src, parse_abis(a.abis), overlay_files(a, src), warn=not a.quiet)
    if with_history and spec.release is not None:
        spec, _ = history.dated(spec, history.of_pins(quiet=a.quiet))
    return spec
