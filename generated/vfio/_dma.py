# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""DMA buffers: memory that stays mapped for the device while the object is open."""

from __future__ import annotations

import ctypes
import errno
import mmap
from typing import TYPE_CHECKING, cast

from vfio._base import Closing, PAGE_SIZE, page_aligned, uint
from vfio.errors import HugePagesError

__all__ = ["DmaBuffer"]

if TYPE_CHECKING:  # a Protocol class costs import time; only mypy needs it
    from typing import Protocol

    class DmaSpace(Protocol):
        """Where a buffer is mapped: a legacy Container or an iommufd Ioas."""

        chooses_iova: bool  # whether map_dma(None, ...) lets the kernel choose (an Ioas)

        def map_dma(
            self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
        ) -> object: ...

        def unmap_dma(self, iova: int, size: int) -> int: ...

    class IovaChoosingSpace(DmaSpace, Protocol):
        """A space whose kernel chooses the IOVA of a map given none (an Ioas)."""

        def map_dma(
            self,
            iova: int | None,
            size: int,
            vaddr: int,
            *,
            readable: bool = True,
            writable: bool = True,
        ) -> int: ...


MAP_HUGETLB = getattr(mmap, "MAP_HUGETLB", 0x40000)  # Python 3.11's mmap does not name it
MEMINFO = "/proc/meminfo"
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"


def huge_pages_info(meminfo: str = MEMINFO) -> tuple[int, int]:
    """(the default huge page size in bytes, how many are free) from
    /proc/meminfo; HugePagesError when the kernel has none (no CONFIG_HUGETLBFS)."""
    fields: dict[str, int] = {}
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("Hugepagesize", "HugePages_Free"):
                    fields[name] = int(value.split()[0])
    except OSError as exc:
        raise HugePagesError(meminfo, f"cannot read it ({exc.strerror})") from exc
    if "Hugepagesize" not in fields:
        raise HugePagesError(
            meminfo, "this kernel has no huge pages (no Hugepagesize: it needs CONFIG_HUGETLBFS)"
        )
    return fields["Hugepagesize"] * 1024, fields.get("HugePages_Free", 0)


def _anonymous(size: int, huge_pages: bool) -> mmap.mmap:
    """Shared anonymous memory of `size` bytes, of huge pages if asked."""
    flags = mmap.MAP_SHARED | mmap.MAP_ANONYMOUS | (MAP_HUGETLB if huge_pages else 0)
    try:
        return mmap.mmap(-1, size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as exc:
        if not huge_pages or exc.errno != errno.ENOMEM:
            raise
        page, free = huge_pages_info()
        raise HugePagesError(
            NR_HUGEPAGES,
            f"{size // page} huge pages of {page >> 10} KiB wanted, {free} free "
            f"(HugePages_Free in {MEMINFO}): reserve them as root, e.g. "
            f"echo {size // page} > {NR_HUGEPAGES} (more if other users hold some)",
        ) from exc


class DmaBuffer(Closing):
    """Page-aligned anonymous memory, mapped for device DMA at `iova` for as
    long as this object is open; unmapped and freed by `close()`. `view` is a
    memoryview of the memory, `vaddr` its address. With iova=None the kernel
    chooses the IOVA (an Ioas only: type1 has no allocator) and `iova` says
    where. huge_pages=True backs it with huge pages (MAP_HUGETLB, the size
    rounded up to the huge page size, 2 MiB on x86): the IOMMU then maps it
    with large pages, as libvfn and the kernel selftests do for big buffers."""

    def __init__(
        self,
        space: DmaSpace,
        size: int,
        iova: int | None,
        *,
        readable: bool = True,
        writable: bool = True,
        huge_pages: bool = False,
    ) -> None:
        uint(size, "size", 64)
        if size == 0:
            raise ValueError("a DMA buffer needs a size > 0")
        if iova is None and not getattr(space, "chooses_iova", False):
            raise ValueError(
                f"a {type(space).__name__} cannot choose an IOVA (the type1 IOMMU has no "
                "allocator): pass iova=; an iommufd Ioas chooses one with iova=None"
            )
        if iova is not None:
            page_aligned(iova, "iova")
        if not isinstance(huge_pages, bool):
            raise TypeError(f"huge_pages must be a bool, not {type(huge_pages).__name__}")
        page = huge_pages_info()[0] if huge_pages else PAGE_SIZE
        self.size = -(-size // page) * page
        self.page_size = page
        self.iova = iova or 0
        self._space: DmaSpace | None = None
        self._mem = _anonymous(self.size, huge_pages)
        self._anchor = ctypes.c_char.from_buffer(self._mem)  # pins the mapping while mapped
        self.vaddr = ctypes.addressof(self._anchor)
        try:
            if iova is None:
                self.iova = cast("IovaChoosingSpace", space).map_dma(
                    None, self.size, self.vaddr, readable=readable, writable=writable
                )
            else:
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
