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
FINGERPRINTS = "fingerprints"


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
    return memoized_source_digest(PACKAGE)


def source_files(root: Path) -> list[tuple[str, str]]:
    """Every Python source file under `root`: (relative name, path), sorted
    (plain strings: a warm command lists them on every run)."""
    out = []
    top = str(root)
    for folder, _, files in os.walk(top):
        rel = os.path.relpath(folder, top)
        for name in files:
            if name.endswith(".py"):
                out.append((name if rel == "." else f"{rel}/{name}", f"{folder}/{name}"))
    return sorted(out)


def source_digest(root: Path) -> str:
    """The version and the content of every Python source file under `root`:
    entries written by another version or by an edited checkout are never read."""
    parts: list[str | bytes] = [__version__]
    for rel, path in source_files(root):
        with open(path, "rb") as f:
            parts += [rel, f.read()]
    return digest(*parts)


def memoized_source_digest(root: Path) -> str:
    """`source_digest(root)`, kept in the user cache under the files' stat
    (size, mtime, ctime, inode): reading and hashing the ~100 files took
    longer than a warm command's own work. An edit changes the ctime (which
    no tool sets back), so an edited checkout, editable install included,
    never finds the old value."""
    stamps = []
    for rel, path in source_files(root):
        st = os.stat(path)
        stamps.append(f"{rel} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}")
    entry = digest(__version__, str(root), *stamps)
    known = read(FINGERPRINTS, entry)
    if known is not None and len(known) == 64:
        return known.decode()
    value = source_digest(root)
    write(FINGERPRINTS, entry, value.encode())
    return value


_FILE_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's content, hashed once per process while its stat
    is unchanged (a key reads the same data files for every pin)."""
    st = path.stat()
    stamp = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _FILE_DIGESTS.get(stamp)
    if known is None:
        known = _FILE_DIGESTS[stamp] = hashlib.sha256(path.read_bytes()).hexdigest()
    return known


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
