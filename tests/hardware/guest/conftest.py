"""Fixtures of the guest-side tests, which run inside a rig guest (see
../rig.py): the edu device bound to vfio-pci, and what the host told us.

A new hardware test is a `test_*.py` file in this directory; the rig runs
every one of them on every kernel under test."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_GUEST = os.environ.get("VFIOGEN_GUEST") == "1"
HERE = Path(__file__).parent
EDU_VENDOR, EDU_DEVICE = 0x1234, 0x11E8
PCI_DEVICES = Path("/sys/bus/pci/devices")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Guest tests collected on the host (`pytest tests/hardware/guest` by
    hand) are skipped: they need the guest's VFIO device."""
    if IN_GUEST:
        return
    skip = pytest.mark.skip(reason="runs inside the rig's guest: pytest -m hardware tests/hardware")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


@dataclass(frozen=True, slots=True)
class PciDevice:
    """A PCI device as sysfs shows it."""

    bdf: str  # "0000:00:03.0"
    sysfs: Path
    driver: str  # "vfio-pci"
    group: int  # IOMMU group number

    @property
    def group_path(self) -> Path:
        """The legacy VFIO group node, /dev/vfio/<group>."""
        return Path("/dev/vfio") / str(self.group)


def find_pci(vendor: int, device: int) -> list[PciDevice]:
    found = []
    for d in sorted(PCI_DEVICES.iterdir()):
        if int((d / "vendor").read_text(), 16) != vendor:
            continue
        if int((d / "device").read_text(), 16) != device:
            continue
        driver = (d / "driver").resolve().name if (d / "driver").exists() else ""
        group = int((d / "iommu_group").resolve().name) if (d / "iommu_group").exists() else -1
        found.append(PciDevice(d.name, d, driver, group))
    return found


@pytest.fixture(scope="session")
def edu() -> PciDevice:
    """QEMU's edu device (1234:11e8), which /init bound to vfio-pci."""
    devices = find_pci(EDU_VENDOR, EDU_DEVICE)
    assert len(devices) == 1, f"expected one edu device, found {devices}"
    return devices[0]


@pytest.fixture(scope="session")
def rig_host() -> dict:
    """host.json, written by the rig: the host's interpreter, sys.path, and
    the kernel flavor ("6.1", "7.2") this guest booted."""
    return json.loads((Path(os.environ["VFIOGEN_RIG_WORK"]) / "host.json").read_text())


@pytest.fixture(scope="session")
def guest_kernel() -> str:
    """The kernel flavor under test: "6.1", "7.2", "6.12-iommufd" (rig.FLAVORS)."""
    return os.environ["VFIOGEN_GUEST_KERNEL"]
