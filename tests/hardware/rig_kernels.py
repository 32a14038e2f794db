"""The kernels the rig boots: the flavors, and their cache (downloaded
Debian kernels, or kernels built by kbuild.py)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import kbuild
from rig_errors import MissingPart, RigError
from vfiogen.errors import SourceError
from vfiogen.inputs import debian, releases

EDU_ID = "1234:11e8"  # QEMU's edu teaching device (DMA, MSI, INTx)
NVME_ID = "1b36:0010"  # QEMU's nvme: FLR, bus reset, SR-IOV (sriov_max_vfs)
# The full-ABI flavor's machine (facts from ../shared/reference/kernel-build-7.2):
# - nvme behind a pcie-root-port at x-speed=5: at QEMU 7.2's default 16 GT/s
#   Linux waits for Data Link Layer Link Active after a bus reset, which
#   QEMU never sets, and VFIO_DEVICE_PCI_HOT_RESET fails with ENOTTY;
# - sriov_max_vfs=2 needs subsys=, vq_flexible >= 2*VFs, vi_flexible >= VFs;
# - a second edu behind a pxb-pcie with bypass_iommu: outside the DMAR scope,
#   it has no IOMMU group and becomes /dev/vfio/noiommu-N in the same boot.
FULL_DEVICES = (
    "-device", "pcie-root-port,id=rp1,chassis=1,x-speed=5",
    "-device", "nvme-subsys,id=subsys0",
    "-device", "nvme,bus=rp1,serial=deadbeef,subsys=subsys0,sriov_max_vfs=2,"
    "sriov_vq_flexible=8,sriov_vi_flexible=4",
    "-device", "pxb-pcie,id=pxb1,bus_nr=0x40,bus=pcie.0,bypass_iommu=true",
    "-device", "pcie-root-port,id=rp2,bus=pxb1,chassis=2",
    "-device", "edu,bus=rp2",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Flavor:
    """A kernel the rig can boot: the version series and the Debian suite
    whose `linux-image-amd64` currently points at it; or, with `source`, a
    kernel built from that Debian source package (kbuild.py). `devices` are
    QEMU arguments beyond the IOMMU and the edu every flavor has, `cmdline`
    kernel parameters beyond the rig's own, `bind` the vendor:device IDs
    /init hands to vfio-pci. `arch` is the Debian architecture of the kernel
    (not amd64: another QEMU and guest userland, rig_ppc64.py), `guest_tests`
    the files of guest/ it runs (empty: all of them)."""

    name: str
    suite: str
    source: kbuild.Source | None = None
    iommu: str = "intel-iommu,intremap=on"
    devices: tuple[str, ...] = ()
    cmdline: str = ""
    bind: tuple[str, ...] = (EDU_ID,)
    arch: str = "amd64"
    guest_tests: tuple[str, ...] = ()

    @property
    def series(self) -> str:
        """The kernel version series: "7.2" for "7.2" and "7.2-full"."""
        return self.name.partition("-")[0]


FLAVORS = {
    f.name: f
    for f in (
        Flavor("6.1", "bookworm"),
        Flavor("6.12", "bookworm-backports"),
        Flavor("7.2", "sid"),
        # The whole ABI, on a kernel built here (no Debian kernel has iommufd
        # or the VFIO cdev): type1 + iommufd compat + cdev + noiommu,
        # IOMMUFD_TEST, the mdev samples, vfio-pci SR-IOV. ~15-25 min cold
        # build on 2 cores, then cached; it replaced 6.12-iommufd.
        Flavor(
            "7.2-full",
            "sid",
            kbuild.Source("sid", "linux-source-7.2", kbuild.HERE / "kbuild-7.2-full.fragment"),
            iommu="intel-iommu,intremap=on,aw-bits=48",
            devices=FULL_DEVICES,
            cmdline="vfio_pci.enable_sriov=1 vfio.enable_unsafe_noiommu_mode=1",
            bind=(EDU_ID, NVME_ID),
        ),
        # sid's ppc64el kernel on QEMU's pseries machine (TCG): edu on its own
        # PHB behind the sPAPR TCE IOMMU, for the sPAPR requests (rig_ppc64.py):
        # their tests, and the request fuzzer on a sPAPR TCE v2 container.
        Flavor(
            "7.2-ppc64",
            "sid",
            iommu="",
            arch="ppc64el",
            guest_tests=("test_spapr.py", "test_fuzz_kernel.py"),
        ),
    )
}
DEFAULT_KERNELS = ("6.1", "7.2", "7.2-full", "7.2-ppc64")
# The Debian package that points at a suite's current kernel, per architecture.
KERNEL_META = {"amd64": "linux-image-amd64", "ppc64el": "linux-image-powerpc64le"}


@dataclass(frozen=True, slots=True)
class Kernel:
    """An unpacked Debian kernel in the cache."""

    name: str  # the flavor: "6.1"
    suite: str
    version: str  # the package version: "6.1.176-1"
    release: str  # uname -r: "6.1.0-50-amd64"
    vmlinuz: Path
    moddir: Path  # .../lib/modules/<release>


def cache_root() -> Path:
    """$VFIOGEN_CACHE/rig, else ~/.cache/vfiogen/rig."""
    return releases.cache_dir() / "rig"


def kernel_dir(name: str) -> Path:
    """The cache dir of kernel `name` (kernel.json, boot/, lib/modules/)."""
    return cache_root() / "kernels" / name


def kernels_under_test() -> list[str]:
    """The kernels the hardware tier boots: $VFIOGEN_RIG_KERNELS (comma
    separated, e.g. "6.1,6.12,7.2"), default 6.1, 7.2, 7.2-full and 7.2-ppc64."""
    names = os.environ.get("VFIOGEN_RIG_KERNELS", ",".join(DEFAULT_KERNELS))
    return [n.strip() for n in names.split(",") if n.strip()]


def fetch_kernel(name: str, refresh: bool = False) -> Kernel:
    """The cached kernel `name` ("6.1", "7.2"), downloaded on first use.

    The packages are whatever the flavor's suite has today (its lists are
    refreshed first: suites drop superseded kernels), checked to still be the
    `name` series. `refresh` replaces a cached kernel with today's. A built
    flavor ("7.2-full") is built on first use and whenever its fragment
    or source version changed (`refresh`: today's source version)."""
    flavor = FLAVORS.get(name)
    if flavor is None:
        raise RigError(f"unknown kernel {name!r}; known: {', '.join(FLAVORS)}")
    dest = kernel_dir(name)
    if flavor.source is None and not refresh and (dest / "kernel.json").exists():
        return _load_kernel(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download (or build) per kernel at a time
        if flavor.source is not None:
            return _build_kernel(flavor, dest, refresh)
        if not refresh and (dest / "kernel.json").exists():
            return _load_kernel(dest)
        try:
            return _download_kernel(flavor, dest)
        except SourceError as exc:
            raise RigError(f"kernel {name} (Debian {flavor.suite}): {exc}") from None


def _build_kernel(flavor: Flavor, dest: Path, refresh: bool) -> Kernel:
    """The built flavor, from the cache when its key (fragment, source
    version, recipe) is unchanged; a missing build tool is a MissingPart."""
    assert flavor.source is not None
    try:
        kbuild.ensure_kernel(
            flavor.name,
            flavor.source,
            dest,
            cache_root() / "kbuild" / flavor.name,
            cache_root(),
            refresh=refresh,
        )
    except kbuild.MissingTool as exc:
        raise MissingPart(f"kernel {flavor.name}: {exc}") from None
    except kbuild.KbuildError as exc:
        raise RigError(f"kernel {flavor.name}: {exc}") from None
    return _load_kernel(dest)


def _download_kernel(flavor: Flavor, dest: Path) -> Kernel:
    """Resolve linux-image-amd64 (or the flavor's architecture's) in the
    suite, download the image package and,
    where the suite splits it (sid: linux-binary-/linux-modules-/linux-base-),
    its parts; unpack them all into `dest`."""
    apt_root = cache_root()
    arch = flavor.arch
    meta_name = KERNEL_META[arch]
    meta = debian.show(apt_root, flavor.suite, meta_name, refresh=True, arch=arch)
    images = [d for d in debian.depends(meta) if re.match(r"linux-image-\d", d)]
    if not images:
        raise RigError(f"{flavor.suite}: {meta_name} depends on no linux-image-<version>")
    image = images[0]
    fields = debian.show(apt_root, flavor.suite, image, arch=arch)
    version = fields.get("Version", "")
    if not version.startswith(flavor.series + "."):
        raise RigError(
            f"Debian {flavor.suite}'s kernel is now {version}, not {flavor.series}: "
            f"update FLAVORS in {Path(__file__).name}"
        )
    abi = image.removeprefix("linux-image-")
    parts = [image] + [
        d
        for d in debian.depends(fields)
        if d in (f"linux-binary-{abi}", f"linux-modules-{abi}", f"linux-base-{abi}")
    ]
    staging = Path(tempfile.mkdtemp(prefix=f".{flavor.name}-", dir=dest.parent))
    try:
        debs = staging / "debs"
        tree = staging / "tree"
        for package in parts:
            print(f"rig: downloading {package} from Debian {flavor.suite}", file=sys.stderr)
            debian.extract(debian.download(apt_root, flavor.suite, package, debs, arch), tree)
        vmlinuz = sorted(tree.glob("boot/vmlinuz-*")) + sorted(
            tree.glob("usr/lib/modules/*/vmlinuz")
        )
        moddirs = [
            d.parent
            for d in sorted(tree.glob("lib/modules/*/kernel"))
            + sorted(tree.glob("usr/lib/modules/*/kernel"))
        ]
        if not vmlinuz or not moddirs:
            raise RigError(f"{', '.join(parts)}: no vmlinuz or lib/modules/*/kernel inside")
        info = {
            "name": flavor.name,
            "suite": flavor.suite,
            "version": version,
            "packages": parts,
            "release": moddirs[0].name,
            "vmlinuz": str(vmlinuz[0].relative_to(tree)),
            "moddir": str(moddirs[0].relative_to(tree)),
        }
        (tree / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _load_kernel(dest)


def _load_kernel(dest: Path) -> Kernel:
    info = json.loads((dest / "kernel.json").read_text())
    kernel = Kernel(
        name=info["name"],
        suite=info["suite"],
        version=info["version"],
        release=info["release"],
        vmlinuz=dest / info["vmlinuz"],
        moddir=dest / info["moddir"],
    )
    modules = (kernel.moddir / "kernel").is_dir() or (kernel.moddir / "modules.builtin").is_file()
    if not kernel.vmlinuz.is_file() or not modules:
        raise RigError(f"cached kernel {dest} is incomplete: delete it to fetch it again")
    return kernel
