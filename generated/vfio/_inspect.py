# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""What `python -m vfio info` reports about an open device, as JSON-ready
dicts: device info, regions with decoded capabilities, IRQ indexes, device
features, and the PCI config header (from sysfs: readable unprivileged);
and what `list` reports of the legacy container: its IOMMU extensions."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from vfio import abi, caps
from vfio._device import Device, IrqInfo, RegionInfo, RegionType
from vfio._legacy import Container
from vfio.errors import VfioError

__all__: list[str] = []


def container_extensions(root: str | Path = "/") -> list[str] | None:
    """The extensions (abi.CONTAINER_EXTENSIONS: this release's, from the
    overlay) /dev/vfio/vfio says it supports (every registered IOMMU driver
    answers before a model is set); None when it cannot be opened."""
    try:
        with Container(Path(root) / "dev/vfio/vfio") as container:
            return [
                name
                for name, value in abi.CONTAINER_EXTENSIONS.items()
                if container.check_extension(value) > 0
            ]
    except VfioError:
        return None


def short_extension(name: str) -> str:
    """ "VFIO_TYPE1v2_IOMMU" -> "type1v2", "VFIO_UNMAP_ALL" -> "unmap_all"."""
    return name.removeprefix("VFIO_").removesuffix("_IOMMU").lower()


def _name(cls: Any, value: int) -> str | None:
    """The enumerator name of `value` in a FIELD_VALUES class, if any; not
    the count that ends the enum (VFIO_PCI_NUM_REGIONS is the first
    device-specific index, VFIO_PCI_NUM_IRQS likewise: no name of theirs)."""
    if cls is None:
        return None
    try:
        name = str(cls(value).name)
    except ValueError:
        return None
    return None if name.startswith("NUM_") else name


def flag_names(value: int) -> list[str]:
    return [str(f.name) for f in type(value) if f in value] if isinstance(value, enum.Flag) else []


def _capability(c: caps.Capability) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, "version": c.version, "name": c.name}
    if c.value is not None:
        out["value"] = repr(c.value)
    if len(c.tail):
        out["tail"] = [repr(t) if not isinstance(t, int) else t for t in c.tail]
    return out


def region_type(kind: RegionType | None) -> dict[str, Any] | None:
    """VFIO_REGION_INFO_CAP_TYPE's numbers and the headers' names for them
    (null where linux/vfio.h names none)."""
    if kind is None:
        return None
    return {
        "type": kind.type,
        "subtype": kind.subtype,
        "type_name": kind.type_name,
        "subtype_name": kind.subtype_name,
    }


def region(r: RegionInfo) -> dict[str, Any]:
    names = abi.vfio_region_info.FIELD_VALUES.get("index")
    return {
        "index": r.index,
        "name": _name(names, r.index),
        "flags": flag_names(r.flags),
        "size": r.size,
        "offset": r.offset,
        "type": region_type(r.type),
        "sparse_areas": [list(a) for a in r.sparse_areas],
        "capabilities": [_capability(c) for c in r.capabilities],
    }


def irq(i: IrqInfo) -> dict[str, Any]:
    names = abi.vfio_irq_info.FIELD_VALUES.get("index")
    return {
        "index": i.index,
        "name": _name(names, i.index),
        "flags": flag_names(i.flags),
        "count": i.count,
    }


def features(dev: Device) -> dict[str, bool]:
    """Which device features the device says it supports (PROBE)."""
    probe = getattr(dev, "probe_feature", None)
    if probe is None:  # a release without VFIO_DEVICE_FEATURE
        return {}
    out: dict[str, bool] = {}
    for name, index in caps.FEATURES.items():
        try:
            out[name] = bool(probe(index))
        except VfioError:
            out[name] = False
    return out


def device_report(dev: Device) -> dict[str, Any]:
    info = dev.info
    return {
        "flags": flag_names(info.flags),
        "num_regions": info.num_regions,
        "num_irqs": info.num_irqs,
        "capabilities": [_capability(c) for c in info.capabilities],
        "regions": [region(r) for r in dev.regions()],
        "irqs": [irq(i) for i in dev.irqs()],
        "features": features(dev),
    }


def config_header(data: bytes) -> dict[str, Any]:
    """The type 0/1 PCI config header's common fields, decoded."""
    if len(data) < 64:
        return {"raw": data.hex()}

    def u(offset: int, width: int) -> int:
        return int.from_bytes(data[offset : offset + width], "little")

    header_type = u(0x0E, 1)
    bars = 6 if header_type & 0x7F == 0 else 2
    return {
        "vendor": f"0x{u(0, 2):04x}",
        "device": f"0x{u(2, 2):04x}",
        "command": f"0x{u(4, 2):04x}",
        "status": f"0x{u(6, 2):04x}",
        "revision": u(8, 1),
        "class": f"0x{u(9, 3):06x}",
        "header_type": f"0x{header_type:02x}",
        "bars": [f"0x{u(0x10 + 4 * i, 4):08x}" for i in range(bars)],
        "interrupt_pin": u(0x3D, 1),
    }
