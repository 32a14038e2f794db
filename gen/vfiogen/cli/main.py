"""Command line: `vfiogen spec|inspect|report|fetch|releases`.

Every command takes one source, given positionally (a pinned release name,
a header file, a kernel tree, `DIR@REF` for a git ref) or with the explicit
options. Errors are one line `file:line: message` on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

from vfiogen import __version__
from vfiogen import pipeline as compiler
from vfiogen.analyses import history
from vfiogen.emit.reports import inspect
from vfiogen.inputs import releases
from vfiogen.emit.reports import coverage as report
from vfiogen.inputs import sources
from vfiogen.cli import diff as diff_cli
from vfiogen.cli import docs as docs_cli
from vfiogen.ir.abi import ABIS, DEFAULT_ABIS
from vfiogen.errors import Loc, SourceError, VfiogenError
from vfiogen.ir.model import Spec
from vfiogen.ir.codec import to_json


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        nargs="?",
        help="a pinned release (7.2), a header file, a kernel tree, or GITDIR@REF",
    )
    g = p.add_argument_group("source (instead of the positional form)")
    g.add_argument("--header", type=Path, help="a UAPI header file")
    g.add_argument(
        "-I",
        dest="includes",
        action="append",
        type=Path,
        default=[],
        help="include dir for --header",
    )
    g.add_argument("--release", help="a release pinned in headers/releases.toml")
    g.add_argument("--kernel-tree", type=Path, help="a kernel source tree")
    g.add_argument("--git", type=Path, help="a kernel git repository (with --ref)")
    g.add_argument("--ref", help="the git ref to read (with --git)")
    p.add_argument(
        "--abis", default=",".join(DEFAULT_ABIS), help="comma-separated ABIs (default: %(default)s)"
    )
    p.add_argument(
        "--overlay",
        action="append",
        type=Path,
        default=None,
        help="overlay file(s) instead of the shipped ones",
    )
    p.add_argument("--no-overlay", action="store_true", help="compile the header alone")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or warnings on stderr")


def resolve_source(a: argparse.Namespace) -> sources.HeaderSource:
    explicit = [x for x in (a.header, a.release, a.kernel_tree, a.git) if x is not None]
    if len(explicit) + (a.source is not None) > 1:
        raise VfiogenError(
            None, "give one source: positional, --header, --release, --kernel-tree or --git"
        )
    if a.header is not None:
        return sources.from_header(a.header, a.includes)
    if a.release is not None:
        return sources.from_release(a.release, quiet=a.quiet)
    if a.kernel_tree is not None:
        return sources.from_kernel_tree(a.kernel_tree)
    if a.git is not None:
        if not a.ref:
            raise VfiogenError(None, "--git needs --ref")
        return sources.from_git(a.git, a.ref)
    if a.source is None:
        return sources.default_source(quiet=a.quiet)
    return source_from_word(a.source, a.includes, a.quiet)


def source_from_word(word: str, includes: list[Path], quiet: bool = False) -> sources.HeaderSource:
    """Positional SOURCE: release name, header file, kernel tree or DIR@REF."""
    if word in releases.load_pins():
        return sources.from_release(word, quiet=quiet)
    path = Path(word)
    if path.is_file():
        return sources.from_header(path, includes)
    if path.is_dir() and (path / "include/uapi").is_dir():
        return sources.from_kernel_tree(path)
    if "@" in word:
        repo, _, ref = word.rpartition("@")
        if Path(repo).is_dir():
            return sources.from_git(Path(repo), ref)
    raise SourceError(
        Loc(word),
        "not a pinned release, header file, kernel tree or GITDIR@REF "
        f"(pinned: {', '.join(releases.load_pins())})",
    )


def overlay_files(a: argparse.Namespace) -> dict[str, Path] | None:
    """--no-overlay: none; --overlay FILE...: those; else None (the shipped ones)."""
    if a.no_overlay:
        return {}
    if not a.overlay:
        return None
    for f in a.overlay:
        if not f.is_file():
            raise SourceError(Loc(str(f)), "no such overlay file")
    return {f"overlay{i}": f for i, f in enumerate(a.overlay)}


def compile_from_args(a: argparse.Namespace, with_history: bool = False) -> Spec:
    abis = tuple(x for x in a.abis.split(",") if x)
    unknown = [x for x in abis if x not in ABIS]
    if unknown or not abis:
        raise VfiogenError(
            None, f"unknown ABI {unknown[0] if unknown else '(none)'}; known: {', '.join(ABIS)}"
        )
    src = resolve_source(a)
    spec = compiler.compile_spec(src, abis, overlay_files(a), warn=not a.quiet)
    if with_history and spec.release is not None:
        # a pinned release: since/until from the history of all the pins
        hist, _ = history.for_pins(quiet=a.quiet)
        history.annotate(spec, hist)
    return spec


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory,
    so a failure never leaves a half-written output behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is not what a user expects
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cmd_spec(a: argparse.Namespace) -> int:
    text = to_json(compile_from_args(a, with_history=True))
    if a.output in (None, "-"):
        sys.stdout.write(text)
    else:
        write_atomic(Path(a.output), text)
    return 0


def cmd_inspect(a: argparse.Namespace) -> int:
    spec = compile_from_args(a)
    v = inspect.view(spec, a.abi)
    sys.stdout.write(json.dumps(v, indent=1) + "\n" if a.json else inspect.tables(v))
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Overlay coverage and errata: what is unannotated, where the header lies."""
    sys.stdout.write(report.coverage_text(compile_from_args(a)))
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    """The whole output tree: the vfio package, the spec, the report."""
    from vfiogen.emit import tree as render  # Jinja and black: only `build` needs them

    tree = render.render_tree(compile_from_args(a, with_history=True))
    out = Path(a.out)
    if a.check:
        bad = render.stale(tree, out)
        for path in bad:
            print(f"vfiogen: {out / path} is stale", file=sys.stderr)
        if not bad and not a.quiet:
            print(f"vfiogen: {out} is up to date ({len(tree)} files)", file=sys.stderr)
        return 1 if bad else 0
    render.write_tree(tree, out)
    if not a.quiet:
        print(f"vfiogen: wrote {len(tree)} files to {out}", file=sys.stderr)
    return 0


def cmd_fetch(a: argparse.Namespace) -> int:
    pins = releases.load_pins()
    names = list(pins) if a.all or not a.release else a.release
    for name in names:
        rel = releases.get_release(name)
        path = releases.fetch(rel)
        print(f"{name}: {path}")
    return 0


def cmd_releases(a: argparse.Namespace) -> int:
    for name, rel in releases.load_pins().items():
        state = "cached" if releases.is_cached(rel) else "not fetched"
        heads = ", ".join(h.split("/")[-1] for h in rel.headers)
        print(
            f"{name:6} Linux {rel.kernel:9} {rel.source:6} {rel.package} {rel.version or rel.suite:14} "
            f"{heads:20} {state}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vfiogen", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"vfiogen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    commands: list[tuple[str, Callable[[argparse.Namespace], int], str]] = [
        ("spec", cmd_spec, "compile a header into the spec JSON"),
        ("inspect", cmd_inspect, "one ABI's layouts, constants and requests"),
        ("report", cmd_report, "overlay coverage and header errata"),
        ("build", cmd_build, "write the vfio package, spec and report into --out"),
    ]
    for name, fn, help_ in commands:
        sp = sub.add_parser(name, help=help_)
        add_source_args(sp)
        sp.set_defaults(fn=fn)
        if name == "spec":
            sp.add_argument("-o", "--output", help="output file (default: stdout)")
        if name == "build":
            sp.add_argument(
                "--out", default="generated", help="output directory (default: %(default)s)"
            )
            sp.add_argument(
                "--check",
                action="store_true",
                help="compare with --out without writing; exit 1 when stale",
            )
        if name == "inspect":
            sp.add_argument("--abi", default="x86_64", choices=list(ABIS))
            sp.add_argument("--json", action="store_true", help="the JSON object instead of tables")
    f = sub.add_parser("fetch", help="download and verify pinned releases into the cache")
    f.add_argument("release", nargs="*", help="release names (default: all)")
    f.add_argument("--all", action="store_true")
    f.set_defaults(fn=cmd_fetch)
    r = sub.add_parser("releases", help="list pinned releases and whether they are cached")
    r.set_defaults(fn=cmd_releases)
    diff_cli.register(sub)
    docs_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except VfiogenError as exc:
        print(f"vfiogen: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
