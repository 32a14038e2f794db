"""The user cache (~/.cache/vfiogen, or $VFIOGEN_CACHE): fetched releases,
compiled specs, black's output.

Derived entries are content-addressed: the caller names an entry by a key
that hashes everything the entry was made from (`fingerprint()` covers the
generator itself), so a changed input or an edited checkout reads as a miss,
never as a stale hit. Each entry file starts with the sha256 of its payload;
a truncated or corrupt entry reads as a miss and is rebuilt. Writes go
through a temporary file and a rename, so a reader never sees half an entry;
each kind is trimmed to LIMIT_BYTES, least recently used first.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

from vfiogen import __version__
from vfiogen.data import PACKAGE

ENTRY_FORMAT = b"vfiogen-cache-1"
LIMIT_BYTES = 256 << 20  # per kind of entry


def cache_dir() -> Path:
    env = os.environ.get("VFIOGEN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vfiogen"


def digest(*parts: str | bytes) -> str:
    """sha256 over `parts`, each length-prefixed so no two splits collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(b"%d:" % len(data))
        h.update(data)
    return h.hexdigest()


@functools.cache
def fingerprint() -> str:
    """The running generator's identity (`source_digest` of this package),
    computed once per process."""
    return source_digest(PACKAGE)


def source_digest(root: Path) -> str:
    """The version and the content of every Python source file under `root`:
    entries written by another version or by an edited checkout are never read."""
    parts: list[str | bytes] = [__version__]
    for path in sorted(root.rglob("*.py")):
        parts += [str(path.relative_to(root)), path.read_bytes()]
    return digest(*parts)


def entry_path(kind: str, key: str) -> Path:
    return cache_dir() / kind / key[:2] / key


def read(kind: str, key: str) -> bytes | None:
    """The payload stored under `key`, or None when absent, unreadable or
    corrupt (its checksum does not match). A hit marks the entry as used."""
    path = entry_path(kind, key)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, sep, payload = data.partition(b"\n")
    if sep and head == ENTRY_FORMAT + b" " + hashlib.sha256(payload).hexdigest().encode():
        try:
            os.utime(path)  # the least recently used entries are trimmed first
        except OSError:
            pass
        return payload
    return None


def write(kind: str, key: str, payload: bytes) -> None:
    """Store `payload` under `key`; a cache that cannot be written is no
    error (the next run computes the value again)."""
    path = entry_path(kind, key)
    head = ENTRY_FORMAT + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head + payload)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return
    trim(kind)


def trim(kind: str, limit: int = LIMIT_BYTES) -> None:
    """Keep the entries of `kind` under `limit` bytes, removing the least
    recently used first (down to 3/4 of it). Entries are only ever added (an
    edited generator writes new ones), so without this the cache would grow
    with every edit; it runs on writes, which follow a miss and its work."""
    entries = []
    for path in (cache_dir() / kind).glob("??/*"):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, path in sorted(entries):
        path.unlink(missing_ok=True)
        total -= size
        if total <= limit * 3 // 4:
            break
