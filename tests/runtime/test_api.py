"""The high-level API without a device: fd ownership, argument checks,
argsz/ENOSPC/EMSGSIZE negotiation, DMA buffer lifetime, errors from a file
that answers ENOTTY. Real devices are the hardware tier's job."""

from __future__ import annotations

import copy as copy_mod
import ctypes
import enum
import errno
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import DecodeError, VfioError  # noqa: E402


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_errors_name_request_and_fd_kind_and_fds_are_owned() -> None:
    before = open_fds()
    with api.Container("/dev/null") as c:
        with pytest.raises(VfioError) as err:
            c.api_version
        assert (err.value.errno, err.value.request, err.value.fd_kind) == (
            errno.ENOTTY,
            "VFIO_GET_API_VERSION",
            "container",
        )
        with pytest.raises(VfioError):
            c.iommu_info()
    assert c.closed
    with pytest.raises(ValueError, match="closed"):
        c.check_extension(1)
    with api.Group("/dev/null") as g:
        with pytest.raises(VfioError, match="VFIO_GROUP_GET_STATUS on a group fd failed: ENOTTY"):
            g.group_status()
        with pytest.raises(TypeError):
            g.set_container(3)  # type: ignore[arg-type]
    dev = api.Device(os.open("/dev/null", os.O_RDWR), "null")
    with dev:
        with pytest.raises(VfioError):
            dev.info
        with pytest.raises(ValueError):
            dev.region_info(-1)
        with pytest.raises(ValueError, match="exactly one DATA"):
            dev.set_irqs(0, abi.VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1)
        with pytest.raises(ValueError, match="need 8 bytes"):
            dev.set_irqs(
                0, abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER, 0, 2, b"\0" * 4
            )
        with pytest.raises(ValueError, match="width"):
            dev.read_int(0, 0, 3)
    assert open_fds() == before
    with pytest.raises(FileNotFoundError) as missing:  # still, and a VfioError with a hint
        api.Container("/nonexistent/vfio")
    assert isinstance(missing.value, VfioError) and missing.value.errno == errno.ENOENT
    assert "modprobe vfio-pci" in str(missing.value)
    assert open_fds() == before


def test_argsz_grow_negotiation() -> None:
    """A fake kernel that behaves as vfio_pci_ioctl_get_info: it reads the
    caller's argsz (never the buffer length), refuses one below minsz,
    writes at most argsz bytes, and asks for more when the chain does not fit."""
    calls: list[tuple[int, int]] = []
    minsz = abi.vfio_device_info.num_irqs.offset + abi.vfio_device_info.num_irqs.size  # 16
    chain = 64

    def kernel(buf: bytearray) -> None:
        argsz = int(abi.vfio_device_info.from_buffer(buf).argsz)
        calls.append((argsz, len(buf)))
        if argsz < minsz:
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_GET_INFO", "device")
        out = abi.vfio_device_info(argsz=argsz, num_regions=9, num_irqs=5)
        if argsz < chain:
            out.argsz = chain  # "a capability chain does not fit: give me 64"
        else:
            out.flags = abi.VFIO_DEVICE_FLAGS_PCI | abi.VFIO_DEVICE_FLAGS_CAPS
        n = min(argsz, ctypes.sizeof(out))
        buf[:n] = bytes(out)[:n]
        if argsz >= chain:
            buf[ctypes.sizeof(out) : chain] = b"\x5a" * (chain - ctypes.sizeof(out))

    info, whole = api._negotiate(kernel, abi.vfio_device_info)
    size = ctypes.sizeof(abi.vfio_device_info)
    assert calls == [(size, size), (chain, chain)]  # argsz and the buffer grow together
    assert len(whole) == chain and whole[size:] == b"\x5a" * (chain - size)
    assert (info.num_regions, info.num_irqs) == (9, 5)
    assert info.flags == abi.VFIO_DEVICE_FLAGS_PCI | abi.VFIO_DEVICE_FLAGS_CAPS
    assert info.argsz == chain

    def exact(buf: bytearray) -> None:  # no chain: argsz stays as given
        calls.append((int(abi.vfio_device_info.from_buffer(buf).argsz), len(buf)))

    calls.clear()
    info, whole = api._negotiate(exact, abi.vfio_device_info)
    assert calls == [(size, size)] and len(whole) == size

    def greedy(buf: bytearray) -> None:
        abi.vfio_device_info.from_buffer(buf).argsz = len(buf) + 8

    with pytest.raises(DecodeError, match="kept growing"):
        api._negotiate(greedy, abi.vfio_device_info)

    def absurd(buf: bytearray) -> None:
        abi.vfio_device_info.from_buffer(buf).argsz = 1 << 30

    with pytest.raises(DecodeError, match="asks for argsz"):
        api._negotiate(absurd, abi.vfio_device_info)


DEV_ID, DEV_ID_OWNED = abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID, abi.VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED


@pytest.mark.parametrize(
    "flags,ids",
    [
        (0, [7, 8]),  # opened through a group: group ids, no flag
        (DEV_ID | DEV_ID_OWNED, [1, abi.VFIO_PCI_DEVID_OWNED]),  # cdev, all the user's
        (DEV_ID, [1, abi.VFIO_PCI_DEVID_NOT_OWNED & 0xFFFFFFFF]),  # cdev, one not the user's
    ],
)
def test_hot_reset_info_enospc_negotiation(
    monkeypatch: pytest.MonkeyPatch, flags: int, ids: list[int]
) -> None:
    """The count is negotiated and the flags of the final answer are kept
    (the kernel zeroes them in its ENOSPC answer)."""
    head = ctypes.sizeof(abi.vfio_pci_hot_reset_info)

    sizes: list[int] = []

    def kernel(fd: int, buf: bytearray) -> int:
        """As vfio_pci_ioctl_get_pci_hot_reset_info: sized by argsz."""
        h = abi.vfio_pci_hot_reset_info.from_buffer(buf)
        argsz = int(h.argsz)
        sizes.append(argsz)
        assert argsz <= len(buf)
        if argsz < head:
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "device")
        h.count, h.flags = 2, 0
        if argsz - head < 2 * ctypes.sizeof(abi.vfio_pci_dependent_device):
            del h
            raise VfioError(errno.ENOSPC, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "device")
        h.flags = flags
        devs = (abi.vfio_pci_dependent_device * 2).from_buffer(buf, head)
        for dev, id in zip(devs, ids):
            dev.group_id = id  # devid shares its place
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_pci_hot_reset_info", kernel)
    dev = api.Device(os.open("/dev/null", os.O_RDWR))
    with dev:
        info = dev.hot_reset_info()
    assert sizes == [head, head + 2 * ctypes.sizeof(abi.vfio_pci_dependent_device)]
    assert isinstance(info, api.HotResetInfo)
    assert type(info.flags) is abi.VfioPciHotResetInfoFlags and info.flags == flags
    assert info.dev_id == bool(flags & DEV_ID)
    assert info.dev_id_owned == bool(flags & DEV_ID_OWNED)
    name = "devid" if info.dev_id else "group_id"
    assert [getattr(d, name) for d in info.devices] == ids


def test_ioas_iova_ranges_emsgsize_negotiation(monkeypatch: pytest.MonkeyPatch) -> None:
    def kernel(fd: int, r: abi.iommu_ioas_iova_ranges) -> int:
        want = [(0, 0xFEDFFFFF), (0xFEF00000, 0x7FFFFFFFFF)]
        if r.num_iovas < len(want):
            r.num_iovas = len(want)
            raise VfioError(errno.EMSGSIZE, "IOMMU_IOAS_IOVA_RANGES", "iommufd")
        arr = (abi.iommu_iova_range * r.num_iovas).from_address(r.allowed_iovas)
        for slot, (s, e) in zip(arr, want):
            slot.start, slot.last = s, e
        r.num_iovas = len(want)
        r.out_iova_alignment = 0x1000
        return 0

    monkeypatch.setattr(rq, "iommu_ioas_iova_ranges", kernel)
    fd = api.Iommufd("/dev/null")
    with fd:
        usable = api.Ioas(fd, 1).iova_ranges()
    assert usable == api.IovaRanges([(0, 0xFEDFFFFF), (0xFEF00000, 0x7FFFFFFFFF)], 0x1000)
    assert usable.alignment == 0x1000 and usable.ranges[1] == (0xFEF00000, 0x7FFFFFFFFF)
    assert usable.covers(0xFEF00000, 0x1000) and not usable.covers(0xFEDFF000, 0x2000)


class FakeSpace:
    def __init__(self, fail: bool = False) -> None:
        self.maps: list[tuple[int, int, int]] = []
        self.unmaps: list[tuple[int, int]] = []
        self.fail = fail

    def map_dma(
        self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
    ) -> None:
        if self.fail:
            raise VfioError(errno.EEXIST, "VFIO_IOMMU_MAP_DMA", "container")
        self.maps.append((iova, size, vaddr))

    def unmap_dma(self, iova: int, size: int) -> int:
        self.unmaps.append((iova, size))
        return size


def test_dma_buffer_lifetime() -> None:
    space = FakeSpace()
    with api.DmaBuffer(space, 5000, 0x100000) as buf:
        assert buf.size == 8192 and buf.vaddr % api.PAGE_SIZE == 0
        assert space.maps == [(0x100000, 8192, buf.vaddr)]
        buf.view[:4] = b"abcd"
        assert ctypes.string_at(buf.vaddr, 4) == b"abcd"  # the address is the memory
    assert space.unmaps == [(0x100000, 8192)] and not buf.mapped
    buf.close()  # idempotent
    assert space.unmaps == [(0x100000, 8192)]
    with pytest.raises(ValueError, match="page size"):
        api.DmaBuffer(space, 4096, 0x100001)
    with pytest.raises(VfioError):
        api.DmaBuffer(FakeSpace(fail=True), 4096, 0x100000)


def test_migration_state_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    head = ctypes.sizeof(abi.vfio_device_feature)
    seen: list[tuple[int, int]] = []
    state = [abi.VFIO_DEVICE_STATE_RUNNING]
    stream_fd = os.open("/dev/null", os.O_RDONLY)  # the data fd STOP_COPY hands out

    def kernel(fd: int, buf: bytearray) -> int:
        f = abi.vfio_device_feature.from_buffer(buf)
        feature, op = (
            f.flags & abi.VFIO_DEVICE_FEATURE_MASK,
            f.flags & ~abi.VFIO_DEVICE_FEATURE_MASK,
        )
        assert f.argsz == len(buf)
        seen.append((feature, op))
        if feature == abi.VFIO_DEVICE_FEATURE_MIGRATION:
            abi.vfio_device_feature_migration.from_buffer(buf, head).flags = (
                abi.VFIO_MIGRATION_STOP_COPY
            )
        elif feature == abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
            st = abi.vfio_device_feature_mig_state.from_buffer(buf, head)
            if op == abi.VFIO_DEVICE_FEATURE_SET:
                state[0] = st.device_state
                st.data_fd = stream_fd if st.device_state == abi.VFIO_DEVICE_STATE_STOP_COPY else -1
            st.device_state = state[0]
        return 0

    monkeypatch.setattr(rq, "vfio_device_feature", kernel)
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        assert dev.migration_flags() == abi.VfioDeviceFeatureMigrationFlags.STOP_COPY
        assert dev.get_mig_state() == abi.VfioDeviceMigState.RUNNING
        assert dev.set_mig_state(abi.VFIO_DEVICE_STATE_STOP) is None
        with dev.set_mig_state(abi.VFIO_DEVICE_STATE_STOP_COPY) as data:
            assert data.fileno() == stream_fd
        assert data.closed
        with pytest.raises(OSError):  # EBADF: closed at the end of the block
            os.fstat(stream_fd)
        assert dev.get_mig_state() == abi.VfioDeviceMigState.STOP_COPY
        with pytest.raises(ValueError):
            dev.set_mig_state(99)  # not a state: refused before the call
    sets = [op for op in seen if op[1] == abi.VFIO_DEVICE_FEATURE_SET]
    assert sets == [(abi.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, abi.VFIO_DEVICE_FEATURE_SET)] * 2
    assert seen.count((abi.VFIO_DEVICE_FEATURE_MIGRATION, abi.VFIO_DEVICE_FEATURE_GET)) == 1


def test_interrupt_is_an_eventfd_with_wait_fileno_and_asyncio() -> None:
    import asyncio
    import selectors

    released = []
    with api.Interrupt(abi.VFIO_PCI_MSI_IRQ_INDEX, 0, lambda: released.append(1)) as irq:
        assert irq.wait(0.01) == 0  # timeout
        os.eventfd_write(irq.fileno(), 3)  # what the kernel does on each interrupt
        assert irq.wait(1) == 3 and irq.clear() == 0
        sel = selectors.DefaultSelector()
        sel.register(irq, selectors.EVENT_READ)
        os.eventfd_write(irq.fileno(), 1)
        assert sel.select(1) and irq.clear() == 1
        sel.close()

        async def fire_then_wait() -> int:
            asyncio.get_running_loop().call_later(0.01, os.eventfd_write, irq.fileno(), 2)
            return await irq.wait_async()

        assert asyncio.run(fire_then_wait()) == 2
    assert irq.closed and released == [1]
    with pytest.raises(ValueError, match="closed"):
        irq.wait(0)


def test_device_interrupt_routes_and_unroutes_one_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routed and unrouted by VFIO_DEVICE_SET_IRQS, the bytes as the C
    struct and its s32 tail (GET_IRQ_INFO answers ENOTTY here: the vector
    is not checked against a count the API does not know)."""
    calls = []

    def kernel(fd: int, buf: bytearray) -> int:
        calls.append(bytes(buf))
        return 0

    monkeypatch.setattr(rq, "vfio_device_set_irqs", kernel)
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        irq = dev.interrupt(abi.VFIO_PCI_MSIX_IRQ_INDEX, 2)
        fd = irq.fileno()
        irq.close()
    eventfd = abi.VFIO_IRQ_SET_DATA_EVENTFD | abi.VFIO_IRQ_SET_ACTION_TRIGGER
    index = abi.VFIO_PCI_MSIX_IRQ_INDEX
    head = ctypes.sizeof(abi.vfio_irq_set)

    def request(efd: int) -> bytes:
        s = abi.vfio_irq_set(argsz=head + 4, flags=eventfd, index=index, start=2, count=1)
        return bytes(s)[:head] + efd.to_bytes(4, "little", signed=True)

    assert calls == [request(fd), request(-1)]


def test_mmio_typed_registers_on_a_mapping() -> None:
    import mmap

    with api.Mmio(mmap.mmap(-1, 4096), 0) as bar:
        bar.write32(0x10, 0xDEADBEEF)
        bar.write64(0x18, 0x0123456789ABCDEF)
        assert bar.read32(0x10) == 0xDEADBEEF and bar.read16(0x12) == 0xDEAD
        assert bar.read8(0x10) == 0xEF and bar.read64(0x18) == 0x0123456789ABCDEF
        assert bytes(bar.view[0x10:0x14]) == b"\xef\xbe\xad\xde"  # little-endian as PCI
        with pytest.raises(ValueError, match="aligned"):
            bar.read32(0x11)
        with pytest.raises(ValueError, match="aligned"):
            bar.read64(4096)
        with pytest.raises((ValueError, TypeError)):
            bar.write8(0, 256)
    assert bar.closed


class FakeKernel:
    """VFIO_DEVICE_GET_INFO / REGION_INFO / IRQ_INFO answers, counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def info(self, fd: int, buf: bytearray) -> int:
        self.calls.append("info")
        info = abi.vfio_device_info.from_buffer(buf)
        info.num_regions, info.num_irqs = 2, 5
        return 0

    def region(self, fd: int, buf: bytearray) -> int:
        self.calls.append("region")
        r = abi.vfio_region_info.from_buffer(buf)
        r.size, r.offset = 0x1000, r.index << 40
        return 0

    def irq(self, fd: int, info: abi.vfio_irq_info) -> int:
        if info.index == 4:  # edu has no ERR index
            raise VfioError(errno.EINVAL, "VFIO_DEVICE_GET_IRQ_INFO", "device")
        info.count = 1
        return 0


def test_region_and_device_info_asked_once_irqs_skips_missing_indexes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeKernel()
    monkeypatch.setattr(rq, "vfio_device_get_info", kernel.info)
    monkeypatch.setattr(rq, "vfio_device_get_region_info", kernel.region)
    monkeypatch.setattr(rq, "vfio_device_get_irq_info", kernel.irq)
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        assert dev.region_info(1).offset == 1 << 40
        assert dev.region_info(1) is dev.region_info(1)
        assert [r.index for r in dev.regions()] == [0, 1]
        assert [i.index for i in dev.irqs()] == [0, 1, 2, 3]
        assert dev.info is dev.info
    assert kernel.calls == ["region", "info", "region"]


def test_closed_objects_refuse_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    with api.Iommufd("/dev/null") as fd:
        ioas = api.Ioas(fd, 7)
        monkeypatch.setattr(fd, "destroy", lambda object_id: None)
        ioas.close()
        with pytest.raises(ValueError, match="ioas is closed"):
            ioas.map_dma(0, 4096, 0)
        assert ioas.closed and "closed" in repr(ioas)
    with pytest.raises(ValueError, match="no IOMMU known"):
        api.Device(os.open("/dev/null", os.O_RDWR)).dma_buffer(4096, 0)


def test_structs_print_their_fields_and_abi_lists_lazy_classes() -> None:
    r = abi.vfio_region_info(argsz=32, flags=abi.VFIO_REGION_INFO_FLAG_READ, index=2)
    text = repr(r)
    assert text.startswith("vfio_region_info(argsz=32, flags=<VfioRegionInfoFlags.READ: 1>")
    assert "index=<VfioPciRegionIndex.BAR2_REGION_INDEX: 2>" in text and "size=0" in text
    assert "data=[" in repr(abi.vfio_irq_set())
    probe = (
        "import vfio.abi as a; names = dir(a); "
        "assert 'VfioRegionInfoFlags' in names and 'VfioRegionInfoFlags' not in vars(a)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "generated")}
    assert subprocess.run([sys.executable, "-c", probe], env=env).returncode == 0
    assert "on an iommufd fd" in str(VfioError(errno.ENOTTY, "IOMMU_DESTROY", "iommufd"))


def test_a_misspelt_struct_field_raises_and_ctypes_still_works() -> None:
    with pytest.raises(AttributeError, match="flgs"):
        abi.vfio_irq_set(flgs=1)
    r = abi.vfio_irq_set()
    with pytest.raises(AttributeError, match="indx"):
        r.indx = 3  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        abi.vfio_iommu_type1_dma_map().__dict__
    buf = bytearray(ctypes.sizeof(abi.vfio_region_info) + 8)
    info = abi.vfio_region_info.from_buffer(buf, 8)
    info.argsz, info.size = 32, 1 << 40
    assert buf[8:12] == b"\x20\0\0\0"
    assert ctypes.pointer(info).contents.size == 1 << 40
    assert ctypes.cast(ctypes.byref(info), ctypes.POINTER(ctypes.c_uint32)).contents.value == 32
    ranges = (abi.vfio_iova_range * 2)()
    ranges[1].end = 7
    assert ranges[1].end == 7 and ranges[0].end == 0
    for copy in (copy_mod.copy(info), copy_mod.deepcopy(info), pickle.loads(pickle.dumps(info))):
        assert type(copy) is abi.vfio_region_info and bytes(copy) == bytes(info)
        assert ctypes.addressof(copy) != ctypes.addressof(info)
    assert abi.vfio_region_info.from_buffer_copy(buf, 8).size == 1 << 40


ALL_MIGRATION = abi.VFIO_MIGRATION_STOP_COPY | abi.VFIO_MIGRATION_P2P | abi.VFIO_MIGRATION_PRE_COPY


def mig_kernel(sent: list[int], data_fd: int = -1):  # type: ignore[no-untyped-def]
    """VFIO_DEVICE_FEATURE of a device with every migration flag, in
    RUNNING: GETs answered, each SET's state recorded (its data_fd goes out -1)."""
    head = ctypes.sizeof(abi.vfio_device_feature)

    def kernel(fd: int, buf: bytearray) -> int:
        f = abi.vfio_device_feature.from_buffer(buf)
        if f.flags & abi.VFIO_DEVICE_FEATURE_MASK == abi.VFIO_DEVICE_FEATURE_MIGRATION:
            abi.vfio_device_feature_migration.from_buffer(buf, head).flags = ALL_MIGRATION
            return 0
        st = abi.vfio_device_feature_mig_state.from_buffer(buf, head)
        if f.flags & abi.VFIO_DEVICE_FEATURE_GET:
            st.device_state = abi.VFIO_DEVICE_STATE_RUNNING
            return 0
        assert st.data_fd == -1  # an output: the request goes out with -1 in it
        sent.append(int(st.device_state))
        st.data_fd = data_fd
        return 0

    return kernel


@pytest.mark.parametrize(
    "state, ok",
    [(-1, False), (0, False), (1, True), (7, True), (8, False), (9, False), (1 << 32, False)],
)
def test_migration_state_is_checked_before_the_call(
    monkeypatch: pytest.MonkeyPatch, state: int, ok: bool
) -> None:
    """The FSM check's boundaries: STOP (1) and PRE_COPY_P2P (7), the first
    and last states, reach the kernel; ERROR (0), VFIO_DEVICE_STATE_NR (8)
    and numbers that name no state never do."""
    sent: list[int] = []
    monkeypatch.setattr(rq, "vfio_device_feature", mig_kernel(sent))
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        if ok:
            assert dev.set_mig_state(state) is None
            assert sent == [state]
        else:
            with pytest.raises(ValueError):
                dev.set_mig_state(state)
            assert sent == []


@pytest.mark.parametrize("data_fd, returned", [(0, 0), (5, 5), (-1, None)])
def test_migration_data_fd_zero_is_an_fd(
    monkeypatch: pytest.MonkeyPatch, data_fd: int, returned: int | None
) -> None:
    monkeypatch.setattr(rq, "vfio_device_feature", mig_kernel([], data_fd))
    with api.Device(os.open("/dev/null", os.O_RDWR)) as dev:
        data = dev.set_mig_state(abi.VFIO_DEVICE_STATE_STOP_COPY)
        # detach(): fd 0 and 5 are the test's, not the data stream's to close
        assert (data.detach() if data is not None else None) == returned
        assert data is None or data.closed


def test_argsz_negotiation_bounds() -> None:
    """MAX_ARGSZ itself is granted, one byte more is refused; a kernel that
    answers with a smaller argsz is done in one call; one that keeps growing
    is given up after 8 calls. Errors point at the struct (offset 0)."""
    size = ctypes.sizeof(abi.vfio_device_info)
    calls: list[int] = []

    def asks(n: int):  # type: ignore[no-untyped-def]
        def kernel(buf: bytearray) -> None:
            calls.append(len(buf))
            head = abi.vfio_device_info.from_buffer(buf)
            if head.argsz < n:
                head.argsz = n

        return kernel

    info, whole = api._negotiate(asks(api.MAX_ARGSZ), abi.vfio_device_info)
    assert calls == [size, api.MAX_ARGSZ] and len(whole) == api.MAX_ARGSZ
    calls.clear()
    with pytest.raises(DecodeError, match=f"asks for argsz {api.MAX_ARGSZ + 1}") as err:
        api._negotiate(asks(api.MAX_ARGSZ + 1), abi.vfio_device_info)
    assert err.value.offset == 0 and calls == [size]

    calls.clear()

    def smaller(buf: bytearray) -> None:
        calls.append(len(buf))
        abi.vfio_device_info.from_buffer(buf).argsz = 16  # only the minimum was needed

    info, whole = api._negotiate(smaller, abi.vfio_device_info)
    assert calls == [size] and len(whole) == size

    calls.clear()

    def greedy(buf: bytearray) -> None:
        calls.append(len(buf))
        abi.vfio_device_info.from_buffer(buf).argsz = len(buf) + 8

    with pytest.raises(DecodeError, match="kept growing") as err:
        api._negotiate(greedy, abi.vfio_device_info)
    assert err.value.offset == 0 and calls == [size + 8 * i for i in range(8)]


def test_container_dma_requests_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    """map_dma/unmap_dma pack their request with struct (not ctypes): the
    bytes must read back as the C struct, and every bad argument must be
    refused, naming it, before a request is made."""
    sent: list[ctypes.Structure] = []

    def map_kernel(fd: int, buf: bytearray) -> int:
        sent.append(abi.vfio_iommu_type1_dma_map.from_buffer_copy(buf))
        return 0

    def unmap_kernel(fd: int, buf: bytearray) -> int:
        u = abi.vfio_iommu_type1_dma_unmap.from_buffer(buf)
        sent.append(abi.vfio_iommu_type1_dma_unmap.from_buffer_copy(buf))
        u.size = 0x3000  # what the kernel unmapped
        return 0

    monkeypatch.setattr(rq, "vfio_iommu_map_dma", map_kernel)
    monkeypatch.setattr(rq, "vfio_iommu_unmap_dma", unmap_kernel)
    c = api.Container("/dev/null")
    top = (1 << 64) - 4096
    c.map_dma(top, 4096, (1 << 64) - 1)
    c.map_dma(0x1000, 0x2000, 0x7F00_0000_0000, writable=False)
    c.map_dma(0x1000, 0x2000, 0, readable=False)
    assert c.unmap_dma(0x1000, 0x3000, 7) == 0x3000

    class Address(enum.IntEnum):  # int subclasses take the slow path, and pass
        BASE = 0x4000
        PAGE = 0x1000

    c.map_dma(Address.BASE, Address.PAGE, Address.BASE)
    assert c.unmap_dma(Address.BASE, Address.PAGE, Address.PAGE) == 0x3000
    read, write = abi.VFIO_DMA_MAP_FLAG_READ, abi.VFIO_DMA_MAP_FLAG_WRITE
    assert [(m.argsz, m.flags, m.vaddr, m.iova, m.size) for m in sent[:3]] == [
        (32, read | write, (1 << 64) - 1, top, 4096),
        (32, read, 0x7F00_0000_0000, 0x1000, 0x2000),
        (32, write, 0, 0x1000, 0x2000),
    ]
    assert (sent[3].argsz, sent[3].flags, sent[3].iova, sent[3].size) == (24, 7, 0x1000, 0x3000)
    assert (sent[4].flags, sent[4].vaddr, sent[4].iova, sent[4].size) == (3, 0x4000, 0x4000, 0x1000)
    assert (sent[5].flags, sent[5].iova, sent[5].size) == (0x1000, 0x4000, 0x1000)
    del sent[:]
    refused_map = [
        ((0x1000, 0x1000, 1.0), TypeError, "vaddr must be an int"),
        ((0x1000, 0x1000, True), TypeError, "vaddr must be an int"),
        (("0x1000", 0x1000, 0), TypeError, "iova must be an int"),
        ((0x1000, 0x1000, -1), ValueError, "vaddr -1 is out of range"),
        ((0x1000, 0x1000, 1 << 64), ValueError, "vaddr .* out of range"),
        ((-4096, 0x1000, 0), ValueError, "iova -4096 is out of range"),
        ((1 << 64, 0x1000, 0), ValueError, "iova .* out of range"),
        ((0x1001, 0x1000, 0), ValueError, "iova 0x1001 is not a multiple of the page size"),
        ((0x1000, 0x800, 0), ValueError, "size 0x800 is not a multiple of the page size"),
    ]
    for args, error, message in refused_map:
        with pytest.raises(error, match=message):
            c.map_dma(*args)
    refused_unmap = [
        ((0x1000, 0x1000, 1 << 32), ValueError, "flags .* out of range"),
        ((0x1000, 0x1000, False), TypeError, "flags must be an int"),
        ((-1, 0x1000), ValueError, "iova -1 is out of range"),
        ((0x1000, 1 << 64), ValueError, "size .* out of range"),
        ((0x1000, 2.0), TypeError, "size must be an int"),
    ]
    for args, error, message in refused_unmap:
        with pytest.raises(error, match=message):
            c.unmap_dma(*args)
    assert sent == []  # nothing refused reached the kernel
    c.close()
    with pytest.raises(ValueError, match="closed"):
        c.map_dma(0x1000, 0x1000, 0)
    with pytest.raises(ValueError, match="closed"):
        c.unmap_dma(0x1000, 0x1000)


def test_ioas_dma_requests_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ioas.map_dma/unmap_dma send prepared bytes on their common path and a
    ctypes struct otherwise: both must read back as the C struct, and bad
    arguments never reach the kernel."""
    sent: list[ctypes.Structure] = []

    def map_kernel(fd: int, arg: Any) -> int:
        sent.append(abi.iommu_ioas_map.from_buffer_copy(arg))
        return 0

    def unmap_kernel(fd: int, arg: Any) -> int:
        sent.append(abi.iommu_ioas_unmap.from_buffer_copy(arg))
        abi.iommu_ioas_unmap.from_buffer(arg).length = 0x3000  # what the kernel unmapped
        return 0

    monkeypatch.setattr(rq, "iommu_ioas_map", map_kernel)
    monkeypatch.setattr(rq, "iommu_ioas_unmap", unmap_kernel)
    fixed, read, write = (
        abi.IOMMU_IOAS_MAP_FIXED_IOVA,
        abi.IOMMU_IOAS_MAP_READABLE,
        abi.IOMMU_IOAS_MAP_WRITEABLE,
    )
    top = (1 << 64) - 4096

    class Address(enum.IntEnum):
        BASE = 0x4000

    with api.Iommufd("/dev/null") as iommufd:
        ioas = api.Ioas(iommufd, 9)
        assert ioas.map_dma(top, 4096, (1 << 64) - 1) == top
        assert ioas.map_dma(0x1000, 0x2000, 0x7000, writable=False) == 0x1000
        assert ioas.map_dma(Address.BASE, 0x1000, 0x8000) == 0x4000
        assert ioas.unmap_dma(0x1000, 0x3000) == 0x3000
        assert ioas.unmap_dma(Address.BASE, 0x1000) == 0x3000
        maps = [(m.size, m.flags, m.ioas_id, m.user_va, m.length, m.iova) for m in sent[:3]]
        assert maps == [
            (40, fixed | read | write, 9, (1 << 64) - 1, 4096, top),
            (40, fixed | read, 9, 0x7000, 0x2000, 0x1000),
            (40, fixed | read | write, 9, 0x8000, 0x1000, 0x4000),
        ]
        unmaps = [(u.size, u.ioas_id, u.iova, u.length) for u in sent[3:]]
        assert unmaps == [(24, 9, 0x1000, 0x3000), (24, 9, 0x4000, 0x1000)]
        del sent[:]
        for args, error, message in [
            ((0x1001, 0x1000, 0), ValueError, "iova 0x1001 is not a multiple of the page size"),
            ((0x1000, 0x800, 0), ValueError, "size 0x800 is not a multiple of the page size"),
            ((0x1000, 0x1000, -1), ValueError, "vaddr -1 is out of range"),
            ((0x1000, 0x1000, 1 << 64), ValueError, "vaddr .* out of range"),
            ((1 << 64, 0x1000, 0), ValueError, "iova .* out of range"),
            ((0x1000, 0x1000, 1.0), TypeError, "vaddr must be an int"),
        ]:
            with pytest.raises(error, match=message):
                ioas.map_dma(*args)
        for args, error, message in [
            ((-4096, 0x1000), ValueError, "iova -4096 is out of range"),
            ((0x1000, 1 << 64), ValueError, "size .* out of range"),
            ((0x1000, "4096"), TypeError, "size must be an int"),
        ]:
            with pytest.raises(error, match=message):
                ioas.unmap_dma(*args)
        assert sent == []
        ioas._open = False  # closed: refused before any request
        with pytest.raises(ValueError, match="ioas is closed"):
            ioas.map_dma(0x1000, 0x1000, 0)
        with pytest.raises(ValueError, match="ioas is closed"):
            ioas.unmap_dma(0x1000, 0x1000)
    assert sent == []
