"""What the commands share: the source arguments, turning them into a
source, and writing output files whole or not at all. Light on purpose: a
command whose answer is cached (`cli.answers`) gets here without the
compiler (`cli.compile` holds what needs it)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from vfiogen.errors import Loc, SourceError, VfiogenError
from vfiogen.inputs import releases, sources
from vfiogen.ir.abi import ABIS, DEFAULT_ABIS
from vfiogen.overlay import load

RESOLVED = "_resolved_sources"  # on the parsed arguments: each source resolved once


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
        help="a vendor overlay file, added to the shipped ones (repeatable)",
    )
    p.add_argument(
        "--no-overlay", action="store_true", help="without the shipped overlays (only --overlay's)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or warnings on stderr")


def resolve_source(a: argparse.Namespace) -> sources.HeaderSource:
    """The source the arguments name, resolved once per run (a kernel tree or
    a git ref makes a temporary directory; the answer's key and the compile
    share it)."""
    memo: dict[str | None, sources.HeaderSource] = a.__dict__.setdefault(RESOLVED, {})
    if None not in memo:
        memo[None] = _resolve(a)
    return memo[None]


def _resolve(a: argparse.Namespace) -> sources.HeaderSource:
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


def source_of_word(a: argparse.Namespace, word: str) -> sources.HeaderSource:
    """`source_from_word` with the arguments' -I and -q, resolved once per run."""
    memo: dict[str | None, sources.HeaderSource] = a.__dict__.setdefault(RESOLVED, {})
    if word not in memo:
        memo[word] = source_from_word(word, a.includes, a.quiet)
    return memo[word]


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


def overlay_files(a: argparse.Namespace, src: sources.HeaderSource) -> dict[str, Path] | None:
    """The shipped overlays of the source's headers (none with --no-overlay),
    then each --overlay FILE, merged in that order; None: the shipped ones."""
    if not a.no_overlay and not a.overlay:
        return None
    files = {} if a.no_overlay else load.default_files([n for n, _ in src.headers])
    for f in a.overlay or []:
        if not f.is_file():
            raise SourceError(Loc(str(f)), "no such overlay file")
        files[str(f)] = f
    return files


def parse_abis(text: str) -> tuple[str, ...]:
    """`--abis x86_64,i386` -> ("x86_64", "i386"); unknown names are an error."""
    abis = tuple(x for x in text.split(",") if x)
    unknown = [x for x in abis if x not in ABIS]
    if unknown or not abis:
        raise VfiogenError(
            None, f"unknown ABI {unknown[0] if unknown else '(none)'}; known: {', '.join(ABIS)}"
        )
    return abis


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


def emit(output: str | None, text: str) -> None:
    """`text` to the file `output` (atomically), or to stdout for None or "-"."""
    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        write_atomic(Path(output), text)
