"""What a compiled spec depends on, computed without the compiler: the
cache key of compiling a source, the keys of every pin's spec, and the
files the preprocessor read for a spec held in the user cache.

A compiled spec depends only on the generator (`cache.fingerprint()`), the
main headers' content, the files the preprocessor read for them, the
include directories, the ABIs and the overlay files (the shipped data files
too: releases.toml bounds the overlay's since/until). The key hashes all of
those it can know before compiling:

- a fetched pinned release: the pin and the identity of its include tree
  (a refetch replaces the tree whole, with a new .verified marker), so the
  entry is read without touching another file;
- any other source (a header file, a kernel tree): the key names the main
  headers by content and the include directories by path; the entry lists
  every other file the preprocessor read (include-relative name, the
  directory it was found in, sha256) and is used only while each of them
  is unchanged and no earlier include directory has gained a file of that
  name (which the preprocessor would now find first). A `#include "x.h"`
  newly shadowed from the including file's own directory is not seen: UAPI
  headers include with <>.

This module is apart from `spec_cache` (which loads and stores the specs)
so that a command whose whole answer is cached (`cli.answers`) can find it
without importing the compiler or the IR.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

from vfiogen import cache
from vfiogen.data import data_dir
from vfiogen.inputs import releases, sources
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.abi import DEFAULT_ABIS
from vfiogen.overlay import load

KIND = "specs"  # the user cache's entries of compiled specs

Dependency = tuple[str, int, str]  # include-relative name, include dir index (-1: absolute), sha256


def overlays(source: HeaderSource, files: dict[str, Path] | None) -> dict[str, Path]:
    """The overlay files given, or else the shipped ones for the main headers."""
    return files if files is not None else load.default_files([n for n, _ in source.headers])


def key(source: HeaderSource, abis: tuple[str, ...], overlay_files: dict[str, Path]) -> str | None:
    """The cache key of compiling `source` (None: not cached, a pinned release
    not fetched or a git checkout in a temporary directory)."""
    if source.keep:
        return None
    parts: list[str | bytes] = [
        cache.fingerprint(),
        source.description,
        str(source.kernel_version),
        repr(sorted((name, cache.file_digest(path)) for name, path in source.headers)),
        repr([(a, [str(d) for d in source.include_dirs(a)]) for a in abis]),
        repr(source.defines),
    ]
    if source.release is not None:
        pin = releases.load_pins().get(source.release)
        if pin is None or not releases.is_cached(pin):
            return None
        marker = (releases.tree_dir(pin) / ".verified").stat()
        pinned = sorted((k, v) for k, v in dataclasses.asdict(pin).items() if k != "loc")
        parts += [repr(pinned), f"{marker.st_ino} {marker.st_mtime_ns}"]
    for path in _data_files():
        parts += [path.name, cache.file_digest(path)]
    for name, path in sorted(overlay_files.items()):
        parts += [name, str(path), cache.file_digest(path)]
    return cache.digest(*parts)


@functools.cache
def _data_files() -> list[Path]:
    """The shipped data files (pins, overlays, kernel answers), listed once."""
    return sorted(data_dir("headers").glob("*.toml"))


def pin_keys(quiet: bool = True) -> list[str | None]:
    """The keys of every pinned release's spec as `history` compiles them
    (default ABIs, shipped overlays), oldest first; None for a pin not fetched."""
    out = []
    for name in releases.load_pins():
        src = sources.from_release(name, quiet=quiet)
        out.append(key(src, DEFAULT_ABIS, overlays(src, None)))
    return out


def search_path(source: HeaderSource) -> list[Path]:
    """The directories the preprocessor searches (it runs with x86_64's)."""
    return source.include_dirs("x86_64")


def dependencies(read: dict[str, Path], dirs: list[Path]) -> list[Dependency]:
    """The files the preprocessor `read` (include-relative name -> file), each
    named by the directory of `dirs` it was found in, with its sha256."""
    out = []
    for rel, path in sorted(read.items()):
        index = next((i for i, d in enumerate(dirs) if d / rel == path), -1)
        name = rel if index >= 0 else str(path)
        out.append((name, index, hashlib.sha256(path.read_bytes()).hexdigest()))
    return out


def unchanged(deps: list[Dependency], dirs: list[Path]) -> bool:
    """Would the preprocessor read the same files, with the same content?"""
    for name, index, sha in deps:
        path = dirs[index] / name if 0 <= index < len(dirs) else Path(name)
        if any((d / name).exists() for d in dirs[: max(index, 0)]):
            return False  # an earlier directory now has the name: cpp would read that one
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
                return False
        except OSError:
            return False
    return True


def stored(entry: str) -> tuple[object, object] | None:
    """The (dependencies, spec) pair stored under `entry` in the spec cache,
    or None: absent, or unreadable though checksummed (written by a broken
    run). Unpickling loads the IR classes: only after a miss."""
    import pickle  # only after a miss: a warm answer's start-up does without it

    payload = cache.read(KIND, entry)
    if payload is None:
        return None
    try:
        pair = pickle.loads(payload)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return pair if isinstance(pair, tuple) and len(pair) == 2 else None


def recorded_dependencies(entry: str) -> list[Dependency] | None:
    """The files listed with the spec stored under `entry` (None: no
    readable entry)."""
    pair = stored(entry)
    return pair[0] if pair is not None and isinstance(pair[0], list) else None
