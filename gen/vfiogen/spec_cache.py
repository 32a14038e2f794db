"""Compiled specs of pinned releases, kept in the user cache.

`history`, `diff`, `spec` and `build` compile the same pinned releases over
and over; a compiled spec depends only on what the key below hashes: the
generator (`cache.fingerprint()`), the pin and the identity of its fetched
include tree, the main headers' sha256, the ABIs, and the overlay files
(the shipped data files too: releases.toml bounds the overlay's since/until).
Only pinned releases are cached: their include tree is immutable once
fetched (a refetch replaces it whole), so the key names every input. A
header file or kernel tree given by path is compiled every time.

Entries are pickles of the Spec: 5 ms to load where the JSON codec takes 20
and a compile 70. They are read only from the user's own cache and only when
their checksum matches (`cache.read`).
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

from vfiogen import cache
from vfiogen.data import data_dir
from vfiogen.inputs import releases
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.model import Spec

KIND = "specs"


def key(source: HeaderSource, abis: tuple[str, ...], overlay_files: dict[str, Path]) -> str | None:
    """The cache key of compiling `source`, or None when it is not cacheable
    (not a fetched pinned release)."""
    if source.release is None:
        return None
    pins = releases.load_pins()
    pin = pins.get(source.release)
    tree = releases.tree_dir(pin) if pin is not None else None
    if pin is None or tree is None or not releases.is_cached(pin):
        return None
    marker = (tree / ".verified").stat()
    parts: list[str | bytes] = [
        cache.fingerprint(),
        repr(sorted((k, v) for k, v in dataclasses.asdict(pin).items() if k != "loc")),
        f"{tree} {marker.st_ino} {marker.st_mtime_ns}",
        source.description,
        str(source.kernel_version),
        repr(sorted(source.sha256().items())),
        repr([(a, [str(d) for d in source.include_dirs(a)]) for a in abis]),
        repr(source.defines),
    ]
    for path in sorted(data_dir("headers").glob("*.toml")):
        parts += [path.name, path.read_bytes()]
    for name, path in sorted(overlay_files.items()):
        parts += [name, str(path), path.read_bytes()]
    return cache.digest(*parts)


def load(entry: str) -> Spec | None:
    """The spec stored under `entry`, or None (absent, corrupt, not a Spec)."""
    payload = cache.read(KIND, entry)
    if payload is None:
        return None
    try:
        spec = pickle.loads(payload)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # checksummed, yet unreadable: written by a broken run
    return spec if isinstance(spec, Spec) else None


def store(entry: str, spec: Spec) -> None:
    cache.write(KIND, entry, pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
