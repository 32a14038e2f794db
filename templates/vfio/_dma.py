# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""DMA buffers: memory that stays mapped for the device while the object is open."""

from __future__ import annotations

import ctypes
import mmap
from typing import TYPE_CHECKING

from vfio._base import Closing, PAGE_SIZE, page_aligned, uint

__all__ = ["DmaBuffer"]

if TYPE_CHECKING:  # a Protocol class costs import time; only mypy needs it
    from typing import Protocol

    class DmaSpace(Protocol):
        """Where a buffer is mapped: a legacy Container or an iommufd Ioas."""

        def map_dma(
            self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
        ) -> object: ...

        def unmap_dma(self, iova: int, size: int) -> int: ...


class DmaBuffer(Closing):
    """Page-aligned anonymous memory, mapped for device DMA at `iova` for as
    long as this object is open; unmapped and freed by `close()`. `view` is a
    memoryview of the memory, `vaddr` its address."""

    def __init__(
        self, space: DmaSpace, size: int, iova: int, *, readable: bool = True, writable: bool = True
    ) -> None:
        uint(size, "size", 64)
        if size == 0:
            raise ValueError("a DMA buffer needs a size > 0")
        page_aligned(iova, "iova")
        self.size = -(-size // PAGE_SIZE) * PAGE_SIZE
        self.iova = iova
        self._space: DmaSpace | None = None
        self._mem = mmap.mmap(
            -1, self.size, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._anchor = ctypes.c_char.from_buffer(self._mem)  # pins the mapping while mapped
        self.vaddr = ctypes.addressof(self._anchor)
        try:
            space.map_dma(iova, self.size, self.vaddr, readable=readable, writable=writable)
        except BaseException:
            self._release()
            raise
        self._space = space
        self._view = memoryview(self._mem)

    @property
    def view(self) -> memoryview:
        """The buffer's memory; ValueError once closed (it is unmapped and freed)."""
        if self._space is None:
            raise ValueError("this DMA buffer is closed")
        return self._view

    def _release(self) -> None:
        del self._anchor
        self._mem.close()

    @property
    def mapped(self) -> bool:
        return self._space is not None

    def close(self) -> None:
        if self._space is None:
            return
        space, self._space = self._space, None
        try:
            space.unmap_dma(self.iova, self.size)
        finally:
            self._view.release()
            self._release()

    def __repr__(self) -> str:
        state = "mapped" if self.mapped else "closed"
        return f"<DmaBuffer iova={self.iova:#x} size={self.size:#x} {state}>"
