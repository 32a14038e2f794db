"""`vfiogen history`: the pinned release in which each entity appeared and
vanished; with NAMEs, their since/until."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfiogen.analyses import history
from vfiogen.cli.common import emit, write_atomic
from vfiogen.cli.diff import output_arguments
from vfiogen.emit.reports import diff as diff_render
from vfiogen.errors import Loc, SourceError, VfiogenError
from vfiogen.ir.codec import to_json

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


def run(a: argparse.Namespace) -> int:
    h = history.of_pins(quiet=a.quiet)
    target = a.release or h.releases[-1]
    if target not in h.releases:
        raise SourceError(
            Loc("--release"), f"unknown release {target!r}; pinned: {', '.join(h.releases)}"
        )
    compiled = history.compile_pin(target, a.quiet)
    newest = compiled if target == h.releases[-1] else history.compile_pin(h.releases[-1], a.quiet)
    exact, conflicts = history.exact_since(compiled, h)
    if newest is not compiled:
        exact = {**history.exact_since(newest, h)[0], **exact}
    if not a.quiet:
        for c in conflicts:
            print(f"vfiogen: warning: {c}", file=sys.stderr)
    names = a.names or None
    if names:
        missing = [n for n in names if not h.find(n)]
        if missing:
            raise VfiogenError(
                None,
                f"{missing[0]}: not a request, type, type.field, constant, flag or capability "
                f"of any pinned release",
            )
    if a.write_spec:
        write_atomic(a.write_spec, to_json(history.dated(compiled, h)[0]))
    emit(a.output, diff_render.render_history(h, a.format, names, exact))
    return 0
