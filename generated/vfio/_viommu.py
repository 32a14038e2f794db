# The vfio runtime, not generated: vfiogen copies this file as is from its templates/vfio/.
"""iommufd's virtual IOMMU objects, each owning its id (and fd): the
vIOMMU on a nesting-parent HWPT, the vDevices it knows by their virtual
ids, its vEVENTQ (events the host IOMMU reports for the guest) and HW
queues. The flows follow the kernel's tools/testing/selftests/iommu."""

from __future__ import annotations

import ctypes
import os
import select
from typing import NamedTuple, Self

from vfio import abi
from vfio import requests as rq
from vfio._base import OwnedId, OwnedIdFd, page_aligned, uint
from vfio._iommufd import Dev, Iommufd, dev_id
from vfio._iommufd_objects import FaultQueue, Hwpt, payload

__all__ = ["HwQueue", "Vdevice", "VEvent", "VeventQueue", "Viommu"]

__requires__ = (
    "IOMMU_VIOMMU_ALLOC",
    "IOMMU_VDEVICE_ALLOC",
    "IOMMU_VEVENTQ_ALLOC",
    "IOMMU_HW_QUEUE_ALLOC",
    "iommufd_vevent_header",
    "IOMMU_VEVENTQ_FLAG_LOST_EVENTS",
)
"""What the headers must define for vfiogen to ship this module."""


class Viommu(OwnedId):
    """IOMMU_VIOMMU_ALLOC: a virtual IOMMU of `type` on a nesting-parent
    HWPT, for the IOMMU instance of device `dev`."""

    kind = "viommu"
    iommufd: Iommufd

    @classmethod
    def alloc(
        cls,
        parent: Hwpt,
        dev: Dev,
        type: int,
        *,
        data: ctypes.Structure | None = None,
    ) -> Self:
        v = abi.iommu_viommu_alloc()
        v.size = ctypes.sizeof(v)
        v.type = uint(type, "type")
        v.dev_id = dev_id(dev)
        v.hwpt_id = parent.id
        if data is not None:
            v.data_len, v.data_uptr = ctypes.sizeof(data), ctypes.addressof(data)
        rq.iommu_viommu_alloc(parent.iommufd.fd, v)
        return cls(parent.iommufd, int(v.out_viommu_id))

    def hwpt(
        self, dev: Dev, data_type: int, data: ctypes.Structure, *, fault: FaultQueue | None = None
    ) -> Hwpt:
        """A nested HWPT on this vIOMMU (stage 1 from `data`)."""
        return Hwpt.nested(self, dev, data_type, data, fault=fault)

    def vdevice(self, dev: Dev, virt_id: int) -> Vdevice:
        """IOMMU_VDEVICE_ALLOC: device `dev` as the guest sees it (`virt_id`,
        e.g. a vSID or vRID) behind this vIOMMU."""
        v = abi.iommu_vdevice_alloc()
        v.size = ctypes.sizeof(v)
        v.viommu_id = self.id
        v.dev_id = dev_id(dev)
        v.virt_id = uint(virt_id, "virt_id", 64)
        rq.iommu_vdevice_alloc(self.iommufd.fd, v)
        return Vdevice(self.iommufd, int(v.out_vdevice_id), virt_id)

    def veventq(self, type: int, depth: int, event: type[ctypes.Structure]) -> VeventQueue:
        """IOMMU_VEVENTQ_ALLOC: the queue of `type` events (each a header
        and an `event` struct, the type's payload), at most `depth` pending."""
        q = abi.iommu_veventq_alloc()
        q.size = ctypes.sizeof(q)
        q.viommu_id = self.id
        q.type = uint(type, "type")
        q.veventq_depth = uint(depth, "depth")
        rq.iommu_veventq_alloc(self.iommufd.fd, q)
        return VeventQueue(self.iommufd, int(q.out_veventq_id), int(q.out_veventq_fd), event)

    def hw_queue(self, type: int, index: int, iova: int, length: int) -> HwQueue:
        """IOMMU_HW_QUEUE_ALLOC: a HW-accelerated queue whose memory is at
        [iova, iova + length) of the nesting parent's IOAS (mapped there; the
        queue pins it until closed)."""
        h = abi.iommu_hw_queue_alloc()
        h.size = ctypes.sizeof(h)
        h.viommu_id = self.id
        h.type = uint(type, "type")
        h.index = uint(index, "index")
        h.nesting_parent_iova = page_aligned(iova, "iova")
        h.length = uint(length, "length", 64)
        rq.iommu_hw_queue_alloc(self.iommufd.fd, h)
        return HwQueue(self.iommufd, int(h.out_hw_queue_id))


class Vdevice(OwnedId):
    """A device as a vIOMMU's guest knows it; `virt_id` is its virtual id."""

    kind = "vdevice"

    def __init__(self, iommufd: Iommufd, vdevice_id: int, virt_id: int) -> None:
        super().__init__(iommufd, vdevice_id)
        self.virt_id = virt_id


class HwQueue(OwnedId):
    """A vIOMMU's HW queue (IOMMU_HW_QUEUE_ALLOC); close() gives its memory back."""

    kind = "hw queue"


class VEvent(NamedTuple):
    """One vEVENT: its sequence number, how many events were lost just
    before it (a gap in the sequence, or a LOST_EVENTS header), and its
    payload (None for a LOST_EVENTS header, which has none)."""

    sequence: int
    flags: int
    lost: int
    data: ctypes.Structure | None


class VeventQueue(OwnedIdFd):
    """A vIOMMU's event queue: read() parses the header + payload records
    the kernel writes; fileno() for select/poll. Closing it closes the fd
    and destroys the queue."""

    kind = "veventq"
    iommufd: Iommufd

    def __init__(
        self, iommufd: Iommufd, veventq_id: int, fd: int, event: type[ctypes.Structure]
    ) -> None:
        super().__init__(iommufd, veventq_id, fd)
        self.event = event
        self._last: int | None = None  # the sequence of the last event read

    def read(self, max_events: int = 16, timeout: float | None = None) -> list[VEvent]:
        """The pending events (at most `max_events`); waits up to `timeout`
        seconds for one (None: forever); [] when none came."""
        if timeout is not None and not select.select([self.fd], [], [], timeout)[0]:
            return []
        head = ctypes.sizeof(abi.iommufd_vevent_header)
        size = head + ctypes.sizeof(self.event)
        raw = os.read(self.fd, size * max(1, uint(max_events, "max_events")))
        return self.parse(raw)

    def parse(self, raw: bytes) -> list[VEvent]:
        """The events of one read() of the queue's fd."""
        head = ctypes.sizeof(abi.iommufd_vevent_header)
        body = ctypes.sizeof(self.event)
        out: list[VEvent] = []
        offset = 0
        while offset + head <= len(raw):
            h = abi.iommufd_vevent_header.from_buffer_copy(raw, offset)
            offset += head
            flagged = bool(h.flags & abi.IOMMU_VEVENTQ_FLAG_LOST_EVENTS)
            data = None
            if not flagged:
                if offset + body > len(raw):
                    raise ValueError(f"a vEVENT at {offset - head} is cut short ({len(raw)} bytes)")
                data = self.event.from_buffer_copy(raw, offset)
                offset += body
            gap = 0 if self._last is None else (int(h.sequence) - self._last - 1) % (1 << 31)
            self._last = int(h.sequence)
            out.append(VEvent(int(h.sequence), int(h.flags), max(gap, int(flagged)), data))
        return out
