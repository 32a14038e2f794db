"""What the API refuses or explains itself because it already knows the
facts: a vector routed twice, a vector or IRQ index the device does not
have, a second cdev bind, a closed object used; the hints on a refused DMA
map; and the conveniences users of libvfn and the kernel's VFIO selftests
expect (Device.interrupts, Ioas.map_dma(iova=None), short PCI addresses,
vfio.__version__). A fake kernel answers as the real one does; the guest
tier (tests/hardware/guest/test_hints.py, test_interrupts.py,
test_vfio_iommufd.py) makes each call on a real one."""

from __future__ import annotations

import ctypes
import errno
import gc
import mmap
import os
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "generated"))

import vfio  # noqa: E402
from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import VfioError  # noqa: E402

from vfiogen.emit.bindings.wheel import wheel_version  # noqa: E402
from vfiogen.ir import codec  # noqa: E402

INTX, MSI, MSIX, ERR = (
    abi.VFIO_PCI_INTX_IRQ_INDEX,
    abi.VFIO_PCI_MSI_IRQ_INDEX,
    abi.VFIO_PCI_MSIX_IRQ_INDEX,
    abi.VFIO_PCI_ERR_IRQ_INDEX,
)


class FakePci:
    """A PCI device as vfio-pci answers for edu plus an MSI-X table of 4:
    INTx 1, MSI 1, MSI-X 4 vectors, no ERR index (EINVAL, not PCIe). Each
    VFIO_DEVICE_SET_IRQS that routes eventfds is recorded as (index, start,
    eventfds), every other one as (flags, index, start, count) in `others`,
    checked as the kernel checks them."""

    COUNTS = {INTX: 1, MSI: 1, MSIX: 4, abi.VFIO_PCI_REQ_IRQ_INDEX: 1}

    def __init__(self) -> None:
        self.sets: list[tuple[int, int, list[int]]] = []
        self.others: list[tuple[int, int, int, int]] = []

    def info(self, fd: int, buf: bytearray) -> int:
        i = abi.vfio_device_info.from_buffer(buf)
        i.flags, i.num_regions, i.num_irqs = abi.VFIO_DEVICE_FLAGS_PCI, 9, 5
        return 0

    def irq_info(self, fd: int, info: abi.vfio_irq_info) -> int:
        if int(info.index) not in self.COUNTS:
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_GET_IRQ_INFO", "device")
        info.count, info.flags = self.COUNTS[int(info.index)], abi.VFIO_IRQ_INFO_EVENTFD
        return 0

    def set_irqs(self, fd: int, buf: bytearray) -> int:
        s = abi.vfio_irq_set.from_buffer(buf)
        if s.start + s.count > self.COUNTS.get(int(s.index), 0):
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_SET_IRQS", "device")
        if s.flags & abi.VFIO_IRQ_SET_DATA_NONE:
            assert s.argsz == len(buf) == ctypes.sizeof(abi.vfio_irq_set)
            self.others.append((int(s.flags), int(s.index), int(s.start), int(s.count)))
            return 0
        assert s.argsz == len(buf) == ctypes.sizeof(abi.vfio_irq_set) + 4 * s.count
        assert s.flags == abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
        fds = list((ctypes.c_int32 * s.count).from_buffer(buf, ctypes.sizeof(abi.vfio_irq_set)))
        self.sets.append((int(s.index), int(s.start), fds))
        return 0


@pytest.fixture()
def pci(monkeypatch: pytest.MonkeyPatch) -> FakePci:
    fake = FakePci()
    monkeypatch.setattr(rq, "vfio_device_get_info", fake.info)
    monkeypatch.setattr(rq, "vfio_device_get_irq_info", fake.irq_info)
    monkeypatch.setattr(rq, "vfio_device_set_irqs", fake.set_irqs)
    return fake


def device(name: str = "0000:00:03.0") -> api.Device:
    return api.Device(os.open(os.devnull, os.O_RDWR), name)


def test_a_routed_vector_is_refused_until_its_interrupt_closes(pci: FakePci) -> None:
    with device() as dev:
        first = dev.interrupt(MSIX, 1)
        assert pci.sets == [(MSIX, 1, [first.fileno()])]
        with pytest.raises(ValueError) as err:
            dev.interrupt(MSIX, 1)
        assert f"vector 1 of irq index 2 (MSI-X) is already routed to {first!r}" in str(err.value)
        with pytest.raises(ValueError, match="vector 1 .* already routed"):
            dev.interrupts(MSIX, 3)  # 0..2 takes 1 too
        assert len(pci.sets) == 1  # nothing refused reached the kernel
        first.close()
        assert pci.sets[-1] == (MSIX, 1, [-1])  # unrouted
        with dev.interrupt(MSIX, 1) as again:
            assert pci.sets[-1] == (MSIX, 1, [again.fileno()])
        first.close()  # closed twice: unroutes nothing again
        assert pci.sets[-1] == (MSIX, 1, [-1]) and len(pci.sets) == 4


def test_disable_irq_detaches_the_interrupts_of_its_index(pci: FakePci) -> None:
    """After disable_irq, an old Interrupt's close() must not unroute the
    vector a new Interrupt took since."""
    with device() as dev:
        old = dev.interrupt(MSI)
        dev.disable_irq(MSI)
        assert pci.others == [(DISABLE, MSI, 0, 0)]
        new = dev.interrupt(MSI)
        sets = len(pci.sets)
        old.close()
        assert len(pci.sets) == sets and not new.closed  # nothing unrouted
        new.close()
        assert pci.sets[-1] == (MSI, 0, [-1])


DISABLE = abi.VFIO_IRQ_SET_DATA_NONE | abi.VFIO_IRQ_SET_ACTION_TRIGGER
ROUTE = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER


def test_raw_set_irqs_keeps_one_interrupt_per_vector(pci: FakePci) -> None:
    """enable_irq and set_irqs, the raw verbs: routing (or unrouting, -1) a
    vector an open Interrupt owns is refused before any request, whatever
    the verb; a raw disable of the index (count 0) detaches its Interrupts
    as disable_irq does; a loopback trigger or a mask changes no routing."""
    with device() as dev:
        owned = dev.interrupts(MSIX, 2, start=1)  # vectors 1 and 2
        sent = len(pci.sets)
        spare = os.eventfd(0)
        try:
            refusals = [
                lambda: dev.enable_irq(MSIX, [spare], start=2),
                lambda: dev.enable_irq(MSIX, [-1], start=1),
                lambda: dev.enable_irq(MSIX, [spare, spare, spare]),  # 0..2 takes 1 and 2
                lambda: dev.set_irqs(MSIX, ROUTE, 2, 1, spare.to_bytes(4, "little")),
            ]
            for refused in refusals:
                with pytest.raises(ValueError) as err:
                    refused()
                assert "of irq index 2 (MSI-X) is already routed to <Interrupt" in str(err.value)
            assert "vector 1 " in str(pytest.raises(ValueError, refusals[2]).value)
            assert len(pci.sets) == sent  # nothing refused reached the kernel
            dev.enable_irq(MSIX, [spare], start=3)  # a vector no Interrupt owns: the caller's
            dev.enable_irq(MSI, [spare])  # another index
            assert pci.sets[-2:] == [(MSIX, 3, [spare]), (MSI, 0, [spare])]
            dev.trigger_irq(MSIX, 1, 2)  # loopback: the routing stays
            dev.mask_irq(MSIX, 1)
            with pytest.raises(ValueError, match="vector 1 .* already routed"):
                dev.interrupt(MSIX, 1)
            dev.set_irqs(MSIX, DISABLE, 0, 0)  # raw disable: the kernel unroutes the index
            assert pci.others[-1] == (DISABLE, MSIX, 0, 0)
            assert not any(irq.closed for irq in owned)  # open, routing nothing
            dev.enable_irq(MSIX, [spare], start=1)  # vector 1 is free again
            sent = len(pci.sets)
            for irq in owned:
                irq.close()
            assert len(pci.sets) == sent  # detached: their close() unroutes nothing
            assert dev.enable_irq(MSI, [-1]) is None  # MSI's vector was never an Interrupt's
        finally:
            os.close(spare)


def test_a_dropped_interrupt_unroutes_itself_with_a_resource_warning(pci: FakePci) -> None:
    with device() as dev:
        irq = dev.interrupt(MSI)
        fd = irq.fileno()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del irq
            gc.collect()
        assert [w.category for w in caught] == [ResourceWarning]
        assert "unclosed <Interrupt index=1 vector=0" in str(caught[0].message)
        assert pci.sets[-1] == (MSI, 0, [-1])  # unrouted before its eventfd closed
        with pytest.raises(OSError):
            os.fstat(fd)  # the eventfd is closed (the number may be reused)
        with dev.interrupt(MSI):  # the vector is free again
            pass
    # dropped after the device closed: the kernel routes nothing to it any more
    dev = device()
    irq = dev.interrupt(MSI)
    sets = len(pci.sets)
    dev.close()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        del irq
        gc.collect()
    assert len(pci.sets) == sets


def test_vectors_and_indexes_the_device_lacks_are_refused(pci: FakePci) -> None:
    with device() as dev:
        with pytest.raises(
            ValueError, match=r"vector 1 is out of range: irq index 1 \(MSI\) has 1 vector \("
        ):
            dev.interrupt(MSI, vector=1)
        with pytest.raises(ValueError, match=r"irq index 2 \(MSI-X\) has 4 vectors"):
            dev.interrupts(MSIX, 2, start=3)
        with pytest.raises(ValueError, match=r"the device has no irq index 3 \(ERR\): Device.irqs"):
            dev.interrupt(ERR)
        with pytest.raises(ValueError, match="count must be at least 1"):
            dev.interrupts(MSIX, 0)
        with pytest.raises(TypeError):
            dev.interrupts(MSIX, 1, start=None)  # type: ignore[arg-type]
    assert pci.sets == []
    with device("/dev/vfio/devices/vfio0") as dev:  # not known to be PCI: no PCI names
        with pytest.raises(ValueError, match=r"irq index 1 has 1 vector"):
            dev.interrupt(MSI, vector=1)


def test_an_index_is_not_refused_when_the_device_answers_nothing(
    pci: FakePci, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cdev not bound yet answers every request EINVAL: the API cannot tell
    a missing index, so the kernel's own answer is what the user gets."""

    def refuse(*args: Any) -> int:
        raise VfioError(errno.EINVAL, "VFIO_DEVICE_X", "device")

    for name in ("vfio_device_get_info", "vfio_device_get_irq_info", "vfio_device_set_irqs"):
        monkeypatch.setattr(rq, name, refuse)
    before = set(os.listdir("/proc/self/fd"))
    with device() as dev:
        with pytest.raises(VfioError):
            dev.interrupt(ERR)
    assert set(os.listdir("/proc/self/fd")) == before  # the eventfd went with the failure


def test_interrupts_routes_n_vectors_in_one_request(pci: FakePci) -> None:
    with device() as dev:
        irqs = dev.interrupts(MSIX, 3, start=1)
        assert pci.sets == [(MSIX, 1, [i.fileno() for i in irqs])]
        assert [(i.index, i.vector) for i in irqs] == [(MSIX, 1), (MSIX, 2), (MSIX, 3)]
        os.eventfd_write(irqs[1].fileno(), 1)
        assert [i.wait(0) for i in irqs] == [0, 1, 0]
        irqs[1].close()
        assert pci.sets[-1] == (MSIX, 2, [-1])  # only its own vector
        with pytest.raises(ValueError, match="vector 3 .* already routed"):
            dev.interrupt(MSIX, 3)
        for irq in irqs:
            irq.close()
        assert [s[1:] for s in pci.sets[-2:]] == [(1, [-1]), (3, [-1])]
        assert len(dev.interrupts(MSIX, 4)) == 4  # all free again; closed with the device


class FakeBind:
    def __init__(self) -> None:
        self.binds = 0

    def __call__(self, fd: int, b: abi.vfio_device_bind_iommufd) -> int:
        self.binds += 1
        if self.binds > 1:
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_BIND_IOMMUFD", "device")
        b.out_devid = 7
        return 0


def test_a_second_cdev_bind_is_refused_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeBind()
    monkeypatch.setattr(rq, "vfio_device_bind_iommufd", kernel)
    token = uuid.UUID(int=1)
    with api.Iommufd("/dev/null") as iommufd:
        with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
            assert dev.bind_iommufd(iommufd) == 7 and dev.dev_id == 7 and dev.iommufd is iommufd
            for again in (
                lambda: dev.bind_iommufd(iommufd),
                lambda: dev.bind_iommufd_with_token(iommufd, token),
            ):
                with pytest.raises(ValueError, match=r"already bound to an iommufd \(dev_id 7\)"):
                    again()
        assert kernel.binds == 1
        kernel.binds = 0
        with api.Device(os.open(os.devnull, os.O_RDWR)) as vf:  # the token form records it too
            assert vf.bind_iommufd_with_token(iommufd, token) == 7 and vf.dev_id == 7
            with pytest.raises(ValueError, match="already bound"):
                vf.bind_iommufd(iommufd)


def test_container_map_dma_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's EINVAL: before set_iommu (type1 has no IOMMU driver to
    ask yet), and for an IOVA range the IOMMU does not offer."""

    def refuse(fd: int, buf: bytearray) -> int:
        raise VfioError(errno.EINVAL, "VFIO_IOMMU_MAP_DMA", "container")

    monkeypatch.setattr(rq, "vfio_iommu_map_dma", refuse)
    with api.Container("/dev/null") as c:
        with pytest.raises(VfioError, match=r"hint: this container has no IOMMU model yet"):
            c.map_dma(0x100000, 0x1000, 0x7000000)
        c.iommu = abi.VFIO_TYPE1v2_IOMMU
        info = api.IommuInfo(
            abi.VfioIommuType1InfoFlags(0), 0x1000, [(0, 0xFEDFFFFF)], None, None, []
        )
        monkeypatch.setattr(c, "iommu_info", lambda: info)
        with pytest.raises(VfioError) as err:
            c.dma_buffer(0x2000, iova=0xFEDFF000)
        assert err.value.hint == (
            "[0xfedff000, 0xfee01000) is outside the IOVA ranges the IOMMU offers "
            "([0x0, 0xfedfffff]: Container.iommu_info().iova_ranges)"
        )
        with pytest.raises(VfioError) as err:  # inside: the EINVAL has another cause
            c.map_dma(0x100000, 0x1000, 0x7000000)
        assert err.value.hint == ""


def ioas_kernel(sent: list[abi.iommu_ioas_map], chosen: int = 0x7F0000) -> Any:
    def kernel(fd: int, arg: abi.iommu_ioas_map | bytearray) -> int:
        m = abi.iommu_ioas_map.from_buffer(arg)  # the struct or the API's bytes
        sent.append(abi.iommu_ioas_map.from_buffer_copy(m))
        if m.flags & abi.IOMMU_IOAS_MAP_FIXED_IOVA:
            if m.iova >= 0xFEE00000:
                raise VfioError(errno.EINVAL, "IOMMU_IOAS_MAP", "iommufd")
        else:
            m.iova = chosen
        return 0

    return kernel


def ranges_kernel(fd: int, r: abi.iommu_ioas_iova_ranges) -> int:
    if r.num_iovas < 1:
        r.num_iovas = 1
        raise VfioError(errno.EMSGSIZE, "IOMMU_IOAS_IOVA_RANGES", "iommufd")
    arr = (abi.iommu_iova_range * 1).from_address(r.allowed_iovas)
    arr[0].start, arr[0].last = 0, 0xFEDFFFFF
    r.num_iovas, r.out_iova_alignment = 1, 0x10000
    return 0


def test_ioas_map_dma_lets_the_kernel_choose_and_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[abi.iommu_ioas_map] = []
    monkeypatch.setattr(rq, "iommu_ioas_map", ioas_kernel(sent))
    monkeypatch.setattr(rq, "iommu_ioas_iova_ranges", ranges_kernel)
    rw = abi.IOMMU_IOAS_MAP_READABLE | abi.IOMMU_IOAS_MAP_WRITEABLE
    with api.Iommufd("/dev/null") as fd:
        ioas = api.Ioas(fd, 3)
        assert ioas.map_dma(None, 0x2000, 0x7000000) == 0x7F0000
        assert ioas.map_dma(0x100000, 0x1000, 0x7000000, writable=False) == 0x100000
        assert [(m.flags, m.iova, m.length, m.ioas_id) for m in sent] == [
            (rw, 0, 0x2000, 3),
            (abi.IOMMU_IOAS_MAP_FIXED_IOVA | abi.IOMMU_IOAS_MAP_READABLE, 0x100000, 0x1000, 3),
        ]
        with pytest.raises(VfioError) as err:
            ioas.map_dma(0xFEE00000, 0x1000, 0x7000000)
        assert err.value.hint == (
            "[0xfee00000, 0xfee01000) is outside the usable IOVA ranges of this IOAS "
            "([0x0, 0xfedfffff]: Ioas.iova_ranges()); or pass iova=None"
        )
        with pytest.raises(ValueError, match="page size"):
            ioas.map_dma(None, 0x800, 0)
    monkeypatch.setattr(
        rq,
        "iommu_ioas_map",
        lambda f, m: (_ for _ in ()).throw(VfioError(22, "IOMMU_IOAS_MAP", "iommufd")),
    )
    with api.Iommufd("/dev/null") as fd:
        with pytest.raises(
            VfioError, match=r"aligned to 0x10000 \(Ioas.iova_ranges\(\).alignment\)"
        ):
            api.Ioas(fd, 3).map_dma(0x101000, 0x1000, 0)


def fake_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    def region(fd: int, buf: bytearray) -> int:
        abi.vfio_region_info.from_buffer(buf).size = 0x1000
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_region_info", region)
    monkeypatch.setattr(rq, "vfio_device_feature", lambda fd, buf: 0)


def test_a_closed_device_refuses_what_it_had_cached(
    pci: FakePci, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_readers(monkeypatch)
    dev = device()
    dev.info, dev.region_info(0), dev.irq_info(MSI), list(dev.regions())
    probe = abi.VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY
    assert dev.probe_feature(probe, abi.VFIO_DEVICE_FEATURE_SET)
    dev.close()
    for use in (
        lambda: dev.info,
        lambda: dev.region_info(0),
        lambda: dev.irq_info(MSI),
        lambda: list(dev.regions()),
        lambda: list(dev.irqs()),
        lambda: dev.probe_feature(probe, abi.VFIO_DEVICE_FEATURE_SET),
        lambda: dev.migration_flags(),
        lambda: dev.interrupt(MSI),
    ):
        with pytest.raises(ValueError, match="^this device is closed$"):
            use()


def test_closed_mappings_and_buffers_say_so() -> None:
    bar = api.Mmio(mmap.mmap(-1, 4096), 0)
    view = bar.view
    bar.close()
    for use in (
        lambda: bar.read32(0),
        lambda: bar.write64(8, 1),
        lambda: bar.read8(4095),
        lambda: bar.view,
    ):
        with pytest.raises(ValueError, match="^this mapping is closed$"):
            use()
    with pytest.raises(ValueError, match="released"):
        view[0]  # a view taken before: released with the mapping
    with pytest.raises(ValueError, match="no 8-byte view"):
        api.Mmio(mmap.mmap(-1, 12)).read64(0)

    class Space:
        def map_dma(self, *args: Any, **kw: Any) -> None:
            pass

        def unmap_dma(self, iova: int, size: int) -> int:
            return size

    buf = api.DmaBuffer(Space(), 4096, 0x100000)
    buf.view[:2] = b"ok"
    buf.close()
    with pytest.raises(ValueError, match="^this DMA buffer is closed$"):
        buf.view[:2]


def test_group_open_device_takes_what_open_pci_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    names: list[str] = []

    def get_fd(fd: int, name: str) -> int:
        names.append(name)
        return os.open(os.devnull, os.O_RDWR)

    monkeypatch.setattr(rq, "vfio_group_get_device_fd", get_fd)
    mdev = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
    vf = f"0000:00:05.0 vf_token={uuid.UUID(int=0xABC)}"
    with api.Group("/dev/null") as g:
        for name in ("00:01.0", "0000:00:0A.0", mdev, vf):
            with g.open_device(name) as dev:
                assert dev.name == names[-1]
    assert names == ["0000:00:01.0", "0000:00:0a.0", mdev, vf]


def test_the_package_knows_its_version() -> None:
    spec = codec.from_json((ROOT / "generated" / "spec.json").read_text())
    assert vfio.__version__ == wheel_version(spec)
    assert vfio.__version__.startswith(f"{spec.kernel_version}+vfiogen")
    assert "__version__" in vfio.__all__
