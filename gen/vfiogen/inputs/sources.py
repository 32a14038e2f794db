"""Where a header comes from: a file, a pinned release, a kernel tree, a git ref.

Each input is resolved to a `HeaderSource`: the main headers to compile,
the include directories for each ABI, and what to call the source in the
spec. The front end only ever sees a `HeaderSource`.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vfiogen.inputs import releases
from vfiogen.errors import Loc, SourceError

MAIN_HEADERS = ("linux/vfio.h", "linux/iommufd.h")
SYSTEM_INCLUDE = Path("/usr/include")
KERNEL_TREE_ARCH = {"x86_64": "x86", "i386": "x86", "aarch64": "arm64", "powerpc64": "powerpc"}


@dataclass(slots=True)
class HeaderSource:
    """Everything the front end needs to read one set of headers."""

    description: str  # "release 7.2", "header /x/vfio.h", ...
    headers: list[tuple[str, Path]]  # (include-relative name, file)
    generic: list[Path]  # include dirs common to every ABI
    arch: dict[str, list[Path]] = field(default_factory=dict)  # per-ABI dirs first
    release: str | None = None
    kernel_version: str | None = None
    defines: list[str] = field(default_factory=list)
    keep: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)

    def include_dirs(self, abi: str) -> list[Path]:
        return [*self.arch.get(abi, []), *self.generic]

    def sha256(self) -> dict[str, str]:
        return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in self.headers}


def from_release(name: str, quiet: bool = False) -> HeaderSource:
    rel = releases.get_release(name)
    tree = releases.fetch(rel, quiet=quiet)
    generic = tree / rel.generic
    headers = [(h, generic / h) for h in MAIN_HEADERS if (generic / h).is_file()]
    arch = {abi: [tree / d] for abi, d in rel.arch.items() if (tree / d).is_dir()}
    return HeaderSource(
        f"release {name}", headers, [generic], arch, release=name, kernel_version=rel.kernel
    )


def from_header(path: Path, includes: list[Path]) -> HeaderSource:
    """Any UAPI header; its include-relative name is `linux/NAME` when it sits
    in a `linux/` directory, else its base name."""
    if not path.is_file():
        raise SourceError(Loc(str(path)), "no such header file")
    path = path.resolve()
    name = f"{path.parent.name}/{path.name}" if path.parent.name == "linux" else path.name
    dirs = [d.resolve() for d in includes]
    home = path.parent.parent if path.parent.name == "linux" else path.parent
    dirs = [home] + [d for d in dirs if d != home]  # the given file, not a namesake
    if not any((d / "linux/types.h").is_file() for d in dirs):
        dirs.append(SYSTEM_INCLUDE)  # the system's UAPI tree for linux/types.h
    arch = {}
    multiarch = SYSTEM_INCLUDE / "x86_64-linux-gnu"
    if SYSTEM_INCLUDE in dirs and multiarch.is_dir():
        arch = {"x86_64": [multiarch], "i386": [multiarch]}
    return HeaderSource(
        f"header {path}", [(name, path)], dirs, arch, kernel_version=_version_h(dirs)
    )


def from_kernel_tree(root: Path, description: str | None = None) -> HeaderSource:
    """A kernel source tree: include/uapi plus arch uapi dirs. The tree has no
    generated asm/ wrappers, so missing asm/X.h fall back to asm-generic/X.h,
    as Kbuild's generic-y does; `__user` is defined away."""
    uapi = root / "include/uapi"
    headers = [(h, uapi / h) for h in MAIN_HEADERS if (uapi / h).is_file()]
    if not headers:
        raise SourceError(Loc(str(uapi / MAIN_HEADERS[0])), "no VFIO header in this kernel tree")
    tmp = tempfile.TemporaryDirectory(prefix="vfiogen-asm-")
    shim = Path(tmp.name) / "asm"
    shim.mkdir()
    for generic in sorted((uapi / "asm-generic").glob("*.h")):
        (shim / generic.name).write_text(f"#include <asm-generic/{generic.name}>\n")
    arch = {}
    for abi, karch in KERNEL_TREE_ARCH.items():
        dirs = [root / f"arch/{karch}/include/uapi", root / f"arch/{karch}/include/generated/uapi"]
        arch[abi] = [d for d in dirs if d.is_dir()] + [Path(tmp.name)]
    return HeaderSource(
        description or f"kernel tree {root}",
        headers,
        [uapi],
        arch,
        kernel_version=_makefile_version(root / "Makefile"),
        defines=["__user=", "__force=", "__iomem="],
        keep=[tmp],
    )


def from_git(repo: Path, ref: str) -> HeaderSource:
    """A git ref of a kernel repository, read from its objects (no checkout):
    the UAPI subtrees are written to a temporary directory."""
    import subprocess  # late: only a git source runs it, and a warm command's start-up does without it

    paths = [
        "include/uapi",
        *{f"arch/{a}/include/uapi" for a in KERNEL_TREE_ARCH.values()},
        "Makefile",
    ]
    try:
        listing = subprocess.run(
            ["git", "-C", str(repo), "ls-tree", "-r", "-z", ref, "--", *paths],
            capture_output=True,
            check=True,
        ).stdout
    except OSError as exc:
        raise SourceError(Loc(str(repo)), f"cannot run git: {exc}") from None
    except subprocess.CalledProcessError as exc:
        msg = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise SourceError(Loc(str(repo)), f"cannot read ref {ref!r}: {msg[0]}") from None
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, _, name = item.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob":
            entries.append((sha.decode(), name.decode()))
    tmp = tempfile.TemporaryDirectory(prefix="vfiogen-git-")
    root = Path(tmp.name)
    blobs = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input=b"".join(sha.encode() + b"\n" for sha, _ in entries),
        capture_output=True,
        check=True,
    ).stdout
    pos = 0
    for _, path in entries:
        header_end = blobs.index(b"\n", pos)
        size = int(blobs[pos:header_end].split()[2])
        data = blobs[header_end + 1 : header_end + 1 + size]
        pos = header_end + 1 + size + 1
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    src = from_kernel_tree(root, f"git {repo}@{ref}")
    src.keep.append(tmp)
    return src


def default_source(quiet: bool = False) -> HeaderSource:
    """The newest pinned release when it is cached, else the system header."""
    pins = releases.load_pins()
    newest = list(pins.values())[-1]
    if releases.is_cached(newest):
        return from_release(newest.name, quiet=quiet)
    system = SYSTEM_INCLUDE / MAIN_HEADERS[0]
    if not system.is_file():
        raise SourceError(
            Loc(str(system)),
            f"no source given, release {newest.name} is not cached "
            f"(vfiogen fetch --release {newest.name}) and there is no system header",
        )
    print(
        f"vfiogen: no source given and release {newest.name} is not cached: "
        f"using the system's {system}",
        file=sys.stderr,
    )
    src = from_header(system, [])
    extra = SYSTEM_INCLUDE / MAIN_HEADERS[1]
    if extra.is_file():
        src.headers.append((MAIN_HEADERS[1], extra))
    return src


def _version_h(dirs: list[Path]) -> str | None:
    for d in dirs:
        v = d / "linux/version.h"
        if v.is_file():
            m = re.search(r"LINUX_VERSION_CODE (\d+)", v.read_text())
            if m:
                code = int(m.group(1))
                return f"{code >> 16}.{(code >> 8) & 0xFF}"
    return None


def _makefile_version(makefile: Path) -> str | None:
    if not makefile.is_file():
        return None
    text = makefile.read_text(errors="replace")
    v = re.search(r"^VERSION = (\d+)", text, re.M)
    p = re.search(r"^PATCHLEVEL = (\d+)", text, re.M)
    return f"{v.group(1)}.{p.group(1)}" if v and p else None
