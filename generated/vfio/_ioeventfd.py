# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""ioeventfds (VFIO_DEVICE_IOEVENTFD): signalling an eventfd makes the
kernel write a fixed value to a device register, without a trip through
user space (QEMU uses them for virtio doorbells of assigned devices)."""

from __future__ import annotations

import ctypes

from vfio import abi
from vfio import requests as rq
from vfio._base import Closing, uint
from vfio._device import Device

__all__ = ["Ioeventfd"]
__device_part__ = "IoeventfdDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("VFIO_DEVICE_IOEVENTFD", "vfio_device_ioeventfd")
"""What the headers must define for vfiogen to ship this module."""


class IoeventfdDevice(Device):
    """The ioeventfd part of vfio.api.Device."""

    def ioeventfd(self, region: int, offset: int, value: int, width: int, fd: int) -> Ioeventfd:
        """Write `value` (`width` bytes: 1, 2, 4 or 8) at `offset` of region
        `region` (a BAR; the kernel refuses others, the MSI-X table, and 8
        bytes where it has no 64-bit MMIO write) each time eventfd `fd` is
        signalled. close() of the result removes it."""
        flags = {
            1: abi.VFIO_DEVICE_IOEVENTFD_8,
            2: abi.VFIO_DEVICE_IOEVENTFD_16,
            4: abi.VFIO_DEVICE_IOEVENTFD_32,
            8: abi.VFIO_DEVICE_IOEVENTFD_64,
        }.get(width)
        if flags is None or isinstance(width, bool):
            raise ValueError(f"width {width!r} is not 1, 2, 4 or 8 bytes")
        uint(value, "value", 8 * width)
        if isinstance(fd, bool) or not isinstance(fd, int) or not 0 <= fd < 1 << 31:
            raise ValueError(f"fd {fd!r} is not a file descriptor")
        info = self.region_info(region)
        if uint(offset, "offset", 64) + width > info.size:
            raise ValueError(
                f"offset {offset:#x} + {width} is past region {region}'s {info.size:#x} bytes"
            )
        req = abi.vfio_device_ioeventfd()
        req.argsz = ctypes.sizeof(req)
        req.flags = flags
        req.offset, req.data, req.fd = info.offset + offset, value, fd
        rq.vfio_device_ioeventfd(self.fd, req)
        return Ioeventfd(self, req)


class Ioeventfd(Closing):
    """One ioeventfd of a device; close() removes it (the same request with
    fd -1), once. The eventfd stays the caller's."""

    __slots__ = ("device", "_req")

    def __init__(self, device: Device, req: abi.vfio_device_ioeventfd) -> None:
        self.device = device
        self._req: abi.vfio_device_ioeventfd | None = req

    @property
    def closed(self) -> bool:
        return self._req is None or self.device.closed

    def close(self) -> None:
        req = self._req
        if req is not None and not self.device.closed:
            req.fd = -1
            rq.vfio_device_ioeventfd(self.device.fd, req)
        self._req = None

    def __repr__(self) -> str:
        req = self._req
        where = f"offset={int(req.offset):#x}" if req is not None else "closed"
        return f"<Ioeventfd {where}>"
