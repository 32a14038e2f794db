"""Compiled specs, kept in the user cache.

`history`, `diff`, `spec` and `build` compile the same headers over and
over; an entry is stored under the key `spec_keys.key` computes (the
generator, the source, its ABIs and overlays) with, for a source other than
a pinned release, the files the preprocessor read, and is used only while
those are unchanged (`spec_keys.unchanged`).

Entries are pickles: 5 ms to load where the JSON codec takes 20 and a
compile 70. They are read only from the user's own cache and only when their
checksum matches (`cache.read`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from vfiogen import cache, spec_keys
from vfiogen.inputs.sources import HeaderSource
from vfiogen.ir.model import Spec

KIND = spec_keys.KIND


def load(entry: str, source: HeaderSource) -> Spec | None:
    """The spec stored under `entry`, or None: absent, corrupt, not a spec,
    or a file the preprocessor read has changed since."""
    pair = spec_keys.stored(entry)
    if pair is None:
        return None
    deps, spec = pair
    if not isinstance(spec, Spec) or not isinstance(deps, list):
        return None
    if not spec_keys.unchanged(deps, spec_keys.search_path(source)):
        return None
    return spec


def store(entry: str, spec: Spec, source: HeaderSource, read: dict[str, Path]) -> None:
    """Keep `spec` under `entry`, with the files the preprocessor `read`
    (include-relative name -> file) unless the source is a pinned release."""
    deps = (
        []
        if source.release is not None
        else spec_keys.dependencies(read, spec_keys.search_path(source))
    )
    cache.write(KIND, entry, pickle.dumps((deps, spec), protocol=pickle.HIGHEST_PROTOCOL))
