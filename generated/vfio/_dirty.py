# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""A dirty-page bitmap as both trackers report it: an iommufd HWPT
(IOMMU_HWPT_GET_DIRTY_BITMAP) and a type1 container (VFIO_IOMMU_DIRTY_PAGES)
write 64-bit words, bit i % 64 of word i // 64 for page i; and the range
checks both kernels make before reading one."""

from __future__ import annotations

from collections.abc import Iterator

from vfio._base import Record, uint

__all__ = ["DirtyBitmap"]


def bitmap_range(iova: int, length: int, page_size: int) -> int:
    """The number of pages of [iova, iova + length) in `page_size` pages:
    a power of two; iova and length multiples of it; length not 0; no wrap."""
    uint(page_size, "page_size", 64)
    if page_size == 0 or page_size & (page_size - 1):
        raise ValueError(f"page_size {page_size:#x} is not a power of two")
    for value, what in ((iova, "iova"), (length, "length")):
        if uint(value, what, 64) % page_size:
            raise ValueError(f"{what} {value:#x} is not a multiple of page_size")
    if length == 0:
        raise ValueError("length must not be 0")
    if iova + length > 1 << 64:
        raise ValueError(f"iova {iova:#x} + length {length:#x} wraps past 2**64")
    return length // page_size


class DirtyBitmap(Record):
    """The dirty pages of a range: bitmap[i] says whether the page at
    iova + i * page_size was written (the kernel's layout: 64-bit words, bit
    i % 64 of word i // 64)."""

    __slots__ = ("iova", "page_size", "pages", "words")

    def __init__(self, iova: int, page_size: int, pages: int, words: tuple[int, ...]) -> None:
        self.iova = iova
        self.page_size = page_size
        self.pages = pages
        self.words = words

    def __len__(self) -> int:
        return self.pages

    def __getitem__(self, page: int) -> bool:
        if not 0 <= page < self.pages:
            raise IndexError(f"page {page} is outside the bitmap's {self.pages} pages")
        return bool(self.words[page // 64] >> (page % 64) & 1)

    def __iter__(self) -> Iterator[bool]:
        return (self[i] for i in range(self.pages))

    def dirty_pages(self) -> list[int]:
        """The indexes of the dirty pages."""
        return [i for i in range(self.pages) if self[i]]

    def dirty_iovas(self) -> list[int]:
        """The IOVA of each dirty page."""
        return [self.iova + i * self.page_size for i in self.dirty_pages()]

    def is_dirty(self, iova: int) -> bool:
        """Whether the page holding `iova` is dirty."""
        if not self.iova <= iova < self.iova + self.pages * self.page_size:
            raise ValueError(f"iova {iova:#x} is outside the bitmap")
        return self[(iova - self.iova) // self.page_size]
