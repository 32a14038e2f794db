# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""iommufd's page tables and fault queues as objects that own their ids
(and fds): HWPTs (paging, nested, dirty tracking, invalidation) and the
fault queue a nested HWPT reports I/O page faults to. The flows follow the
kernel's tools/testing/selftests/iommu (iommufd_utils.h)."""

from __future__ import annotations

import ctypes
import os
import select
from collections.abc import Sequence
from typing import Self

from vfio import abi
from vfio import requests as rq
from vfio._base import OwnedId, OwnedIdFd, uint
from vfio._dirty import DirtyBitmap, bitmap_range
from vfio._iommufd import CdevDevice, Dev, Ioas, Iommufd, dev_id

__all__ = ["FaultQueue", "Hwpt"]

__requires__ = (
    "IOMMU_HWPT_ALLOC",
    "IOMMU_HWPT_INVALIDATE",
    "IOMMU_HWPT_SET_DIRTY_TRACKING",
    "IOMMU_HWPT_GET_DIRTY_BITMAP",
    "IOMMU_FAULT_QUEUE_ALLOC",
    "iommu_hwpt_pgfault",
    "iommu_hwpt_page_response",
)
"""What the headers must define for vfiogen to ship this module."""


def payload(data: ctypes.Structure | None, data_type: int | None) -> tuple[int, int, int]:
    """(data_type, data_len, data_uptr) of a HWPT's driver-specific data:
    both or neither; for a data_type the headers know (vfio.abi.POINTEES,
    from the overlay), `data` must be the struct the kernel reads for it."""
    if (data is None) != (data_type is None):
        raise ValueError("data and data_type go together (the kernel reads data as data_type)")
    if data is None or data_type is None:
        return 0, 0, 0
    _, cases = abi.POINTEES.get(("iommu_hwpt_alloc", "data_uptr"), ("", {}))
    known = cases.get(uint(data_type, "data_type"))
    if known is not None and type(data) is not known:
        raise TypeError(
            f"data_type {data_type} takes a {known.__name__}, not {type(data).__name__}"
        )
    return data_type, ctypes.sizeof(data), ctypes.addressof(data)


class Hwpt(OwnedId):
    """An iommufd hardware page table (IOMMU_HWPT_ALLOC): a paging one on an
    IOAS, or a nested one (a stage-1 table the IOMMU driver reads from
    `data`) on a NEST_PARENT paging HWPT or a vIOMMU. Destroyed by close()."""

    kind = "hwpt"
    iommufd: Iommufd

    @classmethod
    def alloc(
        cls,
        iommufd: Iommufd,
        dev: Dev,
        pt: OwnedId,
        *,
        flags: int = 0,
        data: ctypes.Structure | None = None,
        data_type: int | None = None,
        fault: FaultQueue | None = None,
    ) -> Self:
        """IOMMU_HWPT_ALLOC for device `dev` on page table `pt` (an Ioas, a
        Hwpt or a Viommu); `fault`: report I/O page faults to that queue."""
        a = abi.iommu_hwpt_alloc()
        a.size = ctypes.sizeof(a)
        a.flags = uint(flags, "flags")
        a.dev_id = dev_id(dev)
        a.pt_id = pt.id
        a.data_type, a.data_len, a.data_uptr = payload(data, data_type)
        if fault is not None:
            a.flags |= abi.IOMMU_HWPT_FAULT_ID_VALID
            a.fault_id = fault.id
        rq.iommu_hwpt_alloc(iommufd.fd, a)
        return cls(iommufd, int(a.out_hwpt_id))

    @classmethod
    def paging(
        cls,
        ioas: Ioas,
        dev: Dev,
        *,
        nest_parent: bool = False,
        dirty_tracking: bool = False,
        data: ctypes.Structure | None = None,
        data_type: int | None = None,
    ) -> Self:
        """A paging HWPT on `ioas` (its mappings), able to parent nested
        HWPTs and vIOMMUs (`nest_parent`) and to track dirty pages."""
        flags = (abi.IOMMU_HWPT_ALLOC_NEST_PARENT if nest_parent else 0) | (
            abi.IOMMU_HWPT_ALLOC_DIRTY_TRACKING if dirty_tracking else 0
        )
        return cls.alloc(ioas.iommufd, dev, ioas, flags=flags, data=data, data_type=data_type)

    @classmethod
    def nested(
        cls,
        parent: OwnedId,
        dev: Dev,
        data_type: int,
        data: ctypes.Structure,
        *,
        fault: FaultQueue | None = None,
    ) -> Self:
        """A nested HWPT on `parent` (a NEST_PARENT Hwpt or a Viommu), its
        stage-1 table described by `data` of `data_type`."""
        if not isinstance(parent.iommufd, Iommufd):
            raise TypeError(f"{parent!r} does not belong to an Iommufd")
        return cls.alloc(parent.iommufd, dev, parent, data=data, data_type=data_type, fault=fault)

    def attach(self, device: CdevDevice) -> None:
        """Attach a cdev device to this page table (replacing its current one)."""
        device.attach(self)

    def invalidate(self, data_type: int, entries: Sequence[ctypes.Structure]) -> int:
        """IOMMU_HWPT_INVALIDATE with driver-specific entries of one type;
        returns how many the kernel handled (all of them, or it raises)."""
        if not entries:
            raise ValueError("no entries to invalidate")
        kind = type(entries[0])
        if any(type(e) is not kind for e in entries):
            raise TypeError("invalidation entries must all be of one struct type")
        array = (kind * len(entries))(*entries)
        inv = abi.iommu_hwpt_invalidate()
        inv.size = ctypes.sizeof(inv)
        inv.hwpt_id = self.id
        inv.data_type = uint(data_type, "data_type")
        inv.data_uptr = ctypes.addressof(array)
        inv.entry_len = ctypes.sizeof(kind)
        inv.entry_num = len(entries)
        rq.iommu_hwpt_invalidate(self.iommufd.fd, inv)
        return int(inv.entry_num)

    def set_dirty_tracking(self, enable: bool) -> None:
        """Start (or stop) recording which pages the device writes; the HWPT
        must have been allocated with dirty_tracking=True."""
        t = abi.iommu_hwpt_set_dirty_tracking()
        t.size = ctypes.sizeof(t)
        t.hwpt_id = self.id
        t.flags = abi.IOMMU_HWPT_DIRTY_TRACKING_ENABLE if enable else 0
        rq.iommu_hwpt_set_dirty_tracking(self.iommufd.fd, t)

    def dirty_bitmap(
        self, iova: int, length: int, page_size: int, *, clear: bool = True
    ) -> DirtyBitmap:
        """IOMMU_HWPT_GET_DIRTY_BITMAP over [iova, iova + length): which
        `page_size` pages were written; `clear=False` leaves the dirty bits
        set (before an unmap of the same range)."""
        pages = bitmap_range(iova, length, page_size)
        words = (ctypes.c_uint64 * ((pages + 63) // 64))()
        get = abi.iommu_hwpt_get_dirty_bitmap()
        get.size = ctypes.sizeof(get)
        get.hwpt_id = self.id
        get.flags = 0 if clear else abi.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR
        get.iova, get.length, get.page_size = iova, length, page_size
        get.data = ctypes.addressof(words)
        rq.iommu_hwpt_get_dirty_bitmap(self.iommufd.fd, get)
        return DirtyBitmap(iova, page_size, pages, tuple(int(w) for w in words))


class FaultQueue(OwnedIdFd):
    """IOMMU_FAULT_QUEUE_ALLOC: the fd a HWPT allocated with `fault=` reports
    I/O page faults to; read() them, respond() to each (by its cookie).
    Closing it closes the fd and destroys the queue."""

    kind = "fault queue"
    iommufd: Iommufd

    @classmethod
    def alloc(cls, iommufd: Iommufd) -> Self:
        f = abi.iommu_fault_alloc()
        f.size = ctypes.sizeof(f)
        rq.iommu_fault_queue_alloc(iommufd.fd, f)
        return cls(iommufd, int(f.out_fault_id), int(f.out_fault_fd))

    def read(
        self, max_faults: int = 64, timeout: float | None = None
    ) -> list[abi.iommu_hwpt_pgfault]:
        """The pending faults (at most `max_faults`, whole fault groups);
        waits up to `timeout` seconds for one (None: forever); [] when none came."""
        if timeout is not None and not select.select([self.fd], [], [], timeout)[0]:
            return []
        size = ctypes.sizeof(abi.iommu_hwpt_pgfault)
        raw = os.read(self.fd, size * max(1, uint(max_faults, "max_faults")))
        return [
            abi.iommu_hwpt_pgfault.from_buffer_copy(raw, offset)
            for offset in range(0, len(raw) - size + 1, size)
        ]

    def respond(self, fault: abi.iommu_hwpt_pgfault | int, *, success: bool = True) -> None:
        """Answer a fault group (by a fault of it, or its cookie): SUCCESS
        (the page is there now) or INVALID."""
        cookie = int(fault.cookie) if isinstance(fault, abi.iommu_hwpt_pgfault) else fault
        reply = abi.iommu_hwpt_page_response()
        reply.cookie = uint(cookie, "cookie")
        reply.code = abi.IOMMUFD_PAGE_RESP_SUCCESS if success else abi.IOMMUFD_PAGE_RESP_INVALID
        written = os.write(self.fd, bytes(reply))
        if written != ctypes.sizeof(reply):
            raise OSError(5, f"short write of a page response: {written} bytes")
