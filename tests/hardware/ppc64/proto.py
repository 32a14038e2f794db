"""Prototype: boot Debian's ppc64el kernel on qemu-system-ppc64 pseries (TCG)
with edu on the PHB bound to vfio-pci, and run a job in the guest.

    python proto.py KERNEL_TREE PPCROOT WORK -- COMMAND...
KERNEL_TREE: the unpacked linux-image/-binary/-modules packages;
PPCROOT: the merged-/usr ppc64el root (python3.11, busybox-static)."""

from __future__ import annotations

import gzip
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from rig_initramfs import GUEST_INIT, _cpio, _modinfo, _module_bytes  # noqa: E402

WANTED = ("9pnet_virtio", "9p", "vfio_pci", "vfio_iommu_spapr_tce")


def initramfs(ktree: Path, ppcroot: Path, out: Path) -> list[str]:
    moddir = next(ktree.glob("usr/lib/modules/*/kernel")).parent
    available = {
        p.name.split(".ko")[0].replace("-", "_"): p for p in (moddir / "kernel").rglob("*.ko*")
    }
    builtin = {
        Path(l).name.split(".ko")[0].replace("-", "_")
        for l in (moddir / "modules.builtin").read_text().split()
    }
    order: list[str] = []
    blobs: dict[str, bytes] = {}

    def visit(name: str) -> None:
        if name in blobs or name in builtin:
            return
        blobs[name] = data = _module_bytes(available[name])
        for dep in _modinfo(data).get("depends", "").split(","):
            if dep:
                visit(dep.replace("-", "_"))
        order.append(name)

    for name in WANTED:
        visit(name)
    entries = [(d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "tmp", "newroot", "mods")]
    entries.append(("dev/console", 0o020600, b""))
    entries.append(("bin/busybox", 0o100755, (ppcroot / "usr/bin/busybox").read_bytes()))
    entries.append(("init", 0o100755, GUEST_INIT.read_bytes()))
    entries.append(("mods/order", 0o100644, "".join(f"{m}\n" for m in order).encode()))
    entries += [(f"mods/{m}.ko", 0o100644, blobs[m]) for m in order]
    out.write_bytes(gzip.compress(_cpio(entries), compresslevel=6, mtime=0))
    return order


def main() -> int:
    ktree, ppcroot, work = (Path(a).resolve() for a in sys.argv[1:4])
    command = sys.argv[sys.argv.index("--") + 1 :]
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("rc", "init-error", "pytest.log", "console.log", "dmesg.txt", "dmesg-boot.txt"):
        (work / stale).unlink(missing_ok=True)
    t0 = time.monotonic()
    order = initramfs(ktree, ppcroot, work / "initrd.cpio.gz")
    print(f"initramfs {time.monotonic() - t0:.1f} s, modules {order}")
    (work / "job.sh").write_text(
        f"cd {shlex.quote(str(HERE.parents[2]))} || exit 90\n{shlex.join(command)}\n"
    )
    vmlinuz = next(ktree.glob("usr/lib/modules/*/vmlinuz"))
    append = f"console=hvc0 panic=-1 quiet loglevel=4 rig_work={work} rig_ppcroot={ppcroot} rig_bind=1234:11e8"
    cmd = [
        "qemu-system-ppc64", "-machine", "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,"
        "cap-ccf-assist=off,cap-large-decr=off", "-accel", "tcg", "-smp", "1", "-m", "1024",
        "-nodefaults", "-display", "none", "-no-reboot", "-serial", f"file:{work / 'console.log'}",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={work},mount_tag=work,security_model=none,multidevs=remap",
        "-device", "spapr-pci-host-bridge,index=1,id=phb1", "-device", "edu,bus=phb1.0",
        "-kernel", str(vmlinuz), "-initrd", str(work / "initrd.cpio.gz"), "-append", append,
    ]  # fmt: skip
    (work / "qemu.cmd").write_text(shlex.join(cmd) + "\n")
    t0 = time.monotonic()
    with open(work / "qemu.log", "wb") as log:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=900
        )
    print(f"qemu exit {proc.returncode}, wall {time.monotonic() - t0:.1f} s")
    for name in ("qemu.log", "console.log", "init-error", "rc", "pytest.log"):
        p = work / name
        if p.exists():
            print(f"--- {name}\n{p.read_text(errors='replace')[-4000:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
