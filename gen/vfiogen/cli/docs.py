"""`vfiogen docs`: the reference docs' sources, and their HTML.

`vfiogen docs SOURCE --out DIR` writes the pages into DIR (the same pages
`vfiogen build` writes into generated/docs/); `--html HTMLDIR` then builds them with
Sphinx, nitpicky and with warnings as errors, so a broken cross-reference
fails the build. The committed generated/docs/ builds with the same command
line that `sphinx_command` returns (no recompile):

    python -m sphinx -b html -n -W --keep-going -q generated/docs build/docs-html
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from vfiogen.cli.common import add_source_args
from vfiogen.cli.compile import compile_from_args
from vfiogen.emit.docs import build as docs
from vfiogen.emit.tree import write_tree
from vfiogen.inputs import proof
from vfiogen.errors import DocsError, Loc

BUILDER_MODULES = ("sphinx", "myst_parser")


HELP = "write the reference docs' sources into --out (and build HTML with --html)"
DESCRIPTION = (
    "Render the reference docs (one page per request, struct, fd kind, registry) "
    "from the spec into OUT; with --html, build them with Sphinx."
)


def arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument(
        "--out", default=f"generated/{docs.ROOT}", help="output directory (default: %(default)s)"
    )
    p.add_argument("--html", type=Path, metavar="HTMLDIR", help="also build the HTML into HTMLDIR")
    p.add_argument(
        "-j", "--jobs", default="1", help="Sphinx parallel jobs (default: %(default)s; or auto)"
    )


def run(a: argparse.Namespace) -> int:
    start = time.perf_counter()
    rendered = docs.render_docs(compile_from_args(a, with_history=True), proof.snapshot())
    tree = {path.removeprefix(f"{docs.ROOT}/"): text for path, text in rendered.items()}
    out = Path(a.out)
    write_tree(tree, out)
    took = time.perf_counter() - start
    if not a.quiet:
        print(
            f"vfiogen: wrote {len(tree)} doc sources to {out} ({took:.1f} s)",
            file=sys.stderr,
        )
    if a.html is not None:
        start = time.perf_counter()
        build_html(out, a.html, jobs=a.jobs, quiet=a.quiet)
        if not a.quiet:
            took = time.perf_counter() - start
            print(f"vfiogen: built HTML into {a.html} ({took:.1f} s)", file=sys.stderr)
    return 0


def sphinx_command(src: Path, out: Path, jobs: str = "1") -> list[str]:
    """The one Sphinx command line the CLI, the tests and CI use."""
    return [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-n",  # nitpicky: every reference must resolve
        "-W",  # ... and a warning fails the build
        "--keep-going",  # report every warning, not only the first
        "-q",
        "-j",
        jobs,
        str(src),
        str(out),
    ]


def build_html(src: Path, out: Path, jobs: str = "1", quiet: bool = False) -> None:
    """Run Sphinx on a rendered docs directory; its warnings go to stderr."""
    missing = [m for m in BUILDER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise DocsError(
            None,
            f"{', '.join(missing)} not installed: pip install -e '.[docs]' to build the HTML",
        )
    if not (src / "conf.py").is_file():
        raise DocsError(Loc(str(src)), "no conf.py: not a rendered docs directory")
    cmd = sphinx_command(src, out, jobs)
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL if quiet else None)
    if result.returncode:
        raise DocsError(
            Loc(str(src)), f"Sphinx failed (exit {result.returncode}); its warnings are above"
        )
