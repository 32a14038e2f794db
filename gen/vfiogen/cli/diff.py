"""`vfiogen diff OLD NEW` and `vfiogen history`: the command line of the ABI
diff and the release history.

`diff` exits like check-uapi.sh so it can gate a CI job: 0 nothing breaking,
1 something breaking, 2 an error (a `VfiogenError`, printed as one line by
`cli.main`). OLD and NEW are each a pinned release, a header file, a kernel
tree, GITDIR@REF, or a spec JSON file written by `vfiogen spec`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vfiogen import pipeline as compiler
from vfiogen.analyses import history
from vfiogen.inputs import releases
from vfiogen.ir.abi import ABIS, DEFAULT_ABIS
from vfiogen.errors import DiffError, Loc, SourceError, VfiogenError
from vfiogen.ir.model import Spec
from vfiogen.ir.codec import from_json, to_json

FORMATS = ("text", "markdown", "json", "html")  # diff_render.FORMATS, without importing Jinja


def register(subparsers: Any) -> None:
    """Add the `diff` and `history` subcommands to the CLI's subparsers."""
    d = subparsers.add_parser(
        "diff",
        help="what changed between two sources, and whether it breaks old users",
        description=(
            "Compare two specs: requests, types, fields, constants, flags, capabilities "
            "and docs, on every ABI. Exit status: 0 nothing breaking, 1 something "
            "breaking, 2 error."
        ),
    )
    d.add_argument("old", help="a pinned release, header, kernel tree, GITDIR@REF or spec JSON")
    d.add_argument("new", help="the same kinds of source as OLD")
    _output_args(d)
    d.add_argument(
        "-I", dest="includes", action="append", type=Path, default=[], help="include dir (headers)"
    )
    d.add_argument(
        "--abis", default=None, help="comma-separated ABIs to compare (default: all both have)"
    )
    d.add_argument(
        "--overlay", action="append", type=Path, default=None, help="overlay file(s) to use"
    )
    d.add_argument("--no-overlay", action="store_true", help="compile the headers alone")
    d.set_defaults(fn=cmd_diff)

    h = subparsers.add_parser(
        "history",
        help="the pinned release in which each entity appeared and vanished",
        description=(
            "Compile every pinned release once and report, per release, which requests, "
            "types, fields, constants and flags appeared or vanished; with NAMEs, their "
            "since/until."
        ),
    )
    h.add_argument("names", nargs="*", metavar="NAME", help="entities to look up (type.field too)")
    _output_args(h)
    h.add_argument(
        "--write-spec",
        type=Path,
        metavar="FILE",
        help="also write a release's spec with since/until filled in",
    )
    h.add_argument("--release", help="the release --write-spec writes (default: the newest pinned)")
    h.set_defaults(fn=cmd_history)


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or warnings on stderr")


def _emit(a: argparse.Namespace, text: str) -> None:
    from vfiogen.cli.main import write_atomic  # cli imports this module: import late

    if a.output in (None, "-"):
        sys.stdout.write(text)
    else:
        write_atomic(Path(a.output), text)


def _abis(a: argparse.Namespace) -> tuple[str, ...] | None:
    if a.abis is None:
        return None
    abis = tuple(x for x in a.abis.split(",") if x)
    unknown = [x for x in abis if x not in ABIS]
    if unknown or not abis:
        raise VfiogenError(
            None, f"unknown ABI {unknown[0] if unknown else '(none)'}; known: {', '.join(ABIS)}"
        )
    return abis


def load_side(word: str, a: argparse.Namespace, abis: tuple[str, ...] | None) -> Spec:
    """One side of the diff: a spec JSON file as it is, anything else compiled."""
    from vfiogen.cli.main import overlay_files, source_from_word  # cli imports this module: late

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
    return compiler.compile_spec(src, abis or DEFAULT_ABIS, overlay_files(a), warn=not a.quiet)


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


def cmd_diff(a: argparse.Namespace) -> int:
    from vfiogen.analyses import diff
    from vfiogen.emit.reports import diff as diff_render  # the renderers load Jinja: only here

    abis = _abis(a)
    old = load_side(a.old, a, abis)
    new = load_side(a.new, a, abis)
    try:
        report = diff.diff(old, new, a.old, a.new, abis)
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        # A spec JSON that passed the schema checks but is inconsistent must
        # not crash with status 1, which means "breaking" to a CI gate.
        raise DiffError(None, f"inconsistent spec ({type(exc).__name__}: {exc})") from None
    _emit(a, diff_render.render_diff(report, a.format))
    return 1 if report.breaking else 0


def cmd_history(a: argparse.Namespace) -> int:
    from vfiogen.emit.reports import diff as diff_render

    h, specs = history.for_pins(quiet=a.quiet)
    target = a.release or h.releases[-1]
    if target not in specs:
        raise SourceError(
            Loc("--release"), f"unknown release {target!r}; pinned: {', '.join(h.releases)}"
        )
    spec = specs[target]
    newest = specs[h.releases[-1]]
    conflicts = history.annotate(spec, h)
    if spec is not newest:
        history.annotate(newest, h)
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
    exact = {
        name: r.since
        for s in (newest, spec)
        for name, r in s.requests.items()
        if r.since and h.get("request", name) and r.since != h.get("request", name).since
    }
    if a.write_spec:
        from vfiogen.cli.main import write_atomic  # cli imports this module: import late

        write_atomic(a.write_spec, to_json(spec))
    _emit(a, diff_render.render_history(h, a.format, names, exact))
    return 0
