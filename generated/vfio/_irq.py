# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""Interrupts as file descriptors: one eventfd per vector, which the kernel
signals when the device raises it. `wait(timeout)` blocks, `fileno()` plugs
into selectors, `await wait_async()` into asyncio."""

from __future__ import annotations

import os
import select
from collections.abc import Callable
from typing import TYPE_CHECKING

from vfio._base import Closing

if TYPE_CHECKING:
    import asyncio

__all__ = ["Interrupt"]


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class Interrupt(Closing):
    """One interrupt vector routed to an eventfd this object owns; close()
    unroutes it (through `release`) and closes the eventfd."""

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
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"eventfd={self._fd}"
        return f"<Interrupt index={self.index} vector={self.vector} {state}>"
