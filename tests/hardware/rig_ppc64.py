"""The machine of a ppc64 flavor ("7.2-ppc64"): Debian's ppc64el kernel on
qemu-system-ppc64's pseries machine under TCG, with edu alone on a second
PHB behind the sPAPR TCE IOMMU, and a ppc64el userland for the guest.

- QEMU puts every device of a PHB into one PE, hence one IOMMU group: edu
  shares none with the 9p devices only on a PHB of its own (on the first
  PHB its group is not viable and VFIO_GROUP_SET_CONTAINER answers EPERM).
  The PHB is created after the 9p devices, which would otherwise land on it.
- The host's Python cannot run in the guest, so the guest runs Debian's
  ppc64el python3.X of the host's X.Y (the host's site-packages are pure
  Python where it matters and are put on PYTHONPATH, as for x86 they are
  shared over 9p) and busybox-static, unpacked into a merged-/usr root that
  the guest's /init (guest-init.sh, given rig_ppcroot=) mounts over the
  host's /usr.
- EEH stays off: QEMU answers ibm,set-eeh-option with a parameter error on a
  PHB without a VFIO device of its own (spapr_phb_eeh_available), so Linux
  finds no EEH-capable adapter and VFIO_EEH_PE_OP is ENODEV.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rig_host import qemu_with
from rig_errors import MissingPart, RigError
from rig_initramfs import build_initramfs
from rig_kernels import Flavor, Kernel, cache_root
from vfiogen.errors import SourceError
from vfiogen.inputs import debian

ARCH = "ppc64el"
QEMU = "qemu-system-ppc64"
# bookworm: its python3.11 is the Python the project runs on (pyproject: 3.11).
ROOT_SUITE = "bookworm"
WANTED_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "vfio_pci", "vfio_iommu_spapr_tce")
# The Spectre/Meltdown capabilities TCG cannot provide: "broken" says so
# instead of a warning per capability at every start.
MACHINE = "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off"


def check_host() -> str:
    """qemu-system-ppc64 with edu and the pseries PHB, else MissingPart."""
    return qemu_with(QEMU, ('"edu"', '"spapr-pci-host-bridge"'))


def guest_python() -> str:
    """The guest's interpreter: the ppc64el build of the host's Python version."""
    return f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"


def root_dir() -> Path:
    return (
        cache_root() / "roots" / f"{ARCH}-python{sys.version_info.major}.{sys.version_info.minor}"
    )


def fetch_root(refresh: bool = False) -> Path:
    """The guest's userland (cached): python3.X, busybox-static and their
    dependencies from Debian ROOT_SUITE for ppc64el, unpacked and merged
    into usr/ (the host's /bin, /lib, /lib64 are symlinks into /usr)."""
    dest = root_dir()
    if not refresh and (dest / "root.json").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not refresh and (dest / "root.json").exists():
            return dest
        try:
            _unpack_root(dest)
        except SourceError as exc:
            raise RigError(f"ppc64el root (Debian {ROOT_SUITE}): {exc}") from None
    return dest


def _unpack_root(dest: Path) -> None:
    python = Path(guest_python()).name
    packages = debian.closure(cache_root(), ROOT_SUITE, [python, "busybox-static"], ARCH)
    if python not in packages:
        raise RigError(f"Debian {ROOT_SUITE} has no {python} for {ARCH}: the host's Python")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        tree = staging / "tree"
        for package in packages:
            deb = debian.download(cache_root(), ROOT_SUITE, package, staging / "debs", ARCH)
            debian.extract(deb, tree)
        usr = tree / "usr"
        for top in ("bin", "sbin", "lib", "lib64"):
            if (tree / top).is_dir() and not (tree / top).is_symlink():
                shutil.copytree(tree / top, usr / top, symlinks=True, dirs_exist_ok=True)
                shutil.rmtree(tree / top)
        for tool in ("sh", "env"):  # job.sh runs under /bin/sh and execs env
            (usr / "bin" / tool).unlink(missing_ok=True)
            (usr / "bin" / tool).symlink_to("busybox")
        for need in (Path(guest_python()).relative_to("/"), Path("usr/bin/busybox")):
            if not (tree / need).is_file():
                raise RigError(f"ppc64el root: no {need} after unpacking {', '.join(packages)}")
        (tree / "root.json").write_text(
            json.dumps({"suite": ROOT_SUITE, "arch": ARCH, "packages": packages}, indent=2) + "\n"
        )
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_guest_initramfs(kernel: Kernel, out: Path, root: Path) -> list[str]:
    """The initramfs of a ppc64 guest: its modules, ppc64el busybox, the
    common /init (rig_ppcroot= on the command line makes it use `root`)."""
    return build_initramfs(kernel, out, wanted=WANTED_MODULES, busybox=root / "usr/bin/busybox")


def guest_pythonpath(host_sys_path: Sequence[str]) -> str:
    """The host interpreter's sys.path without its standard library (the
    guest's Python has its own: the stdlib dir, lib-dynload, the zip), so
    site-packages and the project's paths, in the host's order."""
    paths = sysconfig.get_paths()
    stdlib = {Path(paths["stdlib"]), Path(paths["platstdlib"])}
    stdlib |= {s / "lib-dynload" for s in stdlib}
    kept = [p for p in host_sys_path if p and not p.endswith(".zip") and Path(p) not in stdlib]
    return ":".join(kept)


def qemu_command(flavor: Flavor, kernel: Kernel, initrd: Path, work: Path, root: Path) -> list[str]:
    """pseries under TCG, one vCPU; the host root and the work dir over 9p on
    the first PHB, edu alone on a second one (its own PE, IOMMU group)."""
    append = (
        "console=hvc0 panic=-1 quiet loglevel=4"
        f" rig_work={work} rig_ppcroot={root} rig_bind={','.join(flavor.bind)} {flavor.cmdline}"
    ).strip()
    return [
        check_host(),
        "-machine", MACHINE,
        "-accel", "tcg",
        "-smp", "1",
        "-m", "1024",
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-serial", f"file:{work / 'console.log'}",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
        "multidevs=remap",
        "-virtfs", f"local,path={work},mount_tag=work,security_model=none,multidevs=remap",
        "-device", "spapr-pci-host-bridge,index=1,id=phb1",
        "-device", "edu,bus=phb1.0",
        *flavor.devices,
        "-kernel", str(kernel.vmlinuz),
        "-initrd", str(initrd),
        "-append", append,
    ]  # fmt: skip
