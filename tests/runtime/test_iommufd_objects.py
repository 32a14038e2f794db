"""iommufd's typed objects without a kernel: ids destroyed once and in
order, fds closed first, arguments refused before any request, the dirty
bitmap and the vEVENT stream decoded. The kernel's answers are the hardware
tier's job (tests/hardware/guest/test_iommufd_mock.py)."""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402


class Kernel:
    """Hands out ids, records each request and each destroy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, iommufd: api.Iommufd) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.next_id = 10
        self.busy: set[int] = set()
        monkeypatch.setattr(iommufd, "destroy", self.destroy)

    def destroy(self, object_id: int) -> None:
        if object_id in self.busy:
            raise VfioError(16, "IOMMU_DESTROY", "iommufd")
        self.calls.append(("destroy", object_id))

    def answer(self, name: str, out: str, **more: int) -> Any:
        def call(fd: int, arg: Any) -> int:
            self.calls.append((name, bytes(arg)))
            setattr(arg, out, self.next_id)
            for field, value in more.items():
                setattr(arg, field, value)
            self.next_id += 1
            return 0

        return call


@pytest.fixture()
def space(monkeypatch: pytest.MonkeyPatch) -> Any:
    with api.Iommufd("/dev/null") as iommufd:
        kernel = Kernel(monkeypatch, iommufd)
        monkeypatch.setattr(rq, "iommu_hwpt_alloc", kernel.answer("hwpt", "out_hwpt_id"))
        monkeypatch.setattr(rq, "iommu_viommu_alloc", kernel.answer("viommu", "out_viommu_id"))
        monkeypatch.setattr(rq, "iommu_vdevice_alloc", kernel.answer("vdev", "out_vdevice_id"))
        yield iommufd, kernel


def test_objects_destroy_their_ids_once_in_with_order(space: Any) -> None:
    iommufd, kernel = space
    ioas = api.Ioas(iommufd, 1)
    with api.Hwpt.paging(ioas, 5, nest_parent=True) as parent:
        sent = abi.iommu_hwpt_alloc.from_buffer_copy(kernel.calls[-1][1])
        assert (sent.dev_id, sent.pt_id, sent.flags) == (5, 1, abi.IOMMU_HWPT_ALLOC_NEST_PARENT)
        with api.Viommu.alloc(parent, 5, 1) as viommu, viommu.vdevice(5, 0x99) as vdev:
            assert (vdev.virt_id, vdev.id) == (0x99, 12)
    assert [c for c in kernel.calls if c[0] == "destroy"] == [
        ("destroy", 12),
        ("destroy", 11),
        ("destroy", 10),
    ]
    parent.close()  # once
    assert len([c for c in kernel.calls if c[0] == "destroy"]) == 3
    with pytest.raises(ValueError, match="hwpt is closed"):
        parent.set_dirty_tracking(True)
    assert "closed" in repr(parent)


def test_a_refused_destroy_leaves_the_object_open(space: Any) -> None:
    iommufd, kernel = space
    hwpt = api.Hwpt.paging(api.Ioas(iommufd, 1), 5)
    kernel.busy.add(hwpt.id)
    with pytest.raises(VfioError):
        hwpt.close()
    assert not hwpt.closed
    kernel.busy.clear()
    hwpt.close()
    assert hwpt.closed


def test_arguments_are_refused_before_the_kernel(space: Any) -> None:
    iommufd, kernel = space
    ioas = api.Ioas(iommufd, 1)
    with pytest.raises(ValueError, match="data and data_type go together"):
        api.Hwpt.alloc(iommufd, 5, ioas, data=abi.iommu_hwpt_vtd_s1())
    with pytest.raises(ValueError, match="not bound to an iommufd"):
        api.Hwpt.paging(ioas, api.Device(os.open("/dev/null", os.O_RDWR)))
    hwpt = api.Hwpt.paging(ioas, 5, dirty_tracking=True)
    calls = len(kernel.calls)
    with pytest.raises(ValueError, match="not a power of two"):
        hwpt.dirty_bitmap(0, 4096, 3000)
    with pytest.raises(ValueError, match="iova 0x800 is not a multiple"):
        hwpt.dirty_bitmap(0x800, 4096, 4096)
    with pytest.raises(ValueError, match="no entries"):
        hwpt.invalidate(0, [])
    assert len(kernel.calls) == calls


def test_dirty_bitmap_is_read_bit_by_bit(space: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    iommufd, _ = space
    seen: list[abi.iommu_hwpt_get_dirty_bitmap] = []

    def kernel(fd: int, get: abi.iommu_hwpt_get_dirty_bitmap) -> int:
        seen.append(abi.iommu_hwpt_get_dirty_bitmap.from_buffer_copy(bytes(get)))
        words = (ctypes.c_uint64 * 2).from_address(get.data)
        words[0], words[1] = 0b101, 1 << 3  # pages 0, 2 and 67
        return 0

    monkeypatch.setattr(rq, "iommu_hwpt_get_dirty_bitmap", kernel)
    hwpt = api.Hwpt(iommufd, 3)
    bitmap = hwpt.dirty_bitmap(0x100000, 70 * 4096, 4096, clear=False)
    assert seen[0].flags == abi.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR
    assert (seen[0].iova, seen[0].length, seen[0].page_size) == (0x100000, 70 * 4096, 4096)
    assert len(bitmap) == 70 and bitmap.dirty_pages() == [0, 2, 67]
    assert bitmap.dirty_iovas() == [0x100000, 0x102000, 0x100000 + 67 * 4096]
    assert bitmap.is_dirty(0x102FFF) and not bitmap.is_dirty(0x101000)
    assert list(bitmap)[:3] == [True, False, True]
    with pytest.raises(IndexError):
        bitmap[70]


def test_fault_queue_reads_faults_and_answers_them(space: Any) -> None:
    iommufd, kernel = space
    ours, theirs = socket.socketpair()
    queue = api.FaultQueue(iommufd, 20, os.dup(ours.fileno()))
    ours.close()
    assert queue.read(timeout=0) == []
    faults = [abi.iommu_hwpt_pgfault(dev_id=7, cookie=c, addr=0x1000) for c in (1, 2)]
    theirs.sendall(b"".join(bytes(f) for f in faults))
    got = queue.read(timeout=1)
    assert [(f.dev_id, f.cookie) for f in got] == [(7, 1), (7, 2)]
    queue.respond(got[0])
    queue.respond(2, success=False)
    size = ctypes.sizeof(abi.iommu_hwpt_page_response)
    raw = theirs.recv(2 * size)
    replies = [abi.iommu_hwpt_page_response.from_buffer_copy(raw, i * size) for i in (0, 1)]
    assert [(r.cookie, r.code) for r in replies] == [
        (1, abi.IOMMUFD_PAGE_RESP_SUCCESS),
        (2, abi.IOMMUFD_PAGE_RESP_INVALID),
    ]
    fd = queue.fileno()
    queue.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # the fd is closed, then the id destroyed
    assert kernel.calls[-1] == ("destroy", 20)
    theirs.close()


class Event(ctypes.Structure):
    _fields_ = [("virt_id", ctypes.c_uint32)]


def test_vevents_are_parsed_and_losses_counted(space: Any) -> None:
    iommufd, _ = space
    r, w = os.pipe()
    os.close(w)
    queue = api.VeventQueue(iommufd, 30, r, Event)
    header = abi.iommufd_vevent_header
    stream = (
        bytes(header(flags=0, sequence=0))
        + bytes(Event(0x99))
        + bytes(header(flags=0, sequence=3))  # 1 and 2 were lost
        + bytes(Event(0x88))
        + bytes(header(flags=abi.IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence=4))
    )
    events = queue.parse(stream)
    assert [(e.sequence, e.lost) for e in events] == [(0, 0), (3, 2), (4, 1)]
    assert events[0].data is not None and events[0].data.virt_id == 0x99
    assert events[2].data is None
    with pytest.raises(ValueError, match="cut short"):
        queue.parse(bytes(header(sequence=5)) + b"\0")
    queue.close()
    assert queue.closed
