"""The guest's initramfs: busybox, guest-init.sh as /init (every flavor's,
ppc64 included), and the modules 9p and vfio-pci need (none for a kernel
that has them built in)."""

from __future__ import annotations

import gzip
import lzma
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from rig_errors import MissingPart, RigError
from rig_kernels import Kernel

HERE = Path(__file__).resolve().parent
GUEST_INIT = HERE / "guest-init.sh"
PT_INTERP = 3  # ELF program header naming the dynamic loader
# Modules the guest needs, with their dependencies added from modinfo.
# Any of them may be built in (=y); a wanted one that is neither is an error.
WANTED_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "vfio_pci", "vfio_iommu_type1")
# Loaded when the kernel has them (no Debian kernel builds iommufd).
OPTIONAL_MODULES = ("iommufd",)


@lru_cache(maxsize=None)
def find_busybox() -> Path:
    """A statically linked busybox: the initramfs has no libc for it."""
    found = [Path(p) for p in ("/bin/busybox", shutil.which("busybox") or "") if p]
    found = [p for p in found if p.is_file()]
    for path in found:
        if _is_static_elf(path):
            return path
    if found:
        raise MissingPart(f"{found[0]} is dynamically linked (install busybox-static)")
    raise MissingPart("busybox not found (run tests/hardware/install-deps.sh)")


def _is_static_elf(path: Path) -> bool:
    """True for an ELF64 without a PT_INTERP program header (no dynamic loader)."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:5] != b"\x7fELF\x02":
            return False
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    return PT_INTERP not in types


def build_initramfs(
    kernel: Kernel,
    out: Path,
    *,
    wanted: Sequence[str] = WANTED_MODULES,
    busybox: Path | None = None,
) -> list[str]:
    """Write the guest's initramfs (gzip'd cpio) to `out`; returns the modules
    in load order (dependencies first). A kernel without modules (no
    <moddir>/kernel, everything in modules.builtin) gets an empty list; its
    module parameters must then be on the kernel command line. A guest of
    another architecture brings its own `wanted` modules and static
    `busybox` (rig_ppc64.py)."""
    tree = kernel.moddir / "kernel"
    available = {
        _module_name(p): p
        for p in (tree.rglob("*.ko*") if tree.is_dir() else ())
        if ".ko" in p.name
    }
    builtin_file = kernel.moddir / "modules.builtin"
    builtin = (
        {_module_name(Path(line)) for line in builtin_file.read_text().split()}
        if builtin_file.exists()
        else set()
    )
    order: list[str] = []
    blobs: dict[str, bytes] = {}

    def visit(name: str, required: bool) -> None:
        if name in blobs or name in builtin:
            return
        if name not in available:
            if required:
                raise RigError(f"kernel {kernel.release} has no module {name} (nor built in)")
            return
        blobs[name] = data = _module_bytes(available[name])
        for dep in _modinfo(data).get("depends", "").split(","):
            if dep:
                visit(dep.replace("-", "_"), True)
        order.append(name)

    for name in wanted:
        visit(name, True)
    for name in OPTIONAL_MODULES:
        visit(name, False)

    entries: list[tuple[str, int, bytes]] = [
        (d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "tmp", "newroot", "mods")
    ]
    entries.append(("dev/console", 0o020600, b""))
    entries.append(("bin/busybox", 0o100755, (busybox or find_busybox()).read_bytes()))
    entries.append(("init", 0o100755, GUEST_INIT.read_bytes()))
    entries.append(("mods/order", 0o100644, "".join(f"{m}\n" for m in order).encode()))
    entries += [(f"mods/{m}.ko", 0o100644, blobs[m]) for m in order]
    out.write_bytes(gzip.compress(_cpio(entries), compresslevel=6, mtime=0))
    return order


def _module_name(path: Path) -> str:
    """kernel/fs/9p/9p.ko.xz -> "9p"; dashes normalised as the kernel does."""
    return path.name.split(".ko")[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko"):
        return data
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise MissingPart(f"zstd not found to unpack {path.name} (install zstd)")
        proc = subprocess.run([zstd, "-dcq", str(path)], capture_output=True)
        if proc.returncode:
            raise RigError(f"zstd cannot unpack {path}: {proc.stderr.decode().strip()}")
        return proc.stdout
    raise RigError(f"{path}: unknown module compression")


def _modinfo(module: bytes) -> dict[str, str]:
    """The depends= and other key=value strings of a module's .modinfo section
    (NUL-separated; found by scanning, no ELF section parsing needed)."""
    info = {}
    for key in ("depends", "name", "vermagic"):
        m = re.search(rb"(?:^|\0)" + key.encode() + rb"=([^\0]*)\0", module)
        if m:
            info[key] = m.group(1).decode(errors="replace")
    return info


def _cpio(entries: Iterable[tuple[str, int, bytes]]) -> bytes:
    """A "newc" cpio archive (what the kernel unpacks) of (path, mode, data);
    the one character device here is /dev/console (5, 1)."""
    out = bytearray()

    def add(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(name) + 1, 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.extend(name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        add(ino, name, mode, data, (5, 1) if mode & 0o170000 == 0o020000 else (0, 0))
    add(0, "TRAILER!!!", 0, b"", (0, 0))
    return bytes(out)
