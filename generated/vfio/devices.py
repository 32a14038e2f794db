# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""PCI devices as sysfs shows them: discovery, the BDF -> IOMMU group ->
/dev/vfio node and VFIO cdev path, driver binding.

Nothing here opens a VFIO file: it reads /sys and looks at /dev, so it works
unprivileged and on machines without VFIO (an empty inventory). Every
function takes `root` (default "/") so a fake tree can stand in for sysfs.

    for dev in devices.find(vendor=0x1234, device=0x11E8):
        print(dev.bdf, dev.driver, dev.group_node, dev.cdev)

The command line on top of it, `python -m vfio` (`--help` for each
command), prints JSON with `--json`, in shapes that stay stable. `list
--json` prints the host and the devices (`PciDevice.to_json()`, `Host.to_json()`;
`container_extensions` are the VFIO_CHECK_EXTENSION values the legacy
container answers, null when it cannot be opened):

    {"host": {"iommu_units": ["dmar0"], "container": true, "iommufd": true,
              "cdev": true, "noiommu": false,
              "modules": {"vfio": true, "vfio_pci": true, "vfio_iommu_type1": true,
                          "iommufd": true},
              "container_extensions": ["VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU",
                                       "VFIO_UNMAP_ALL"]},
     "devices": [{"bdf": "0000:00:03.0", "id": "1234:11e8", "class": "0x00ff00",
                  "class_name": "unclassified", "driver": "vfio-pci",
                  "iommu_group": 5, "group_devices": ["0000:00:03.0"],
                  "group_node": "/dev/vfio/5", "cdev": "/dev/vfio/devices/vfio0",
                  "noiommu": false}]}

`info BDF --json` prints the device's entry of `list` plus "config", its
PCI config header from sysfs (vendor, device, command, status, revision,
class, header_type, bars, interrupt_pin; {"raw": hex} when sysfs gives
fewer than 64 bytes), and "vfio": the device as VFIO shows it, opened
through the legacy container ("via": "container") or its cdev and iommufd
("via": "cdev"). Flags are flag names, sizes and offsets integers, "name"
the index's name in linux/vfio.h (null for a device-specific index):

    "vfio": {"via": "container", "flags": ["RESET", "PCI"],
             "num_regions": 9, "num_irqs": 5, "capabilities": [],
             "regions": [{"index": 0, "name": "BAR0_REGION_INDEX",
                          "flags": ["READ", "WRITE", "MMAP", "CAPS"], "size": 16384,
                          "offset": 0, "type": null, "sparse_areas": [],
                          "capabilities": [{"id": 3, "version": 1,
                                            "name": "VFIO_REGION_INFO_CAP_MSIX_MAPPABLE"}]},
                         ...],
             "irqs": [{"index": 2, "name": "MSIX_IRQ_INDEX", "flags": ["EVENTFD"],
                       "count": 61}, ...],
             "features": {"VFIO_DEVICE_FEATURE_PCI_VF_TOKEN": true,
                          "VFIO_DEVICE_FEATURE_MIGRATION": false, ...}}

(QEMU's nvme on vfio-pci.) Every region index below num_regions is listed but
those the kernel rejects (EINVAL: VGA on most devices), a BAR the device
lacks with size 0; IRQ indexes likewise (edu has no ERR index). A region
with VFIO_REGION_INFO_CAP_TYPE has its "type" (null otherwise): the numbers
and their names in linux/vfio.h, null where it names none; a vendor's type
is named "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086" (RegionInfo.type):

    "type": {"type": 2147516550, "subtype": 1,
             "type_name": "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086",
             "subtype_name": "VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION"}

When the device cannot be opened, "vfio" says why (and `info` exits 1):
"error" and "hint" of the failure that explains it, "attempts" every way
tried, in order:

    "vfio": {"via": "container", "error": "...: bound to e1000e, not vfio-pci: ...",
             "hint": "bound to e1000e, not vfio-pci: python -m vfio bind 0000:00:04.1",
             "attempts": [{"via": "container", "error": "...", "hint": "..."}]}

`doctor --json` prints its findings, in order: [{"ok": bool, "what": str,
"hint": str}] (hint "" when there is nothing to do).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from vfio import _in_use
from vfio.errors import DeviceInUseError, DeviceNotFoundError, RefusedError, SysfsError

__all__ = ["Host", "PciDevice", "bind", "device", "find", "host", "scan", "unbind", "users"]

BDF = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
VFIO_DRIVERS_ALLOWED = ("pci-stub",)  # besides vfio drivers and no driver (drivers/vfio/group.c)
PCI_CLASSES = {
    0x00: "unclassified",
    0x01: "storage",
    0x02: "network",
    0x03: "display",
    0x04: "multimedia",
    0x05: "memory",
    0x06: "bridge",
    0x07: "communication",
    0x08: "system peripheral",
    0x09: "input",
    0x0C: "serial bus",
    0x0D: "wireless",
    0x12: "processing accelerator",
    0xFF: "unassigned",
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _hex(path: Path) -> int:
    text = _read(path)
    try:
        return int(text, 16) if text else 0
    except ValueError:
        return 0


def _link_name(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def is_vfio_driver(driver: str | None) -> bool:
    """vfio-pci and its variant drivers (mlx5_vfio_pci, ...)."""
    return driver is not None and "vfio" in driver.replace("_", "-")


class PciDevice(NamedTuple):
    """One PCI device: identity, driver, IOMMU group and the VFIO nodes to open."""

    bdf: str
    vendor: int
    device: int
    class_code: int  # 24 bits: base class, subclass, programming interface
    subsystem_vendor: int
    subsystem_device: int
    driver: str | None
    driver_override: str | None
    header_type: int
    iommu_group: int | None
    group_devices: list[str]
    group_node: str | None  # /dev/vfio/N or /dev/vfio/noiommu-N, when present
    cdev: str | None  # /dev/vfio/devices/vfioN, when bound to a vfio driver
    noiommu: bool

    @property
    def id(self) -> str:
        return f"{self.vendor:04x}:{self.device:04x}"

    @property
    def class_name(self) -> str:
        return PCI_CLASSES.get(self.class_code >> 16, "other")

    @property
    def bound_to_vfio(self) -> bool:
        return is_vfio_driver(self.driver)

    def to_json(self) -> dict[str, object]:
        """The shape `python -m vfio list --json` prints per device."""
        return {
            "bdf": self.bdf,
            "id": self.id,
            "class": f"0x{self.class_code:06x}",
            "class_name": self.class_name,
            "driver": self.driver,
            "iommu_group": self.iommu_group,
            "group_devices": self.group_devices,
            "group_node": self.group_node,
            "cdev": self.cdev,
            "noiommu": self.noiommu,
        }


class Host(NamedTuple):
    """What this kernel offers, from the nodes and modules present."""

    root: str
    iommu_units: list[str]  # /sys/class/iommu entries: a hardware IOMMU is on
    container: bool  # /dev/vfio/vfio (the legacy container)
    iommufd: bool  # /dev/iommu
    cdev: bool  # /dev/vfio/devices (the VFIO device cdev)
    noiommu: bool  # vfio's enable_unsafe_noiommu_mode
    modules: dict[str, bool]  # vfio, vfio_pci, vfio_iommu_type1, iommufd loaded (or built in)

    def to_json(self) -> dict[str, object]:
        return {
            "iommu_units": self.iommu_units,
            "container": self.container,
            "iommufd": self.iommufd,
            "cdev": self.cdev,
            "noiommu": self.noiommu,
            "modules": self.modules,
        }


def _paths(root: str | Path) -> tuple[Path, Path]:
    base = Path(root)
    return base / "sys", base / "dev"


def host(root: str | Path = "/") -> Host:
    sys_, dev = _paths(root)
    units = sorted(p.name for p in (sys_ / "class/iommu").glob("*"))
    modules = {
        m: (sys_ / "module" / m).is_dir()
        for m in ("vfio", "vfio_pci", "vfio_iommu_type1", "iommufd")
    }
    noiommu = _read(sys_ / "module/vfio/parameters/enable_unsafe_noiommu_mode") in ("Y", "1")
    return Host(
        root=str(root),
        iommu_units=units,
        container=(dev / "vfio/vfio").exists(),
        iommufd=(dev / "iommu").exists(),
        cdev=(dev / "vfio/devices").is_dir(),
        noiommu=noiommu,
        modules=modules,
    )


def device(bdf: str, root: str | Path = "/") -> PciDevice:
    """The PCI device at `bdf` ("0000:00:03.0"; "00:03.0" means domain 0)."""
    bdf = normalize_bdf(bdf)
    sys_, dev = _paths(root)
    path = sys_ / "bus/pci/devices" / bdf
    if not path.is_dir():
        raise DeviceNotFoundError(bdf, str(path))
    group_name = _link_name(path / "iommu_group")
    group = int(group_name) if group_name and group_name.isdigit() else None
    members: list[str] = []
    node = None
    noiommu = False
    if group is not None:
        group_dir = sys_ / "kernel/iommu_groups" / str(group)
        members = sorted(p.name for p in (group_dir / "devices").glob("*"))
        noiommu = _read(group_dir / "name") == "vfio-noiommu"
        for name in (f"noiommu-{group}", str(group)) if noiommu else (str(group),):
            if (dev / "vfio" / name).exists():
                node = str(Path("/dev/vfio") / name)
    cdevs = sorted(p.name for p in (path / "vfio-dev").glob("vfio*"))
    override = _read(path / "driver_override")
    config = _config_header(path)
    return PciDevice(
        bdf=bdf,
        vendor=_hex(path / "vendor"),
        device=_hex(path / "device"),
        class_code=_hex(path / "class"),
        subsystem_vendor=_hex(path / "subsystem_vendor"),
        subsystem_device=_hex(path / "subsystem_device"),
        driver=_link_name(path / "driver"),
        driver_override=None if override in (None, "(null)", "") else override,
        header_type=config[0x0E] & 0x7F if len(config) > 0x0E else 0,
        iommu_group=group,
        group_devices=members,
        group_node=node,
        cdev=str(Path("/dev/vfio/devices") / cdevs[0]) if cdevs else None,
        noiommu=noiommu,
    )


def _config_header(path: Path) -> bytes:
    try:
        with open(path / "config", "rb") as f:
            return f.read(64)  # what an unprivileged reader may see
    except OSError:
        return b""


def normalize_bdf(bdf: str) -> str:
    text = bdf.strip().lower()
    if re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", text):
        text = "0000:" + text
    if not BDF.match(text):
        raise ValueError(f"{bdf!r} is not a PCI address (DDDD:BB:DD.F, e.g. 0000:00:03.0)")
    return text


def scan(root: str | Path = "/", *, every: bool = False) -> list[PciDevice]:
    """The VFIO-capable devices (in an IOMMU group, or bound to a vfio
    driver); `every`: all PCI devices. No PCI bus: an empty list."""
    sys_, _ = _paths(root)
    base = sys_ / "bus/pci/devices"
    out: list[PciDevice] = []
    for path in sorted(base.glob("*")) if base.is_dir() else []:
        if not BDF.match(path.name):
            continue
        found = device(path.name, root)
        if every or found.iommu_group is not None or found.bound_to_vfio:
            out.append(found)
    return out


def find(
    vendor: int | None = None,
    device: int | None = None,
    class_code: int | None = None,
    *,
    class_mask: int = 0xFFFFFF,
    root: str | Path = "/",
) -> list[PciDevice]:
    """VFIO-capable devices matching vendor, device and class
    (`class_code=0x010000, class_mask=0xFF0000`: every storage device)."""
    return [
        d
        for d in scan(root)
        if (vendor is None or d.vendor == vendor)
        and (device is None or d.device == device)
        and (class_code is None or (d.class_code & class_mask) == (class_code & class_mask))
    ]


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise SysfsError(exc.errno or 0, str(path), text) from exc


def _need_root(action: str, bdf: str, euid: int | None) -> None:
    if (os.geteuid() if euid is None else euid) != 0:
        raise SysfsError(
            1,
            f"/sys/bus/pci/devices/{bdf}/driver_override",
            "",
            f"{action} writes sysfs: run as root",
        )


def bind(
    bdf: str,
    driver: str = "vfio-pci",
    root: str | Path = "/",
    euid: int | None = None,
    *,
    force: bool = False,
) -> PciDevice:
    """Bind the device to `driver` (driver_override, unbind, drivers_probe);
    returns the device as it is afterwards. A device the host is using (a
    network interface up, addressed or routed, a filesystem of it mounted,
    its disk open in a process: see `users`) is refused with
    DeviceInUseError unless `force`."""
    _need_root("bind", bdf, euid)
    found = device(bdf, root)
    sys_, _ = _paths(root)
    if not (sys_ / "bus/pci/drivers" / driver).is_dir():
        raise SysfsError(
            19,
            str(sys_ / "bus/pci/drivers" / driver),
            "",
            f"driver {driver} is not loaded: modprobe {driver}",
        )
    path = sys_ / "bus/pci/devices" / found.bdf
    if found.driver not in (None, driver) and not force:
        in_use = users(found.bdf, root)
        if in_use:
            raise DeviceInUseError(found.bdf, in_use, str(path))
    _write(path / "driver_override", driver)
    if found.driver not in (None, driver):
        _write(path / "driver/unbind", found.bdf)
    if found.driver != driver:
        _write(sys_ / "bus/pci/drivers_probe", found.bdf)
    return device(found.bdf, root)


def unbind(bdf: str, root: str | Path = "/", euid: int | None = None) -> PciDevice:
    """Release the device from its vfio driver and let its own driver probe
    it again. A device no vfio driver has (nor claims through
    driver_override) is refused with RefusedError: nothing to give back."""
    _need_root("unbind", bdf, euid)
    found = device(bdf, root)
    sys_, _ = _paths(root)
    path = sys_ / "bus/pci/devices" / found.bdf
    if not (found.bound_to_vfio or is_vfio_driver(found.driver_override)):
        raise RefusedError(
            errno.EINVAL,
            str(path / "driver"),
            f"{found.bdf} is bound to {found.driver or 'no driver'}, not a vfio driver: "
            "nothing to give back",
        )
    _write(path / "driver_override", "\n")
    if found.driver is not None:
        _write(path / "driver/unbind", found.bdf)
    _write(sys_ / "bus/pci/drivers_probe", found.bdf)
    return device(found.bdf, root)


def users(bdf: str, root: str | Path = "/") -> list[str]:
    """What on this machine uses the device, one phrase each ("network
    interface eth0 (up, 2 route(s))", "block device nvme0n1p1 mounted on
    /boot"); empty when nothing does. From sysfs and procfs: see vfio._in_use."""
    return _in_use.device_users(normalize_bdf(bdf), root)


def iter_group(dev: PciDevice, root: str | Path = "/") -> Iterator[PciDevice]:
    """The other devices of its IOMMU group (they decide if it is viable)."""
    for bdf in dev.group_devices:
        if bdf != dev.bdf:
            yield device(bdf, root)


def group_viable(dev: PciDevice, root: str | Path = "/") -> bool:
    """As the kernel decides: every device of the group is unbound, bound to
    a vfio driver or to pci-stub, or is a bridge."""
    return all(
        d.driver is None
        or is_vfio_driver(d.driver)
        or d.driver in VFIO_DRIVERS_ALLOWED
        or d.header_type != 0
        for d in [dev, *iter_group(dev, root)]
    )
