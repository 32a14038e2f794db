"""`vfiogen spec`: compile a header into the spec JSON (`cli.compute.spec`;
a cached answer is replayed without it)."""

from __future__ import annotations

import argparse

from vfiogen.cli.answers import Answer, Parts
from vfiogen.cli.common import add_source_args, overlay_files, parse_abis, resolve_source

HELP = "compile a header into the spec JSON"


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("-o", "--output", help="output file (default: stdout)")


def answer(a: argparse.Namespace) -> Answer | None:
    """Where this answer is kept: the source's spec, and for a pinned release
    the pins' history its since/until come from."""
    src = resolve_source(a)
    parts = Parts("spec", a.quiet)
    parts.source(src, parse_abis(a.abis), overlay_files(a, src))
    if src.release is not None:
        parts.pins(a.quiet)
    return parts.answer()
