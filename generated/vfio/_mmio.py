# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Typed register access on a mapped BAR: read32/write32/read64/write64 (and
8/16) are single aligned loads and stores through memoryview casts, not a
pread per register."""

from __future__ import annotations

import mmap
import sys
from typing import NoReturn

from vfio._base import Closing

__all__ = ["Mmio"]


def _swapped(value: int, width: int) -> int:
    return int.from_bytes(value.to_bytes(width, "big"), "little")


class Mmio(Closing):
    """A mapped region (from Device.map_region). Registers are little-endian,
    as PCI is: on a big-endian host (powerpc64) values are byte-swapped."""

    def __init__(self, mem: mmap.mmap, index: int = -1) -> None:
        self.index = index
        self.mem = mem
        self.size = len(mem)
        self._view = memoryview(mem)
        self._views = {1: self._view.cast("B"), 2: self._view.cast("H"), 4: self._view.cast("I")}
        if self.size % 8 == 0:
            self._views[8] = self._view.cast("Q")
        self._swap = sys.byteorder != "little"

    @property
    def view(self) -> memoryview:
        """The mapping as bytes; ValueError once closed."""
        if self.mem.closed:
            raise ValueError("this mapping is closed")
        return self._view

    def _at(self, offset: int, width: int) -> memoryview:
        view = self._views.get(width)  # none at all once closed
        if view is None or offset % width or not 0 <= offset <= self.size - width:
            self._refuse(offset, width)
        return view

    def _refuse(self, offset: int, width: int) -> NoReturn:
        """Why an access was refused (off the fast path of _at)."""
        if self.mem.closed:
            raise ValueError("this mapping is closed")
        if width not in self._views:
            raise ValueError(f"a region of {self.size:#x} bytes has no {width}-byte view")
        raise ValueError(
            f"offset {offset:#x} is not a {width}-byte aligned register of this"
            f" {self.size:#x}-byte region"
        )

    def read8(self, offset: int) -> int:
        value = int(self._at(offset, 1)[offset])
        return _swapped(value, 1) if self._swap else value

    def read16(self, offset: int) -> int:
        value = int(self._at(offset, 2)[offset >> 1])
        return _swapped(value, 2) if self._swap else value

    def read32(self, offset: int) -> int:
        value = int(self._at(offset, 4)[offset >> 2])
        return _swapped(value, 4) if self._swap else value

    def read64(self, offset: int) -> int:
        value = int(self._at(offset, 8)[offset >> 3])
        return _swapped(value, 8) if self._swap else value

    def write8(self, offset: int, value: int) -> None:
        self._at(offset, 1)[offset] = _swapped(value, 1) if self._swap else value

    def write16(self, offset: int, value: int) -> None:
        self._at(offset, 2)[offset >> 1] = _swapped(value, 2) if self._swap else value

    def write32(self, offset: int, value: int) -> None:
        self._at(offset, 4)[offset >> 2] = _swapped(value, 4) if self._swap else value

    def write64(self, offset: int, value: int) -> None:
        self._at(offset, 8)[offset >> 3] = _swapped(value, 8) if self._swap else value

    @property
    def closed(self) -> bool:
        return self.mem.closed

    def close(self) -> None:
        if self.mem.closed:
            return
        views, self._views = self._views, {}
        for view in views.values():
            view.release()
        self._view.release()
        self.mem.close()

    def __repr__(self) -> str:
        return f"<Mmio region={self.index} size={self.size:#x}{' closed' if self.closed else ''}>"
