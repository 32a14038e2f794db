"""`vfiogen diff OLD NEW`: what changed between two sources, and whether it
breaks old users (`cli.compute.diff`; a cached answer is replayed without it).

It exits like check-uapi.sh so it can gate a CI job: 0 nothing breaking,
1 something breaking, 2 an error (a `VfiogenError`, printed as one line by
`cli.main`). OLD and NEW are each a pinned release, a header file, a kernel
tree, GITDIR@REF, or a spec JSON file written by `vfiogen spec`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vfiogen.cli.answers import Answer, Parts
from vfiogen.cli.common import overlay_files, parse_abis, source_of_word
from vfiogen.emit.reports.formats import FORMATS
from vfiogen.errors import Loc, SourceError
from vfiogen.inputs import releases
from vfiogen.ir.abi import DEFAULT_ABIS

HELP = "what changed between two sources, and whether it breaks old users"
DESCRIPTION = (
    "Compare two specs: requests, types, fields, constants, flags, capabilities "
    "and docs, on every ABI. Exit status: 0 nothing breaking, 1 something "
    "breaking, 2 error."
)


def output_arguments(p: argparse.ArgumentParser) -> None:
    """--format, -o and -q, shared with `history`."""
    p.add_argument("--format", choices=FORMATS, default="text")
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


def abis_of(a: argparse.Namespace) -> tuple[str, ...] | None:
    """--abis, or None: every ABI both sides have."""
    return None if a.abis is None else parse_abis(a.abis)


def spec_file(word: str) -> Path | None:
    """The spec JSON file a side names (None: a source to compile)."""
    path = Path(word)
    if word not in releases.load_pins() and path.is_file() and _is_json(path):
        return path
    if path.exists() and not path.is_dir() and not path.is_file():
        raise SourceError(Loc(word), "not a regular file")
    return None


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


def answer(a: argparse.Namespace) -> Answer | None:
    """Where this answer is kept: each side's spec (or spec file's bytes)."""
    abis = abis_of(a)
    parts = Parts("diff", a.old, a.new, a.format, abis, a.quiet)
    parts.templates("diff")
    for word in (a.old, a.new):
        path = spec_file(word)
        if path is None:
            src = source_of_word(a, word)
            parts.source(src, abis or DEFAULT_ABIS, overlay_files(a, src))
            continue
        try:
            parts.data(word, path.read_bytes())
        except OSError:
            return None  # reported by the command itself
    return parts.answer()
