"""open_pci in each IOMMU mode of the kernel selftests, DMA buffers whose
IOVA the kernel chooses, and huge-page-backed buffers, without a device: a
fake sysfs and a fake kernel answering every ioctl (test_api_docs's), and
for huge pages this machine's own kernel (its answer to MAP_HUGETLB)."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from test_api_docs import EDU, FakeKernel, fake_machine, install

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import _dma, abi, api, devices  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import HugePagesError, IommuModeError, SetupError  # noqa: E402

SELFTEST_MODES = (  # FIXTURE_VARIANT_ADD_ALL_IOMMU_MODES, tools/testing/selftests/vfio
    "vfio_type1_iommu",
    "vfio_type1v2_iommu",
    "iommufd_compat_type1",
    "iommufd_compat_type1v2",
    "iommufd",
)


@pytest.fixture()
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()
    install(monkeypatch, fake)
    return fake


def node_of(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_the_modes_are_the_selftests_names() -> None:
    assert api.IOMMU_MODES == SELFTEST_MODES
    assert get_args(api.IommuMode) == SELFTEST_MODES


@pytest.mark.parametrize(
    "mode,node,model",
    [
        (None, "dev/vfio/vfio", None),
        ("vfio_type1_iommu", "dev/vfio/vfio", abi.VFIO_TYPE1_IOMMU),
        ("vfio_type1v2_iommu", "dev/vfio/vfio", abi.VFIO_TYPE1v2_IOMMU),
        ("iommufd_compat_type1", "dev/iommu", abi.VFIO_TYPE1_IOMMU),
        ("iommufd_compat_type1v2", "dev/iommu", abi.VFIO_TYPE1v2_IOMMU),
    ],
)
def test_container_modes_set_the_container_node_and_model(
    kernel: FakeKernel, tmp_path: Path, mode: Any, node: str, model: int | None
) -> None:
    fake_machine(tmp_path)
    with api.open_pci(EDU, root=str(tmp_path), mode=mode) as dev:
        space = dev.dma_space
        assert isinstance(space, api.Container)
        assert node_of(space.fd) == str(tmp_path / node)
        assert space.iommu == (model or abi.VFIO_TYPE1v2_IOMMU)  # None: the best offered
        assert "VFIO_GROUP_SET_CONTAINER" in kernel.seen
        assert "VFIO_DEVICE_BIND_IOMMUFD" not in kernel.seen
        with dev.dma_buffer(4096, 0x100000) as buf:
            assert buf.iova == 0x100000
        with pytest.raises(ValueError, match="Container cannot choose an IOVA"):
            dev.dma_buffer(4096)
        assert "VFIO_GROUP_UNSET_CONTAINER" not in kernel.seen
    assert kernel.seen[-1] == "VFIO_GROUP_UNSET_CONTAINER"  # the group leaves, as selftests do


def test_iommufd_mode_opens_the_cdev_bound_and_attached(kernel: FakeKernel, tmp_path: Path) -> None:
    fake_machine(tmp_path)
    with api.open_pci(EDU, root=str(tmp_path), mode="iommufd") as dev:
        assert isinstance(dev.dma_space, api.Ioas)
        assert node_of(dev.fd) == str(tmp_path / "dev/vfio/devices/vfio0")
        assert {"IOMMU_IOAS_ALLOC", "VFIO_DEVICE_BIND_IOMMUFD"} <= set(kernel.seen)
        assert "VFIO_DEVICE_ATTACH_IOMMUFD_PT" in kernel.seen
        assert "VFIO_GROUP_SET_CONTAINER" not in kernel.seen
        with dev.dma_buffer(4096, 0x100000) as buf:
            assert buf.iova == 0x100000


@pytest.mark.parametrize("mode", ["iommufd_compat_type1", "iommufd_compat_type1v2", "iommufd"])
def test_no_dev_iommu_names_config_iommufd(kernel: FakeKernel, tmp_path: Path, mode: Any) -> None:
    fake_machine(tmp_path)
    (tmp_path / "dev/iommu").unlink()
    with pytest.raises(IommuModeError, match="CONFIG_IOMMUFD") as exc:
        api.open_pci(EDU, root=str(tmp_path), mode=mode)
    assert exc.value.mode == mode and isinstance(exc.value, SetupError)
    assert kernel.seen == []  # refused before any request


def test_no_cdev_names_config_vfio_device_cdev(kernel: FakeKernel, tmp_path: Path) -> None:
    fake_machine(tmp_path)
    (tmp_path / "sys/devices/pci0000:00" / EDU / "vfio-dev/vfio0").rmdir()
    with pytest.raises(IommuModeError, match="CONFIG_VFIO_DEVICE_CDEV"):
        api.open_pci(EDU, root=str(tmp_path), mode="iommufd")
    assert kernel.seen == []


BREAKAGES = {
    "not bound": lambda root: (root / "sys/devices/pci0000:00" / EDU / "driver").unlink(),
    "no /dev/iommu": lambda root: (root / "dev/iommu").unlink(),
    "no cdev": lambda root: (root / "sys/devices/pci0000:00" / EDU / "vfio-dev/vfio0").rmdir(),
}


@pytest.mark.parametrize("breakage", [None, *BREAKAGES])
def test_open_pci_cdev_is_iommufd_mode_one_sysfs_read_one_set_of_checks(
    kernel: FakeKernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: str | None
) -> None:
    """Device.open_pci_cdev and open_pci(mode="iommufd") read sysfs once
    each and refuse alike, with the same error, before any request."""
    fake_machine(tmp_path)
    if breakage is not None:
        BREAKAGES[breakage](tmp_path)
    scans: list[str] = []
    read = devices.device
    monkeypatch.setattr(
        devices, "device", lambda bdf, root="/": scans.append(bdf) or read(bdf, root)
    )
    outcomes = []
    for route in (
        lambda: api.open_pci(EDU, root=str(tmp_path), mode="iommufd"),
        lambda: api.Device.open_pci_cdev(EDU, str(tmp_path)),
    ):
        scans.clear()
        try:
            with route() as dev:
                outcomes.append(("opened", node_of(dev.fd)))
        except SetupError as exc:
            outcomes.append((type(exc).__name__, str(exc)))
        assert scans == [EDU]  # one sysfs read per open
    assert outcomes[0] == outcomes[1]
    expected = {
        None: "opened",
        "not bound": "NotBoundError",
        "no /dev/iommu": "IommuModeError",
        "no cdev": "IommuModeError",
    }[breakage]
    assert outcomes[0][0] == expected, outcomes
    if breakage is not None:
        assert kernel.seen == []  # refused before any request


def test_a_model_the_container_lacks_and_an_unknown_mode_are_refused(
    kernel: FakeKernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_machine(tmp_path)
    with pytest.raises(ValueError, match="not an IOMMU mode: one of vfio_type1_iommu"):
        api.open_pci(EDU, root=str(tmp_path), mode="type1")  # type: ignore[arg-type]
    monkeypatch.setattr(rq, "vfio_check_extension", lambda fd, ext: 0)
    fds = set(os.listdir("/proc/self/fd"))
    with pytest.raises(IommuModeError, match="does not offer IOMMU model 1"):
        api.open_pci(EDU, root=str(tmp_path), mode="vfio_type1_iommu")
    assert set(os.listdir("/proc/self/fd")) == fds  # group and container closed
    assert "VFIO_SET_IOMMU" not in kernel.seen


# --- the IOVA the kernel chooses ------------------------------------------------


def test_ioas_dma_buffer_lets_the_kernel_choose_the_iova(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int, int]] = []

    def map_kernel(fd: int, arg: Any) -> int:
        m = abi.iommu_ioas_map.from_buffer(arg)
        if not m.flags & abi.IOMMU_IOAS_MAP_FIXED_IOVA:
            m.iova = 0x7FFF0000  # where the kernel's allocator put it
        sent.append((int(m.flags), int(m.iova), int(m.length)))
        return 0

    def unmap_kernel(fd: int, arg: Any) -> int:
        u = abi.iommu_ioas_unmap.from_buffer(arg)
        sent.append((-1, int(u.iova), int(u.length)))
        return 0

    monkeypatch.setattr(rq, "iommu_ioas_map", map_kernel)
    monkeypatch.setattr(rq, "iommu_ioas_unmap", unmap_kernel)
    rw = abi.IOMMU_IOAS_MAP_READABLE | abi.IOMMU_IOAS_MAP_WRITEABLE
    with api.Iommufd("/dev/null") as iommufd:
        ioas = api.Ioas(iommufd, 1)
        with ioas.dma_buffer(5000) as buf:
            assert (buf.iova, buf.size) == (0x7FFF0000, 8192)
            assert sent == [(rw, 0x7FFF0000, 8192)]  # no FIXED_IOVA
        assert sent[-1] == (-1, 0x7FFF0000, 8192)  # unmapped where it was mapped
        with ioas.dma_buffer(4096, 0x100000) as fixed:
            assert fixed.iova == 0x100000
        assert sent[2][0] == rw | abi.IOMMU_IOAS_MAP_FIXED_IOVA


def test_a_container_refuses_iova_none_before_any_request(kernel: FakeKernel) -> None:
    with api.Container("/dev/null") as c:
        with pytest.raises(ValueError, match="type1 IOMMU has no allocator"):
            c.dma_buffer(4096, None)
    assert kernel.seen == []


# --- huge pages -------------------------------------------------------------------


def test_no_hugetlbfs_is_named(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        1000 kB\nMemFree:          500 kB\n")
    with pytest.raises(HugePagesError, match="CONFIG_HUGETLBFS"):
        _dma.huge_pages_info(str(meminfo))
    meminfo.write_text("HugePages_Free:        3\nHugepagesize:       2048 kB\n")
    assert _dma.huge_pages_info(str(meminfo)) == (2 << 20, 3)


class Space:
    def __init__(self) -> None:
        self.maps: list[tuple[int, int]] = []

    def map_dma(
        self, iova: int, size: int, vaddr: int, *, readable: bool = True, writable: bool = True
    ) -> None:
        self.maps.append((iova, size))

    def unmap_dma(self, iova: int, size: int) -> int:
        return size


def test_huge_page_buffer_on_this_machine() -> None:
    """This machine's kernel is the oracle: with free huge pages the buffer
    is rounded to one and mapped; without, the error says how to reserve."""
    try:
        page, free = _dma.huge_pages_info()
    except HugePagesError:
        pytest.skip("this machine's kernel has no huge pages (CONFIG_HUGETLBFS)")
    space = Space()
    if free == 0:
        with pytest.raises(HugePagesError, match=r"echo 1 > /proc/sys/vm/nr_hugepages"):
            api.DmaBuffer(space, 4096, 0x200000, huge_pages=True)
        assert space.maps == []
        return
    with api.DmaBuffer(space, 4096, 0x200000, huge_pages=True) as buf:
        assert buf.size == page == buf.page_size and buf.vaddr % page == 0
        assert space.maps == [(0x200000, page)]
        buf.view[page - 1] = 7
        assert ctypes.string_at(buf.vaddr + page - 1, 1) == b"\x07"


def test_huge_pages_takes_a_bool() -> None:
    with pytest.raises(TypeError, match="huge_pages must be a bool"):
        api.DmaBuffer(Space(), 4096, 0, huge_pages=1)  # type: ignore[arg-type]
