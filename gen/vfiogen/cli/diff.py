"""`vfiogen diff OLD NEW`: what changed between two sources, and whether it
breaks old users.

It exits like check-uapi.sh so it can gate a CI job: 0 nothing breaking,
1 something breaking, 2 an error (a `VfiogenError`, printed as one line by
`cli.main`). OLD and NEW are each a pinned release, a header file, a kernel
tree, GITDIR@REF, or a spec JSON file written by `vfiogen spec`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vfiogen import pipeline
from vfiogen.analyses.diff.compare import diff
from vfiogen.cli.common import emit, overlay_files, parse_abis, source_from_word
from vfiogen.emit.reports import diff as diff_render
from vfiogen.errors import DiffError, Loc, SourceError
from vfiogen.inputs import releases
from vfiogen.ir.abi import DEFAULT_ABIS
from vfiogen.ir.codec import from_json
from vfiogen.ir.model import Spec

HELP = "what changed between two sources, and whether it breaks old users"
DESCRIPTION = (
    "Compare two specs: requests, types, fields, constants, flags, capabilities "
    "and docs, on every ABI. Exit status: 0 nothing breaking, 1 something "
    "breaking, 2 error."
)


def output_arguments(p: argparse.ArgumentParser) -> None:
    """--format, -o and -q, shared with `history`."""
    p.add_argument("--format", choices=diff_render.FORMATS, default="text")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or warnings on stderr")


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="a pinned release, header, kernel tree, GITDIR@REF or spec JSON")
    p.add_argument("new", help="the same kinds of source as OLD")
    output_arguments(p)
    p.add_argument(
        "-I", dest="includes", action="append", type=Path, default=[], help="include dir (headers)"
    )
    p.add_argument(
        "--abis", default=None, help="comma-separated ABIs to compare (default: all both have)"
    )
    p.add_argument(
        "--overlay", action="append", type=Path, default=None, help="a vendor overlay, added"
    )
    p.add_argument("--no-overlay", action="store_true", help="without the shipped overlays")


def load_side(word: str, a: argparse.Namespace, abis: tuple[str, ...] | None) -> Spec:
    """One side of the diff: a spec JSON file as it is, anything else compiled."""
    path = Path(word)
    if word not in releases.load_pins() and path.is_file() and _is_json(path):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(Loc(word), f"cannot read spec: {exc}") from None
        return from_json(text, word)
    if path.exists() and not path.is_dir() and not path.is_file():
        raise SourceError(Loc(word), "not a regular file")
    src = source_from_word(word, a.includes, a.quiet)
    return pipeline.compile_spec(src, abis or DEFAULT_ABIS, overlay_files(a, src), warn=not a.quiet)


def _is_json(path: Path) -> bool:
    """A spec file: named *.json, or text starting with `{` (headers never do)."""
    if path.suffix == ".json":
        return True
    try:
        with path.open("rb") as f:
            head = f.read(256).lstrip()
    except OSError as exc:
        raise SourceError(Loc(str(path)), f"cannot read: {exc.strerror}") from None
    return head.startswith(b"{")


def run(a: argparse.Namespace) -> int:
    abis = None if a.abis is None else parse_abis(a.abis)
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
