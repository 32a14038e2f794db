"""Compiled specs, kept in the user cache.

`history`, `diff`, `spec` and `build` compile the same headers over and
over; a compiled spec depends only on the generator (`cache.fingerprint()`),
the main headers' content, the files the preprocessor read for them, the
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

Entries are pickles: 5 ms to load where the JSON codec takes 20 and a
compile 70. They are read only from the user's own cache and only when their
checksum matches (`cache.read`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path

from vfiogen import cache
from vfiogen.data import data_dir
from vfiogen.inputs import releases
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.model import Spec

KIND = "specs"


Dependency = tuple[str, int, str]  # include-relative name, include dir index (-1: absolute), sha256


def key(source: HeaderSource, abis: tuple[str, ...], overlay_files: dict[str, Path]) -> str | None:
    """The cache key of compiling `source` (None: not cached, a pinned release
    not fetched or a git checkout in a temporary directory)."""
    if source.keep:
        return None
    parts: list[str | bytes] = [
        cache.fingerprint(),
        source.description,
        str(source.kernel_version),
        repr(sorted(source.sha256().items())),
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
    for path in sorted(data_dir("headers").glob("*.toml")):
        parts += [path.name, path.read_bytes()]
    for name, path in sorted(overlay_files.items()):
        parts += [name, str(path), path.read_bytes()]
    return cache.digest(*parts)


def load(entry: str, source: HeaderSource) -> Spec | None:
    """The spec stored under `entry`, or None: absent, corrupt, not a spec,
    or a file the preprocessor read has changed since."""
    payload = cache.read(KIND, entry)
    if payload is None:
        return None
    try:
        deps, spec = pickle.loads(payload)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # checksummed, yet unreadable: written by a broken run
    if not isinstance(spec, Spec) or not isinstance(deps, list):
        return None
    if not _unchanged(deps, _search_path(source)):
        return None
    return spec


def store(entry: str, spec: Spec, source: HeaderSource, read: dict[str, Path]) -> None:
    """Keep `spec` under `entry`, with the files the preprocessor `read`
    (include-relative name -> file) unless the source is a pinned release."""
    deps = [] if source.release is not None else _dependencies(read, _search_path(source))
    cache.write(KIND, entry, pickle.dumps((deps, spec), protocol=pickle.HIGHEST_PROTOCOL))


def _search_path(source: HeaderSource) -> list[Path]:
    """The directories the preprocessor searches (it runs with x86_64's)."""
    return source.include_dirs("x86_64")


def _dependencies(read: dict[str, Path], dirs: list[Path]) -> list[Dependency]:
    out = []
    for rel, path in sorted(read.items()):
        index = next((i for i, d in enumerate(dirs) if d / rel == path), -1)
        name = rel if index >= 0 else str(path)
        out.append((name, index, hashlib.sha256(path.read_bytes()).hexdigest()))
    return out


def _unchanged(deps: list[Dependency], dirs: list[Path]) -> bool:
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
