# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Interrupts as file descriptors: one eventfd per vector, which the kernel
signals when the device raises it. `wait(timeout)` blocks, `fileno()` plugs
into selectors, `await wait_async()` into asyncio."""

from __future__ import annotations

import os
import select
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from vfio._base import Closing

if TYPE_CHECKING:
    import asyncio

__all__ = ["Interrupt"]  # Routes is the device's own


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class Interrupt(Closing):
    """One interrupt vector routed to an eventfd this object owns; close()
    unroutes it (through `release`) and closes the eventfd. One dropped
    without close() is closed (unrouted first) when it is garbage collected,
    with a ResourceWarning as an unclosed file gives: the kernel must never
    go on signalling an eventfd number the process may reuse."""

    def __init__(self, index: int, vector: int, release: Callable[[], None] | None = None) -> None:
        self.index = index
        self.vector = vector
        self._fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.release = release  # what close() calls first

    def fileno(self) -> int:
        if self._fd < 0:
            raise ValueError("this interrupt is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def clear(self) -> int:
        """How many times it fired since the last clear (0: not at all); resets the count."""
        try:
            return os.eventfd_read(self.fileno())
        except BlockingIOError:
            return 0

    def wait(self, timeout: float | None = None) -> int:
        """Block until it fires (at most `timeout` seconds); the count, 0 on timeout."""
        poller = select.poll()
        poller.register(self.fileno(), select.POLLIN)
        if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
            return 0
        return self.clear()

    async def wait_async(self) -> int:
        """Wait in an asyncio loop without blocking it; the count."""
        import asyncio  # not at module import: asyncio costs ~10 ms, most users never await

        loop = asyncio.get_running_loop()
        fd = self.fileno()
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            count = self.clear()
            if count:
                return count

    def close(self) -> None:
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            if self.release is not None:
                self.release()
        finally:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) < 0:
            return
        warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)
        try:
            self.close()
        except (OSError, ValueError):  # the device went first: nothing routes here any more
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"eventfd={self._fd}"
        return f"<Interrupt index={self.index} vector={self.vector} {state}>"


class Routes:
    """Which open Interrupt owns each (irq index, vector) of one device.
    Weak: an Interrupt its user drops is collected (and unroutes itself),
    so a vector never stays taken by an object nobody can close."""

    __slots__ = ("_live",)

    def __init__(self) -> None:
        self._live: weakref.WeakValueDictionary[tuple[int, int], Interrupt] = (
            weakref.WeakValueDictionary()
        )

    def owner(self, index: int, vector: int) -> Interrupt | None:
        """The open Interrupt routed to this vector, if any."""
        irq = self._live.get((index, vector))
        return irq if irq is not None and not irq.closed else None

    def first_owner(self, index: int, start: int, count: int) -> Interrupt | None:
        """The open Interrupt of the lowest of vectors start..start+count-1, if any."""
        owners = [
            irq
            for (i, vector), irq in self._live.items()
            if i == index and start <= vector < start + count and not irq.closed
        ]
        return min(owners, key=lambda irq: irq.vector, default=None)

    def add(self, irq: Interrupt) -> None:
        self._live[(irq.index, irq.vector)] = irq

    def forget(self, index: int, vector: int) -> None:
        self._live.pop((index, vector), None)

    def detach(self, index: int) -> None:
        """Every vector of `index` was unrouted at once (set_irqs): its
        Interrupts stay open, routing nothing; their close() unroutes nothing."""
        for key, irq in list(self._live.items()):
            if key[0] == index:
                irq.release = None
                del self._live[key]

    def clear(self) -> None:
        self._live.clear()
