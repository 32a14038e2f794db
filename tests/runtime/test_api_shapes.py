"""The shapes of vfio.api (the rules in vfio._base's docstring): answers are
NamedTuples with a field-value repr; RegionInfo.type names the headers'
VFIO_REGION_TYPE_*/VFIO_REGION_SUBTYPE_* and still equals the raw tuple; a
migration data fd comes back owned; a property answers from a cache, a
method asks the kernel each call; vfio.fsm's reference example runs. Fake
kernels stand in for the device, as in test_api.py; the hardware tier runs
the same on mtty (tests/hardware/guest/test_mdev.py)."""

from __future__ import annotations

import ctypes
import errno
import gc
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "generated"))

from vfio import abi, api, devices, fsm  # noqa: E402
from vfio import _migration  # noqa: E402
from vfio import requests as rq  # noqa: E402

ANSWERS = [
    api.DeviceInfo,
    api.RegionInfo,
    api.RegionType,
    api.IrqInfo,
    api.HotResetInfo,
    api.IommuInfo,
    api.GroupStatus,
    api.HwInfo,
    api.IovaRanges,
    api.PrecopyInfo,
    api.VEvent,
    devices.PciDevice,
    devices.Host,
]


@pytest.mark.parametrize("cls", ANSWERS, ids=lambda c: c.__name__)
def test_answers_are_named_tuples(cls: type) -> None:
    assert issubclass(cls, tuple) and hasattr(cls, "_fields"), cls


def fake_device() -> api.Device:
    return api.Device(os.open("/dev/null", os.O_RDWR), "fake")


def region_kernel(calls: list[int], type_: int | None = None, subtype: int = 0) -> Any:
    """VFIO_DEVICE_GET_REGION_INFO as vfio_pci answers it: a 0x100-byte
    region at 0x10000, with a VFIO_REGION_INFO_CAP_TYPE chain when `type_`
    is given (argsz grows to fit it first)."""
    head = ctypes.sizeof(abi.vfio_region_info)
    need = head + ctypes.sizeof(abi.vfio_region_info_cap_type)

    def kernel(fd: int, buf: bytearray) -> int:
        calls.append(len(buf))
        info = abi.vfio_region_info.from_buffer(buf)
        info.flags, info.size, info.offset = abi.VFIO_REGION_INFO_FLAG_READ, 0x100, 0x10000
        if type_ is None:
            return 0
        info.flags |= abi.VFIO_REGION_INFO_FLAG_CAPS
        if info.argsz < need:
            info.argsz = need
            return 0
        info.cap_offset = head
        cap = abi.vfio_region_info_cap_type.from_buffer(buf, head)
        cap.header.id, cap.header.version, cap.header.next = abi.VFIO_REGION_INFO_CAP_TYPE, 1, 0
        cap.type, cap.subtype = type_, subtype
        return 0

    return kernel


def test_region_and_irq_info_unpack_repr_and_keep_their_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(rq, "vfio_device_get_region_info", region_kernel(calls))

    def irq_kernel(fd: int, info: abi.vfio_irq_info) -> int:
        info.flags, info.count = abi.VFIO_IRQ_INFO_EVENTFD, 5
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_irq_info", irq_kernel)
    with fake_device() as dev:
        index, flags, size, offset, capabilities = dev.region_info(2)
        assert (index, size, offset, capabilities) == (2, 0x100, 0x10000, [])
        assert flags == abi.VFIO_REGION_INFO_FLAG_READ
        region = dev.region_info(2)
        assert region.index == 2 and region.type is None  # index: the field, not tuple.index
        assert region is dev.region_info(2) and len(calls) == 1  # cached: asked once
        with pytest.raises(AttributeError):
            region.size = 0  # type: ignore[misc]  # immutable: the cache cannot be changed
        irq = dev.irq_info(1)
        assert (irq.index, irq.count) == (1, 5) and tuple(irq) == (1, irq.flags, 5)
        assert repr(irq) == f"IrqInfo(index=1, flags={irq.flags!r}, count=5)"
        assert repr(region).startswith("RegionInfo(index=2, flags=")


V = 1 << 31  # VFIO_REGION_TYPE_PCI_VENDOR_TYPE as the u32 the kernel writes


@pytest.mark.parametrize(
    "type_, subtype, type_name, subtype_name, vendor",
    [
        (1, 1, "VFIO_REGION_TYPE_GFX", "VFIO_REGION_SUBTYPE_GFX_EDID", None),
        (2, 3, "VFIO_REGION_TYPE_CCW", "VFIO_REGION_SUBTYPE_CCW_CRW", None),
        (
            3,
            1,
            "VFIO_REGION_TYPE_MIGRATION_DEPRECATED",
            "VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED",
            None,
        ),
        (
            V | 0x8086,
            3,
            "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086",
            "VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG",
            0x8086,
        ),
        (
            V | 0x10DE,
            1,
            "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x10de",
            "VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM",
            0x10DE,
        ),
        (V | 0x1234, 1, "VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x1234", None, 0x1234),
        (1, 9, "VFIO_REGION_TYPE_GFX", None, None),  # a subtype these headers do not name
        (77, 1, None, None, None),
    ],
)
def test_region_type_names_type_and_subtype_and_equals_the_tuple(
    monkeypatch: pytest.MonkeyPatch,
    type_: int,
    subtype: int,
    type_name: str | None,
    subtype_name: str | None,
    vendor: int | None,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(rq, "vfio_device_get_region_info", region_kernel(calls, type_, subtype))
    with fake_device() as dev:
        kind = dev.region_info(0).type
    assert kind is not None and len(calls) == 2  # argsz grew once to fit the chain
    assert kind == (type_, subtype) and (kind.type, kind.subtype) == (type_, subtype)
    assert (kind.type_name, kind.subtype_name, kind.vendor) == (type_name, subtype_name, vendor)
    if subtype_name is not None:
        assert getattr(abi, subtype_name) == subtype  # the name is the header's, for this value
    shown = f"{type_:#x} ({type_name})" if type_name else f"{type_:#x}"
    assert repr(kind).startswith(f"RegionType(type={shown}, subtype={subtype:#x}")


class FakeOs:
    """os as _migration sees it: read() hands out `chunks`, then raises
    `end` (an OSError errno) or returns b""; write() takes at most 3 bytes."""

    def __init__(self, chunks: list[bytes], end: int | None = None) -> None:
        self.chunks, self.end, self.written = list(chunks), end, bytearray()

    def read(self, fd: int, size: int) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.end is not None:
            raise OSError(self.end, os.strerror(self.end))
        return b""

    def write(self, fd: int, data: Any) -> int:
        taken = bytes(data[:3])
        self.written += taken
        return len(taken)


def null_fd() -> int:
    return os.open("/dev/null", os.O_RDWR)


@pytest.mark.parametrize("end", [None, errno.ENOMSG])
def test_migration_data_reads_until_eof_or_enomsg(
    monkeypatch: pytest.MonkeyPatch, end: int | None
) -> None:
    monkeypatch.setattr(_migration, "os", FakeOs([b"ab", b"cd"], end))
    with api.MigrationData(null_fd()) as data:
        assert data.read_all() == b"abcd"


def test_migration_data_passes_other_errors_and_writes_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_migration, "os", FakeOs([b"ab"], errno.EIO))
    with api.MigrationData(null_fd()) as data, pytest.raises(OSError) as err:
        data.read_all()
    assert err.value.errno == errno.EIO
    fake = FakeOs([])
    monkeypatch.setattr(_migration, "os", fake)
    with api.MigrationData(null_fd()) as data:
        data.write_all(b"0123456789")  # taken 3 bytes at a time
        assert data.write(b"xyz") == 3
    assert bytes(fake.written) == b"0123456789xyz"


def test_migration_data_owns_its_fd() -> None:
    """A real pipe: read() to EOF, fileno(); closed by close(), by `with`,
    on garbage collection; detach() hands the fd back unowned."""
    r, w = os.pipe()
    os.write(w, b"state")
    os.close(w)
    data = api.MigrationData(r)
    assert data.fileno() == r and data.read(2) == b"st" and data.read_all() == b"ate"
    assert data.read() == b""
    del data
    gc.collect()
    with pytest.raises(OSError):  # EBADF: collected, closed
        os.fstat(r)
    fd = null_fd()
    data = api.MigrationData(fd)
    assert data.detach() == fd and data.closed
    os.fstat(fd)  # still open: the caller's now
    os.close(fd)
    with pytest.raises(ValueError, match="migration data fd is closed"):
        data.read()
    with pytest.raises(ValueError):
        data.read(-1)


class MigKernel(api.Device):
    """A device whose VFIO_DEVICE_FEATURE answers as mtty's, counting GETs of
    the state; STOP_COPY hands out a real fd."""

    def __init__(self) -> None:
        super().__init__(null_fd(), "fake")
        self.state, self.gets = abi.VFIO_DEVICE_STATE_RUNNING, 0

    def feature(self, index: int, flags: int, data: bytes = b"") -> bytes:
        if index == abi.VFIO_DEVICE_FEATURE_MIGRATION:
            return bytes(abi.vfio_device_feature_migration(flags=abi.VFIO_MIGRATION_STOP_COPY))
        if flags & abi.VFIO_DEVICE_FEATURE_GET:
            self.gets += 1
            return bytes(abi.vfio_device_feature_mig_state(device_state=self.state, data_fd=-1))
        self.state = int(abi.vfio_device_feature_mig_state.from_buffer_copy(data).device_state)
        fd = null_fd() if self.state == abi.VFIO_DEVICE_STATE_STOP_COPY else -1
        return bytes(abi.vfio_device_feature_mig_state(device_state=self.state, data_fd=fd))


def test_set_mig_state_returns_an_owned_data_fd() -> None:
    S = abi.VfioDeviceMigState
    with MigKernel() as dev:
        data = dev.set_mig_state(S.STOP_COPY)
        assert isinstance(data, api.MigrationData)
        fd = data.fileno()
        assert data.read() == b""  # /dev/null: at its end
        data.close()
        with pytest.raises(OSError):
            os.fstat(fd)
        assert dev.set_mig_state(S.STOP) is None


def test_methods_ask_each_call_properties_answer_from_a_cache() -> None:
    """get_mig_state() asks the kernel each call; the deprecated property
    asks too, warns, and says the same."""
    with MigKernel() as dev:
        assert dev.get_mig_state() == dev.get_mig_state() == abi.VfioDeviceMigState.RUNNING
        assert dev.gets == 2
        with pytest.warns(DeprecationWarning, match=r"get_mig_state\(\)"):
            assert dev.mig_state == abi.VfioDeviceMigState.RUNNING
        assert dev.gets == 3


def test_group_status_is_a_method_and_status_a_deprecated_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []

    def kernel(fd: int, st: abi.vfio_group_status) -> int:
        asked.append(fd)
        st.flags = abi.VFIO_GROUP_FLAGS_VIABLE | (
            abi.VFIO_GROUP_FLAGS_CONTAINER_SET if asked[1:] else 0
        )
        return 0

    monkeypatch.setattr(rq, "vfio_group_get_status", kernel)
    with api.Group("/dev/null") as g:
        first = g.group_status()
        assert first.viable and not first.container_set
        assert g.group_status().container_set  # asked again: the kernel's answer changed
        with pytest.warns(DeprecationWarning, match=r"group_status\(\)"):
            assert g.status.viable
        assert len(asked) == 3


def test_api_version_is_asked_once_and_refused_once_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(rq, "vfio_get_api_version", lambda fd: asked.append(fd) or 0)
    c = api.Container("/dev/null")
    assert c.api_version == c.api_version == abi.VFIO_API_VERSION
    assert len(asked) == 1
    c.close()
    with pytest.raises(ValueError, match="closed"):
        c.api_version


FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def test_fsm_reference_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The example of the vfio.fsm page, as the guest tier runs it (the
    module bound to its last name)."""
    page = (ROOT / "generated/docs/python/vfio.fsm.md").read_text()
    (code,) = FENCE.findall(page)
    exec(compile(code, "vfio.fsm.md", "exec"), {"fsm": fsm})
    assert "lack" in capsys.readouterr().out
