"""`vfiogen history`, computed: the pins' history (or its cached copy),
the overlay's exact versions, rendered."""

from __future__ import annotations

import argparse
import sys

from vfiogen.analyses import history
from vfiogen.cli.common import emit, write_atomic
from vfiogen.emit.reports import diff as diff_render
from vfiogen.errors import Loc, SourceError, VfiogenError
from vfiogen.ir.codec import to_json


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
