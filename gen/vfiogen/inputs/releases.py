"""Pinned kernel releases: load the pins, fetch once into a cache, verify.

The pins live in headers/releases.toml (shipped as `vfiogen.headers`). A
fetched release is an unpacked UAPI include tree under
`<cache>/trees/<release>/`, written to a temporary directory and renamed into
place only once every pinned checksum has matched.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vfiogen.cache import cache_dir as cache_dir  # where callers have always asked for it
from vfiogen.data import data_dir
from vfiogen.inputs import debian
from vfiogen.errors import Loc, SourceError

PINS_FILE = "releases.toml"


@dataclass(frozen=True, slots=True)
class Release:
    name: str
    kernel: str
    source: str  # "pypi" or "debian"
    package: str
    root: str  # the include tree inside the archive
    generic: str  # arch-independent include dir, relative to root
    arch: dict[str, str]  # ABI name -> asm include dir, relative to root
    headers: dict[str, str]  # include-relative header -> sha256
    version: str = ""  # pypi: package version
    file: str = ""  # pypi: archive file name
    sha256: str = ""  # pypi: archive checksum
    suite: str = ""  # debian: suite
    loc: Loc = Loc(PINS_FILE)


def version_key(version: str) -> tuple[int, ...]:
    """ "6.13" -> (6, 13); sorts releases in kernel order."""
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def load_pins() -> dict[str, Release]:
    """Every pinned release, oldest first."""
    return dict(_parse_pins((data_dir("headers") / PINS_FILE).read_text()))


@functools.lru_cache(maxsize=4)
def _parse_pins(text: str) -> dict[str, Release]:
    """The pins in `text`, parsed once per content (commands ask many times)."""
    data = tomllib.loads(text)
    lines = text.splitlines()
    pins = {}
    for name, entry in data.get("releases", {}).items():
        header = f'[releases."{name}"]'
        line = next((i + 1 for i, l in enumerate(lines) if l.strip() == header), 0)
        pins[name] = Release(name=name, loc=Loc(PINS_FILE, line), **entry)
    return dict(sorted(pins.items(), key=lambda kv: version_key(kv[0])))


def tree_dir(release: Release) -> Path:
    return cache_dir() / "trees" / release.name


def is_cached(release: Release) -> bool:
    return (tree_dir(release) / ".verified").is_file()


def get_release(name: str) -> Release:
    pins = load_pins()
    if name not in pins:
        raise SourceError(
            Loc(f"headers/{PINS_FILE}"),
            f"unknown release {name!r}; pinned: {', '.join(pins)}",
        )
    return pins[name]


def fetch(release: Release, quiet: bool = False) -> Path:
    """The release's verified include tree, downloading it if needed."""
    dest = tree_dir(release)
    if is_cached(release):
        return dest
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(
            f"vfiogen: fetching release {release.name} ({release.source} " f"{release.package})",
            file=sys.stderr,
        )
    staging = Path(
        tempfile.mkdtemp(
            prefix=f".{release.name}-",
            dir=dest.parent if dest.parent.exists() else _mkdir(dest.parent),
        )
    )
    try:
        if release.source == "pypi":
            _fetch_wheel(release, downloads, staging)
        elif release.source == "debian":
            _fetch_deb(release, downloads, staging)
        else:
            raise SourceError(release.loc, f"unknown source {release.source!r}")
        _verify_headers(release, staging)
        (staging / ".verified").write_text(release.name + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_wheel(release: Release, downloads: Path, staging: Path) -> None:
    import subprocess  # late: only a fetch runs it, and a warm command's start-up does without it

    wheel = downloads / release.file
    if not wheel.is_file():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_12_x86_64",
            f"{release.package}=={release.version}",
            "-d",
            str(downloads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode or not wheel.is_file():
            msg = (proc.stderr.strip().splitlines() or ["no such file"])[-1]
            raise SourceError(release.loc, f"cannot download {release.file}: {msg}")
    got = _sha256(wheel)
    if got != release.sha256:
        raise SourceError(
            release.loc,
            f"checksum mismatch for {wheel}: sha256 {got}, pinned {release.sha256}",
        )
    # The whole Linux UAPI tree: the generic dir and every *-linux-any arch dir.
    prefix = release.root.rstrip("/") + "/"
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            rel = info.filename[len(prefix) :]
            if not rel.split("/", 1)[0].endswith("-linux-any"):
                continue
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))


def _fetch_deb(release: Release, downloads: Path, staging: Path) -> None:
    # one directory per suite: suites ship the same package name in other versions
    deb = debian.download(cache_dir(), release.suite, release.package, downloads / release.suite)
    unpacked = staging / ".deb"
    debian.extract(deb, unpacked)
    root = unpacked / release.root
    if not root.is_dir():
        raise SourceError(release.loc, f"{deb.name} has no {release.root}/")
    # Copied with symlinks followed: since 6.12 the per-arch asm dirs link
    # into usr/lib/linux/uapi/, outside the include tree that is kept.
    try:
        shutil.copytree(root, staging, symlinks=False, dirs_exist_ok=True)
    except shutil.Error as exc:
        raise SourceError(release.loc, f"{deb.name}: cannot copy {release.root}/: {exc}") from None
    shutil.rmtree(unpacked)


def _verify_headers(release: Release, tree: Path) -> None:
    for header, want in release.headers.items():
        path = tree / release.generic / header
        if not path.is_file():
            raise SourceError(release.loc, f"release {release.name} has no {header}")
        got = _sha256(path)
        if got != want:
            raise SourceError(
                release.loc,
                f"checksum mismatch for {header} of release {release.name}: "
                f"sha256 {got}, pinned {want}",
            )
