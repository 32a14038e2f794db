"""`vfiogen diff OLD NEW`, computed: both sides compiled (or read), compared,
rendered."""

from __future__ import annotations

import argparse

from vfiogen import pipeline
from vfiogen.analyses.diff.compare import diff
from vfiogen.cli.common import emit, overlay_files, source_of_word
from vfiogen.cli.diff import abis_of, spec_file
from vfiogen.emit.reports import diff as diff_render
from vfiogen.errors import DiffError, Loc, SourceError
from vfiogen.ir.abi import DEFAULT_ABIS
from vfiogen.ir.codec import from_json
from vfiogen.ir.model import Spec


def load_side(word: str, a: argparse.Namespace, abis: tuple[str, ...] | None) -> Spec:
    """One side of the diff: a spec JSON file as it is, anything else compiled."""
    path = spec_file(word)
    if path is not None:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(Loc(word), f"cannot read spec: {exc}") from None
        return from_json(text, word)
    src = source_of_word(a, word)
    return pipeline.compile_spec(src, abis or DEFAULT_ABIS, overlay_files(a, src), warn=not a.quiet)


def run(a: argparse.Namespace) -> int:
    abis = abis_of(a)
    old = load_side(a.old, a, abis)
    new = load_side(a.new, a, abis)
    try:
        report = diff(old, new, a.old, a.new, abis)
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        # A spec JSON that passed the schema checks but is inconsistent must
        # not crash with status 1, which means "breaking" to a CI gate.
        raise DiffError(None, f"inconsistent spec ({type(exc).__name__}: {exc})") from None
    emit(a.output, diff_render.render_diff(report, a.format))
    return 1 if report.breaking else 0
