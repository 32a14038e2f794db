"""PCI devices as the guest's sysfs shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PCI_DEVICES = Path("/sys/bus/pci/devices")


@dataclass(frozen=True, slots=True)
class PciDevice:
    """A PCI device as sysfs shows it."""

    bdf: str  # "0000:00:03.0"
    sysfs: Path
    driver: str  # "vfio-pci"
    group: int  # IOMMU group number

    @property
    def noiommu(self) -> bool:
        """Bound to vfio-pci without an IOMMU (vfio.enable_unsafe_noiommu_mode)."""
        return Path(f"/dev/vfio/noiommu-{self.group}").exists()

    @property
    def group_path(self) -> Path:
        """The legacy VFIO group node, /dev/vfio/<group> (noiommu-<group>)."""
        return Path("/dev/vfio") / (f"noiommu-{self.group}" if self.noiommu else str(self.group))


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
