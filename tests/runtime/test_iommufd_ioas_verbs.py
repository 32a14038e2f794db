"""The IOAS and iommufd verbs without a kernel (Ioas.copy / map_file /
allow_iovas / huge_pages, Iommufd.option / rlimit_mode / compat_ioas /
change_process / hw_info): what each sends, and every argument refused
before the request at its exact boundary. The kernel's answers are the
hardware tier's (tests/hardware/guest/test_iommufd_mock.py)."""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import DecodeError, VfioError  # noqa: E402

REQUESTS = (
    "iommu_ioas_copy",
    "iommu_ioas_map_file",
    "iommu_ioas_allow_iovas",
    "iommu_option",
    "iommu_vfio_ioas",
    "iommu_ioas_change_process",
    "iommu_get_hw_info",
)


class Kernel:
    """Records each request's struct as sent; `answers[name]` edits the
    struct (or raises) as the kernel would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {}
        for name in REQUESTS:
            monkeypatch.setattr(rq, name, self.request(name))

    def request(self, name: str) -> Any:
        def call(fd: int, arg: Any) -> int:
            self.sent.append((name, type(arg).from_buffer_copy(bytes(arg))))
            answer = self.answers.get(name)
            if answer is not None:
                answer(arg)
            return 0

        return call

    def last(self, name: str) -> Any:
        return next(arg for n, arg in reversed(self.sent) if n == name)


@pytest.fixture()
def kernel(monkeypatch: pytest.MonkeyPatch) -> Any:
    with api.Iommufd("/dev/null") as iommufd:
        yield iommufd, Kernel(monkeypatch)


def test_copy_sends_both_ioas_and_returns_the_kernels_iova(kernel: Any) -> None:
    iommufd, k = kernel
    src, dst = api.Ioas(iommufd, 1), api.Ioas(iommufd, 2)
    k.answers["iommu_ioas_copy"] = lambda c: setattr(c, "dst_iova", 0x40000000)
    assert dst.copy(src, 0x1000, 0x4000) == 0x40000000
    c = k.last("iommu_ioas_copy")
    assert (c.dst_ioas_id, c.src_ioas_id, c.src_iova, c.length) == (2, 1, 0x1000, 0x4000)
    assert c.flags == abi.IOMMU_IOAS_MAP_READABLE | abi.IOMMU_IOAS_MAP_WRITEABLE
    k.answers.clear()
    assert dst.copy(src, 0x1000, 0x4000, iova=0x9000, writable=False) == 0x9000
    c = k.last("iommu_ioas_copy")
    assert c.flags == abi.IOMMU_IOAS_MAP_FIXED_IOVA | abi.IOMMU_IOAS_MAP_READABLE
    assert c.dst_iova == 0x9000


def test_map_file_takes_an_fd_or_a_file_object(kernel: Any, tmp_path: Path) -> None:
    iommufd, k = kernel
    ioas = api.Ioas(iommufd, 3)
    k.answers["iommu_ioas_map_file"] = lambda m: setattr(m, "iova", 0x7000)
    with open(tmp_path / "f", "wb+") as f:
        assert ioas.map_file(f, 0x2000, start=0x1000) == 0x7000
        m = k.last("iommu_ioas_map_file")
        assert (m.ioas_id, m.fd, m.start, m.length) == (3, f.fileno(), 0x1000, 0x2000)
        assert not m.flags & abi.IOMMU_IOAS_MAP_FIXED_IOVA
    k.answers.clear()
    assert ioas.map_file(5, 0x1000, iova=0, readable=False) == 0
    m = k.last("iommu_ioas_map_file")
    assert m.flags == abi.IOMMU_IOAS_MAP_FIXED_IOVA | abi.IOMMU_IOAS_MAP_WRITEABLE


def test_map_and_copy_arguments_are_refused_at_their_boundaries(kernel: Any) -> None:
    iommufd, k = kernel
    src, dst = api.Ioas(iommufd, 1), api.Ioas(iommufd, 2)
    top = 1 << 64
    dst.copy(src, top - 0x1000, 0x1000)  # ends exactly at 2**64: allowed
    dst.map_file(0, 0x1000, start=top - 0x1000, iova=top - 0x1000)
    dst.map_file((1 << 31) - 1, 1)
    sent = len(k.sent)
    with pytest.raises(ValueError, match="wraps"):
        dst.copy(src, top - 0x1000, 0x1001)
    with pytest.raises(ValueError, match="wraps"):
        dst.copy(src, 0, 0x2000, iova=top - 0x1000)
    with pytest.raises(ValueError, match="length must not be 0"):
        dst.copy(src, 0, 0)
    with pytest.raises(ValueError, match="readable or writable"):
        dst.copy(src, 0, 0x1000, readable=False, writable=False)
    with pytest.raises(TypeError, match="readable must be a bool"):
        dst.copy(src, 0, 0x1000, readable=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="src must be an Ioas"):
        dst.copy(1, 0, 0x1000)  # type: ignore[arg-type]
    with api.Iommufd("/dev/null") as other:
        with pytest.raises(ValueError, match="another iommufd"):
            dst.copy(api.Ioas(other, 1), 0, 0x1000)
    with pytest.raises(ValueError, match="wraps"):
        dst.map_file(0, 0x1001, start=top - 0x1000)
    with pytest.raises(ValueError, match="not a file descriptor"):
        dst.map_file(-1, 0x1000)
    with pytest.raises(ValueError, match="not a file descriptor"):
        dst.map_file(1 << 31, 0x1000)
    with pytest.raises(ValueError, match="out of range"):
        dst.map_file(0, 1 << 64)
    assert len(k.sent) == sent


def test_allow_iovas_sends_sorted_ranges_and_refuses_bad_ones(kernel: Any) -> None:
    iommufd, k = kernel
    ioas = api.Ioas(iommufd, 4)
    got: list[list[tuple[int, int]]] = []

    def read(a: Any) -> None:  # the kernel reads the array while the call runs
        array = (abi.iommu_iova_range * max(a.num_iovas, 1)).from_address(a.allowed_iovas)
        got.append([(r.start, r.last) for r in array[: a.num_iovas]])

    k.answers["iommu_ioas_allow_iovas"] = read
    ioas.allow_iovas([(0x3000, 0x3FFF), (0x1000, 0x1001)])
    ioas.allow_iovas([(0x1000, 0x1FFF), (0x2000, 0x2FFF)])  # adjacent, not overlapping
    ioas.allow_iovas([])  # clears the list
    assert got == [[(0x1000, 0x1001), (0x3000, 0x3FFF)], [(0x1000, 0x1FFF), (0x2000, 0x2FFF)], []]
    assert k.last("iommu_ioas_allow_iovas").ioas_id == 4
    sent = len(k.sent)
    with pytest.raises(ValueError, match="start must be below last"):
        ioas.allow_iovas([(0x1000, 0x1000)])  # the kernel: start >= last is EINVAL
    with pytest.raises(ValueError, match="overlap"):
        ioas.allow_iovas([(0x1000, 0x2000), (0x2000, 0x3000)])
    with pytest.raises(ValueError, match="out of range"):
        ioas.allow_iovas([(0, 1 << 64)])
    assert len(k.sent) == sent


def test_options(kernel: Any) -> None:
    iommufd, k = kernel
    ioas = api.Ioas(iommufd, 6)
    k.answers["iommu_option"] = lambda o: setattr(o, "val64", 1 if o.op else o.val64)
    assert ioas.huge_pages() is True
    o = k.last("iommu_option")
    assert (o.option_id, o.op, o.object_id) == (
        abi.IOMMU_OPTION_HUGE_PAGES,
        abi.IOMMU_OPTION_OP_GET,
        6,
    )
    ioas.set_huge_pages(False)
    o = k.last("iommu_option")
    assert (o.op, o.val64, o.object_id) == (abi.IOMMU_OPTION_OP_SET, 0, 6)
    assert iommufd.rlimit_mode() == 1
    assert k.last("iommu_option").object_id == 0  # a global option
    iommufd.set_rlimit_mode(True)
    o = k.last("iommu_option")
    assert (o.option_id, o.op, o.val64) == (abi.IOMMU_OPTION_RLIMIT_MODE, 0, 1)
    assert (
        iommufd.option(abi.IOMMU_OPTION_HUGE_PAGES, object_id=6, value=(1 << 64) - 1)
        == (1 << 64) - 1
    )  # the escape hatch passes any 64-bit value on
    sent = len(k.sent)
    for bad in (2, 1, None):
        with pytest.raises(TypeError, match="enabled must be a bool"):
            ioas.set_huge_pages(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="per_process must be a bool"):
        iommufd.set_rlimit_mode(0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        iommufd.option(0, value=1 << 64)
    with pytest.raises(ValueError, match="out of range"):
        iommufd.option(1 << 32)
    assert len(k.sent) == sent


def test_compat_ioas_get_set_clear(kernel: Any) -> None:
    iommufd, k = kernel

    def none_yet(v: Any) -> None:
        raise VfioError(errno.ENODEV, "IOMMU_VFIO_IOAS", "iommufd")

    k.answers["iommu_vfio_ioas"] = none_yet
    assert iommufd.compat_ioas() is None
    k.answers["iommu_vfio_ioas"] = lambda v: setattr(v, "ioas_id", 9)
    assert iommufd.compat_ioas() == 9
    iommufd.set_compat_ioas(api.Ioas(iommufd, 7))
    v = k.last("iommu_vfio_ioas")
    assert (v.op, v.ioas_id) == (abi.IOMMU_VFIO_IOAS_SET, 7)
    iommufd.clear_compat_ioas()
    assert k.last("iommu_vfio_ioas").op == abi.IOMMU_VFIO_IOAS_CLEAR

    def refused(v: Any) -> None:
        raise VfioError(errno.EOPNOTSUPP, "IOMMU_VFIO_IOAS", "iommufd")

    k.answers["iommu_vfio_ioas"] = refused
    with pytest.raises(VfioError):  # only ENODEV means "none"
        iommufd.compat_ioas()
    with api.Iommufd("/dev/null") as other:
        with pytest.raises(ValueError, match="another iommufd"):
            iommufd.set_compat_ioas(api.Ioas(other, 1))
    iommufd.change_process()
    assert k.sent[-1][0] == "iommu_ioas_change_process"


class Mock(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint32), ("test_reg", ctypes.c_uint32)]


def hw_info_answer(data: bytes, data_type: int, caps: int = 0) -> Any:
    def answer(i: Any) -> None:
        ctypes.memmove(i.data_uptr, data, min(len(data), i.data_len))
        i.data_len, i.out_data_type, i.out_capabilities = len(data), data_type, caps
        i.out_max_pasid_log2 = 20

    return answer


def test_hw_info_reads_the_data_the_kernel_has(kernel: Any) -> None:
    iommufd, k = kernel
    k.answers["iommu_get_hw_info"] = hw_info_answer(
        bytes(Mock(0, 0xDEADBEEF)), 0xFFFF, abi.IOMMU_HW_CAP_DIRTY_TRACKING
    )
    info = iommufd.hw_info(5, data=Mock)
    sent = k.last("iommu_get_hw_info")
    assert (sent.dev_id, sent.flags) == (5, 0)
    assert (info.data_type, info.max_pasid_log2, len(info.data)) == (0xFFFF, 20, 8)
    assert info.has(abi.IOMMU_HW_CAP_DIRTY_TRACKING)
    assert not info.has(abi.IOMMU_HW_CAP_PCI_PASID_EXEC)
    decoded = info.decoded()
    assert isinstance(decoded, Mock) and decoded.test_reg == 0xDEADBEEF
    assert iommufd.hw_info(5).decoded() is None  # a type the headers do not know
    iommufd.hw_info(5, data_type=0)
    sent = k.last("iommu_get_hw_info")
    assert (sent.flags, sent.in_data_type) == (abi.IOMMU_HW_INFO_FLAG_INPUT_TYPE, 0)


def test_hw_info_grows_its_buffer_and_checks_the_decode(kernel: Any) -> None:
    iommufd, k = kernel
    k.answers["iommu_get_hw_info"] = hw_info_answer(bytes(range(256)) * 2, 1)
    info = iommufd.hw_info(5)
    assert info.data == bytes(range(256)) * 2
    assert [a.data_len for n, a in k.sent] == [256, 512]
    k.answers["iommu_get_hw_info"] = hw_info_answer(b"\1\0\0\0", 1)
    with pytest.raises(DecodeError):
        iommufd.hw_info(5, data=Mock).decoded()  # 4 bytes, the struct has 8
    k.answers["iommu_get_hw_info"] = hw_info_answer(b"\0" * (2 << 20), 1)
    with pytest.raises(DecodeError, match="the kernel has"):
        iommufd.hw_info(5)


def test_hw_info_of_a_cdev_device_needs_a_binding(kernel: Any) -> None:
    iommufd, k = kernel
    dev = api.Device(os.open("/dev/null", os.O_RDWR))
    with dev:
        with pytest.raises(ValueError, match="not bound"):
            dev.hw_info()
        dev.dev_id, dev.iommufd = 8, iommufd
        k.answers["iommu_get_hw_info"] = hw_info_answer(b"", 0)
        assert dev.hw_info().data == b""
        assert k.last("iommu_get_hw_info").dev_id == 8
    with pytest.raises(ValueError, match="out of range"):
        iommufd.hw_info(-1)
    with pytest.raises(ValueError, match="out of range"):
        iommufd.hw_info(5, data_type=1 << 32)


def test_hw_info_decodes_the_types_the_overlay_names(kernel: Any) -> None:
    """vfio.abi.POINTEES (from [records.iommu_hw_info.fields.data_uptr]) picks
    the struct: VT-d's registers come back as iommu_hw_info_vtd."""
    iommufd, k = kernel
    vtd = abi.iommu_hw_info_vtd(cap_reg=0x1234, ecap_reg=0x5678)
    k.answers["iommu_get_hw_info"] = hw_info_answer(bytes(vtd), abi.IOMMU_HW_INFO_TYPE_INTEL_VTD)
    decoded = iommufd.hw_info(5).decoded()
    assert isinstance(decoded, abi.iommu_hw_info_vtd)
    assert (decoded.cap_reg, decoded.ecap_reg) == (0x1234, 0x5678)
    _, cases = abi.POINTEES[("iommu_hw_info", "data_uptr")]
    assert cases[abi.IOMMU_HW_INFO_TYPE_AMD] is abi.iommu_hw_info_amd
    assert abi.IOMMU_HW_INFO_TYPE_NONE not in cases  # no data


def test_a_verb_newer_than_the_headers_is_refused(
    kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_iommufd ships from 6.6; MAP_FILE and CHANGE_PROCESS came in 6.13:
    a package generated from older headers says so instead of failing on
    a missing struct."""
    iommufd, k = kernel
    older = {
        n: r
        for n, r in rq.REQUESTS.items()
        if n not in ("IOMMU_IOAS_MAP_FILE", "IOMMU_IOAS_CHANGE_PROCESS")
    }
    monkeypatch.setattr(rq, "REQUESTS", older)
    with pytest.raises(NotImplementedError, match="IOMMU_IOAS_MAP_FILE"):
        api.Ioas(iommufd, 1).map_file(0, 0x1000)
    with pytest.raises(NotImplementedError, match="IOMMU_IOAS_CHANGE_PROCESS"):
        iommufd.change_process()
    monkeypatch.delattr(abi, "IOMMU_HW_INFO_FLAG_INPUT_TYPE")
    with pytest.raises(NotImplementedError, match="no data_type"):
        iommufd.hw_info(5, data_type=1)
    assert k.sent == []


def test_hwpt_data_must_be_the_struct_its_data_type_names(
    kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[records.iommu_hwpt_alloc.fields.data_uptr] cases: a VTD_S1 table is
    an iommu_hwpt_vtd_s1; a type the headers do not know (a driver's or the
    selftest's) takes any struct."""
    iommufd, _ = kernel
    sent: list[abi.iommu_hwpt_alloc] = []

    def alloc(fd: int, a: abi.iommu_hwpt_alloc) -> int:
        sent.append(abi.iommu_hwpt_alloc.from_buffer_copy(bytes(a)))
        a.out_hwpt_id = 40 + len(sent)
        return 0

    monkeypatch.setattr(rq, "iommu_hwpt_alloc", alloc)
    monkeypatch.setattr(iommufd, "destroy", lambda object_id: None)
    parent = api.Hwpt(iommufd, 3)
    s1 = abi.iommu_hwpt_vtd_s1(pgtbl_addr=0x1000, addr_width=48)
    with api.Hwpt.nested(parent, 5, abi.IOMMU_HWPT_DATA_VTD_S1, s1):
        assert (sent[0].data_type, sent[0].data_len) == (
            abi.IOMMU_HWPT_DATA_VTD_S1,
            ctypes.sizeof(s1),
        )
    with api.Hwpt.nested(parent, 5, 0xBEEF, Mock()):  # unknown type: the driver decides
        assert sent[1].data_len == ctypes.sizeof(Mock)
    with pytest.raises(TypeError, match="takes a iommu_hwpt_arm_smmuv3, not iommu_hwpt_vtd_s1"):
        api.Hwpt.nested(parent, 5, abi.IOMMU_HWPT_DATA_ARM_SMMUV3, s1)
    with pytest.raises(ValueError, match="out of range"):
        api.Hwpt.nested(parent, 5, -1, s1)
    assert len(sent) == 2
