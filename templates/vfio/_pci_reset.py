# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""The PCI bus reset of a vfio-pci device: VFIO_DEVICE_PCI_HOT_RESET in its
two forms (the fds of every affected group; or, for a device opened through
its cdev, no fds: every affected device must be bound to the same iommufd)."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from vfio import abi
from vfio import requests as rq
from vfio._base import Owned
from vfio._device import Device

__all__: list[str] = []
__device_part__ = "PciResetDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_PCI_HOT_RESET", "vfio_pci_hot_reset")
"""What the headers must define for vfiogen to ship this module."""


class PciResetDevice(Device):
    """The bus reset part of vfio.api.Device (hot_reset_info() lists what it affects)."""

    def hot_reset(self, groups: Sequence[Owned | int] = ()) -> None:
        """Reset the slot or bus. Opened through a group: pass every affected
        group (the group_id of each of hot_reset_info().devices; EINVAL
        without). Opened through the cdev: pass none (the DEV_ID form, when
        hot_reset_info().dev_id_owned)."""
        fds = [g.fd if isinstance(g, Owned) else int(g) for g in groups]
        head = ctypes.sizeof(abi.vfio_pci_hot_reset)
        buf = bytearray(head + 4 * len(fds))
        h = abi.vfio_pci_hot_reset.from_buffer(buf)
        h.argsz, h.count = len(buf), len(fds)
        del h
        buf[head:] = b"".join(fd.to_bytes(4, "little", signed=True) for fd in fds)
        rq.vfio_device_pci_hot_reset(self.fd, buf)
