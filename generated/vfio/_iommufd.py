# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""iommufd (/dev/iommu): the object space, I/O address spaces, and the
device side of it (a VFIO cdev bound to an iommufd, attached to an IOAS)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Self

from vfio import abi
from vfio import requests as rq
from vfio._base import Owned, OwnedId, open_rw, page_aligned, uint
from vfio._device import Device
from vfio._dma import DmaBuffer
from vfio import devices
from vfio.errors import DecodeError, NodeError, NotBoundError, VfioError

__all__ = ["Ioas", "Iommufd"]
__device_part__ = "CdevDevice"
"""The Device subclass this module adds; vfio.api.Device combines the parts."""

__requires__ = ("IOMMU_IOAS_ALLOC", "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT")
"""What the headers must define for vfiogen to ship this module."""


class Iommufd(Owned):
    """/dev/iommu: the iommufd object space."""

    kind = "iommufd"

    def __init__(self, path: str | Path = "/dev/iommu") -> None:
        super().__init__(open_rw(path, "iommufd"))

    def ioas(self) -> Ioas:
        """A new I/O address space (destroyed by Ioas.close())."""
        a = abi.iommu_ioas_alloc()
        a.size = ctypes.sizeof(a)
        rq.iommu_ioas_alloc(self.fd, a)
        return Ioas(self, int(a.out_ioas_id))

    def destroy(self, object_id: int) -> None:
        d = abi.iommu_destroy()
        d.size = ctypes.sizeof(d)
        d.id = uint(object_id, "object id")
        rq.iommu_destroy(self.fd, d)


class Ioas(OwnedId):
    """An iommufd I/O address space: map, unmap, the usable IOVA ranges.
    close() destroys it; EBUSY while a device is attached, and then the IOAS
    stays open so close() can be retried after detaching."""

    kind = "ioas"
    iommufd: Iommufd

    def __init__(self, iommufd: Iommufd, ioas_id: int) -> None:
        super().__init__(iommufd, ioas_id)

    def map_dma(
        self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
    ) -> None:
        m = abi.iommu_ioas_map()
        m.size = ctypes.sizeof(m)
        m.flags = (
            abi.IOMMU_IOAS_MAP_FIXED_IOVA
            | (abi.IOMMU_IOAS_MAP_READABLE if readable else 0)
            | (abi.IOMMU_IOAS_MAP_WRITEABLE if writable else 0)
        )
        m.ioas_id = self.id
        m.user_va = uint(vaddr, "vaddr", 64)
        m.length = page_aligned(size, "size")
        m.iova = page_aligned(iova, "iova")
        rq.iommu_ioas_map(self.iommufd.fd, m)

    def unmap_dma(self, iova: int, size: int) -> int:
        u = abi.iommu_ioas_unmap()
        u.size = ctypes.sizeof(u)
        u.ioas_id = self.id
        u.iova = uint(iova, "iova", 64)
        u.length = uint(size, "size", 64)
        rq.iommu_ioas_unmap(self.iommufd.fd, u)
        return int(u.length)

    def dma_buffer(
        self, size: int, iova: int, *, readable: bool = True, writable: bool = True
    ) -> DmaBuffer:
        return DmaBuffer(self, size, iova, readable=readable, writable=writable)

    def iova_ranges(self) -> list[tuple[int, int]]:
        """(start, last) of each usable range (EMSGSIZE negotiation of num_iovas)."""
        count = 0
        for _ in range(8):
            ranges = (abi.iommu_iova_range * max(count, 1))()
            r = abi.iommu_ioas_iova_ranges()
            r.size = ctypes.sizeof(r)
            r.ioas_id = self.id
            r.num_iovas = count
            r.allowed_iovas = ctypes.addressof(ranges)
            try:
                rq.iommu_ioas_iova_ranges(self.iommufd.fd, r)
            except VfioError as exc:
                # EMSGSIZE: num_iovas says how many
                if exc.errno != 90 or int(r.num_iovas) <= count:
                    raise
                count = int(r.num_iovas)
                continue
            return [(int(x.start), int(x.last)) for x in ranges[: int(r.num_iovas)]]
        raise DecodeError("iommu_ioas_iova_ranges", 0, "num_iovas kept growing")


class CdevDevice(Device):
    """The VFIO cdev part of vfio.api.Device: bind to an iommufd, attach to an IOAS."""

    @classmethod
    def open_cdev(cls, path: str | Path) -> Self:
        """/dev/vfio/devices/vfioN: bind it to an iommufd before use."""
        return cls(open_rw(path), str(path))

    @classmethod
    def open_pci_cdev(cls, bdf: str, root: str | Path = "/") -> Self:
        """The device at `bdf` through its VFIO cdev, bound to a new iommufd
        and attached to a new IOAS (the device owns both; dma_buffer() maps
        there)."""
        found = devices.device(bdf, root)
        where = str(Path(root) / "sys/bus/pci/devices" / found.bdf)
        if not found.bound_to_vfio:
            raise NotBoundError(found.bdf, found.driver, where + "/driver")
        if found.cdev is None:
            raise NodeError(
                2, where + "/vfio-dev", "no VFIO cdev: the kernel needs CONFIG_VFIO_DEVICE_CDEV"
            )
        iommufd = Iommufd(Path(root) / "dev/iommu")
        try:
            dev = cls(open_rw(Path(root) / found.cdev.lstrip("/")), found.bdf)
        except BaseException:
            iommufd.close()
            raise
        dev.own(iommufd.close)  # after the device: its binding ends first
        try:
            ioas = iommufd.ioas()
            dev.bind_iommufd(iommufd)
            dev.attach_ioas(ioas)
        except BaseException:
            dev.close()
            raise
        dev.dma_space = ioas
        return dev

    dev_id: int | None = None
    """The device's id in the iommufd it is bound to (bind_iommufd), which
    IOMMU_HWPT_ALLOC, IOMMU_VIOMMU_ALLOC and the like take; None until bound."""

    def bind_iommufd(self, iommufd: Iommufd) -> int:
        """Returns the device id inside that iommufd (kept as `dev_id`)."""
        b = abi.vfio_device_bind_iommufd()
        b.argsz = ctypes.sizeof(b)
        b.iommufd = iommufd.fd
        rq.vfio_device_bind_iommufd(self.fd, b)
        self.dev_id = int(b.out_devid)
        return self.dev_id

    def attach_ioas(self, ioas: Ioas) -> int:
        """Attach to the IOAS; returns the id of the page table (HWPT) the
        kernel made for it, which is not the IOAS id."""
        return self.attach(ioas)

    def attach(self, pt: OwnedId) -> int:
        """Attach to a page table: an IOAS (the kernel makes a HWPT for it,
        whose id is returned) or a HWPT the caller allocated (its own id
        comes back). Attaching again replaces the page table."""
        a = abi.vfio_device_attach_iommufd_pt()
        a.argsz = ctypes.sizeof(a)
        a.pt_id = pt.id
        rq.vfio_device_attach_iommufd_pt(self.fd, a)
        return int(a.pt_id)

    def detach_ioas(self) -> None:
        """Detach from whatever page table the device is attached to."""
        d = abi.vfio_device_detach_iommufd_pt()
        d.argsz = ctypes.sizeof(d)
        rq.vfio_device_detach_iommufd_pt(self.fd, d)
