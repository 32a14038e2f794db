# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""`python -m vfio doctor [BDF]`: why a device cannot be used, in plain
words, from sysfs and /dev alone (IOMMU off, module missing, not bound to
vfio-pci, group not viable, node not accessible or busy)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import NamedTuple

from vfio import _in_use, devices

__all__: list[str] = []


class Finding(NamedTuple):
    ok: bool
    what: str
    hint: str = ""

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "what": self.what, "hint": self.hint}


def host_findings(root: str | Path) -> list[Finding]:
    h = devices.host(root)
    out: list[Finding] = []
    if not (Path(root) / "sys/bus/pci").is_dir():
        out.append(Finding(False, "no PCI bus in /sys", "is /sys mounted (a container)?"))
    if h.iommu_units:
        out.append(Finding(True, f"IOMMU on ({', '.join(h.iommu_units)})"))
    elif h.noiommu:
        out.append(
            Finding(True, "no IOMMU, but vfio's unsafe no-IOMMU mode is on (no DMA isolation)")
        )
    else:
        out.append(
            Finding(
                False,
                "no IOMMU: it is off or absent",
                "enable VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (Intel) "
                "or amd_iommu=on (AMD); in a VM give it a virtual IOMMU",
            )
        )
    if not h.modules["vfio_pci"]:
        out.append(Finding(False, "vfio-pci is not loaded", "modprobe vfio-pci"))
    if h.container:
        out.append(Finding(True, "legacy container /dev/vfio/vfio present"))
    elif h.modules["vfio"]:
        out.append(
            Finding(False, "no /dev/vfio/vfio", "modprobe vfio_iommu_type1 (or use iommufd + cdev)")
        )
    if h.iommufd:
        cdev = "and the VFIO cdev" if h.cdev else "but no VFIO cdev (CONFIG_VFIO_DEVICE_CDEV)"
        out.append(Finding(True, f"iommufd (/dev/iommu) present, {cdev}"))
    return out


def device_findings(bdf: str, root: str | Path) -> list[Finding]:
    try:
        dev = devices.device(bdf, root)
    except OSError as exc:
        return [Finding(False, str(exc))]
    out = [Finding(True, f"{dev.bdf}: {dev.id} {dev.class_name}, driver {dev.driver or 'none'}")]
    if dev.iommu_group is None:
        out.append(Finding(False, f"{dev.bdf} is in no IOMMU group", "the IOMMU is off: see above"))
        return out
    if not dev.bound_to_vfio:
        out.append(
            Finding(
                False,
                f"bound to {dev.driver or 'no driver'}, not vfio-pci",
                f"python -m vfio bind {dev.bdf}",
            )
        )
        in_use = devices.users(dev.bdf, root)
        if in_use:
            out.append(
                Finding(
                    False,
                    f"the host uses it: {'; '.join(in_use)}",
                    "stop that first: bind refuses a device in use (unless --force)",
                )
            )
    blockers = [
        d
        for d in devices.iter_group(dev, root)
        if d.driver
        and not devices.is_vfio_driver(d.driver)
        and d.driver not in ("pci-stub",)
        and d.header_type == 0
    ]
    if blockers:
        names = ", ".join(f"{d.bdf} ({d.driver})" for d in blockers)
        out.append(
            Finding(
                False,
                f"group {dev.iommu_group} is not viable: {names} share it",
                "bind them to vfio-pci too (python -m vfio bind BDF), or unbind them",
            )
        )
    else:
        out.append(
            Finding(True, f"group {dev.iommu_group} ({len(dev.group_devices)} devices) is viable")
        )
    if dev.noiommu:
        out.append(
            Finding(
                True,
                f"group {dev.iommu_group} is a no-IOMMU group: nothing confines its DMA",
                "vfio.api opens it only when asked: open_pci(..., noiommu=True), "
                "python -m vfio info --noiommu",
            )
        )
    out.extend(_node_findings(dev, root))
    return out


def _node_findings(dev: devices.PciDevice, root: str | Path) -> list[Finding]:
    if dev.group_node is None:
        if dev.bound_to_vfio:
            return [Finding(False, f"no /dev/vfio/{dev.iommu_group}", "is udev running?")]
        return []
    node = Path(root) / dev.group_node.lstrip("/")
    if not os.access(node, os.R_OK | os.W_OK):
        return [Finding(False, f"{dev.group_node} is not accessible", "run as root or chown it")]
    try:
        fd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return [Finding(False, f"{dev.group_node} is busy", _held_by(dev.group_node, root))]
        return [Finding(False, f"{dev.group_node}: {exc.strerror}")]
    os.close(fd)
    return [Finding(True, f"{dev.group_node} opens" + (f"; cdev {dev.cdev}" if dev.cdev else ""))]


def _held_by(node: str, root: str | Path) -> str:
    """Who holds `node`, from /proc/*/fd (the fds this user may read)."""
    found, hidden = _in_use.holders(node, root)
    if found:
        return f"held by PID {', PID '.join(found)}: stop it (a VM?) or use it from there"
    if hidden:
        return "another process holds it; run as root to see which"
    return "another process (a VM?) holds it"


def diagnose(bdf: str | None, root: str | Path = "/") -> list[Finding]:
    return host_findings(root) + (device_findings(bdf, root) if bdf else [])
