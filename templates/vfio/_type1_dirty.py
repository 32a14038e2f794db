# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Dirty page tracking of a type1v2 container (VFIO_IOMMU_DIRTY_PAGES), as
QEMU's legacy VFIO migration uses it: START when made, the bitmap of a
mapped range read (and cleared) on demand, STOP on close. Without a vendor
driver pinning pages, type1 reports every mapped page dirty."""

from __future__ import annotations

import ctypes

from vfio import abi
from vfio import requests as rq
from vfio._base import Closing, uint
from vfio._dirty import DirtyBitmap, bitmap_range
from vfio._legacy import Container

__all__ = ["DirtyTracking"]
__container_part__ = "DirtyTrackingContainer"
"""The Container subclass this module adds; vfio.api.Container combines the parts."""

__requires__ = (
    "VFIO_IOMMU_DIRTY_PAGES",
    "vfio_iommu_type1_dirty_bitmap_get",
    "vfio_iommu_type1_info_cap_migration",
)
"""What the headers must define for vfiogen to ship this module."""


class DirtyTracking(Closing):
    """VFIO_IOMMU_DIRTY_PAGES on a container whose IOMMU is set (type1v2:
    EACCES on type1): tracking starts when made and stops at close() (once).
    `page_size` is the smallest IOMMU page size, the only one the kernel
    accepts, and `max_bitmap_bytes` the largest bitmap it reads, both from
    the container's VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION."""

    kind = "dirty tracking"

    def __init__(self, container: Container) -> None:
        migration = container.iommu_info().migration
        if not isinstance(migration, abi.vfio_iommu_type1_info_cap_migration):
            raise ValueError("this container's IOMMU does not track dirty pages (no CAP_MIGRATION)")
        sizes = int(migration.pgsize_bitmap)
        if sizes == 0:
            raise ValueError("the container reports no IOMMU page size")
        self.container = container
        self.page_size = sizes & -sizes
        self.max_bitmap_bytes = int(migration.max_dirty_bitmap_size)
        self._dirty_pages(abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_START)
        self._open = True

    @property
    def closed(self) -> bool:
        return not self._open or self.container.closed

    def bitmap(self, iova: int, size: int) -> DirtyBitmap:
        """GET_BITMAP over [iova, iova + size), which must cover whole DMA
        mappings: which pages were dirtied since tracking started or the
        last read of them (the read clears them)."""
        if self.closed:
            raise ValueError(f"this {self.kind} is stopped")
        pages = bitmap_range(iova, size, self.page_size)
        words = (ctypes.c_uint64 * ((pages + 63) // 64))()
        if ctypes.sizeof(words) > self.max_bitmap_bytes:
            raise ValueError(
                f"{pages} pages need a {ctypes.sizeof(words)}-byte bitmap; "
                f"the kernel reads at most {self.max_bitmap_bytes}"
            )
        get = abi.vfio_iommu_type1_dirty_bitmap_get(iova=iova, size=size)
        get.bitmap.pgsize, get.bitmap.size = self.page_size, ctypes.sizeof(words)
        get.bitmap.data = ctypes.addressof(words)
        self._dirty_pages(abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, bytes(get))
        return DirtyBitmap(iova, self.page_size, pages, tuple(int(w) for w in words))

    def close(self) -> None:
        """STOP, once (and nothing once the container is closed)."""
        if getattr(self, "_open", False) and not self.container.closed:
            self._dirty_pages(abi.VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP)  # refused: still open
        self._open = False

    def _dirty_pages(self, flag: int, data: bytes = b"") -> None:
        head = ctypes.sizeof(abi.vfio_iommu_type1_dirty_bitmap)
        buf = bytearray(head + len(data))
        d = abi.vfio_iommu_type1_dirty_bitmap.from_buffer(buf)
        d.argsz, d.flags = len(buf), uint(flag, "flags")
        del d
        buf[head:] = data
        rq.vfio_iommu_dirty_pages(self.container.fd, buf)

    def __repr__(self) -> str:
        return f"<DirtyTracking page_size={self.page_size:#x}{' stopped' if self.closed else ''}>"


class DirtyTrackingContainer(Container):
    """The dirty page tracking part of vfio.api.Container."""

    def dirty_tracking(self) -> DirtyTracking:
        """Start tracking the pages DMA dirties in this container's mappings
        (as DirtyTracking(container); the IOMMU must be set, type1v2); the
        tracking stops when closed:

            with c.dma_buffer(8 * 4096, iova=0x100000) as buf, c.dirty_tracking() as t:
                ...  # the device writes to buf
                dirty = t.bitmap(buf.iova, buf.size).dirty_iovas()
        """
        return DirtyTracking(self)
