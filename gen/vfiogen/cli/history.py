"""`vfiogen history`: the pinned release in which each entity appeared and
vanished; with NAMEs, their since/until (`cli.compute.history`; a cached
answer is replayed without it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vfiogen.cli.answers import Answer, Parts
from vfiogen.cli.diff import output_arguments

HELP = "the pinned release in which each entity appeared and vanished"
DESCRIPTION = (
    "Compile every pinned release once and report, per release, which requests, "
    "types, fields, constants and flags appeared or vanished; with NAMEs, their "
    "since/until."
)


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="entities to look up (type.field too)")
    output_arguments(p)
    p.add_argument(
        "--write-spec",
        type=Path,
        metavar="FILE",
        help="also write a release's spec with since/until filled in",
    )
    p.add_argument("--release", help="the release --write-spec writes (default: the newest pinned)")


def answer(a: argparse.Namespace) -> Answer | None:
    """Where this answer is kept: the pins' specs. With --write-spec (a
    second output) it is not kept."""
    if a.write_spec:
        return None
    parts = Parts("history", a.names, a.format, a.release, a.quiet)
    parts.templates("diff")
    parts.pins(a.quiet)
    return parts.answer()
