"""What a failed request says: the overlay's reason for the errno (read from
headers/*.toml here, the runtime reads it from vfio.requests), the API's hint
for the common misuses (a fake kernel answers as the real one does; the
guest test tests/hardware/guest/test_hints.py provokes each on a real one),
and the no-IOMMU opt-in."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import pickle
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "generated"))

from vfio import __main__ as cli  # noqa: E402
from vfio import abi, api  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.api import IOMMU_MODES  # noqa: E402
from vfio.errors import IommuModeError, NoiommuRefusedError, SetupError, VfioError  # noqa: E402


def overlay_errors() -> dict[str, dict[str, str]]:
    """request -> errno -> reason, straight from the checked-in overlays."""
    out: dict[str, dict[str, str]] = {}
    for name in ("vfio.toml", "iommufd.toml"):
        data = tomllib.loads((ROOT / "headers" / name).read_text())
        for request, facts in data.get("requests", {}).items():
            if facts.get("errors"):
                out[request] = facts["errors"]
    return out


def refuse(code: int) -> Callable[..., int]:
    def ioctl(*args: Any) -> int:
        raise OSError(code, os.strerror(code))

    return ioctl


def test_every_reason_of_the_overlay_reaches_the_runtime() -> None:
    expected = overlay_errors()
    assert expected, "the overlays list no errors"
    for request, reasons in expected.items():
        if request not in rq.REQUESTS:
            continue  # not in this release's headers
        assert rq.REQUESTS[request].errors == reasons
        for name, reason in reasons.items():
            err = VfioError(getattr(errno, name), request, rq.REQUESTS[request].fd)
            assert err.reason == reason
            assert f"; the kernel says {name} here when {reason}" in str(err)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "checked path"])
def test_a_failed_request_carries_its_reason(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    """Through the generated fast path and through vfio._ioctl (a bytearray)."""
    reason = overlay_errors()["VFIO_DEVICE_GET_REGION_INFO"]["EINVAL"]
    monkeypatch.setattr(rq, "_fcntl_ioctl", refuse(errno.EINVAL))
    monkeypatch.setattr(rq._ioctl.fcntl, "ioctl", refuse(errno.EINVAL))
    arg = abi.vfio_region_info() if fast else bytearray(ctypes.sizeof(abi.vfio_region_info))
    with pytest.raises(VfioError) as err:
        rq.vfio_device_get_region_info(0, arg)
    assert err.value.reason == reason and err.value.hint == ""
    assert str(err.value).startswith(
        "VFIO_DEVICE_GET_REGION_INFO on a device fd failed: EINVAL (Invalid argument); "
        f"the kernel says EINVAL here when {reason}"
    )
    again = pickle.loads(pickle.dumps(err.value))
    assert str(again) == str(err.value)


def test_an_errno_the_overlay_does_not_explain_has_no_reason() -> None:
    err = VfioError(errno.ENOTTY, "VFIO_GROUP_GET_STATUS", "group")
    assert err.reason == "" and str(err) == (
        "VFIO_GROUP_GET_STATUS on a group fd failed: ENOTTY (Inappropriate ioctl for device)"
    )
    assert "an iommufd fd" in str(VfioError(errno.ENOTTY, "IOMMU_DESTROY", "iommufd"))


class FakeLegacy:
    """A container and group that answer as the kernel does: SET_IOMMU needs a
    group and happens once, a group joins one container, GET_DEVICE_FD needs
    the IOMMU set."""

    def __init__(self) -> None:
        self.groups = 0
        self.iommu = False

    def set_container(self, fd: int, container: int) -> None:
        if self.groups:
            raise VfioError(errno.EINVAL, "VFIO_GROUP_SET_CONTAINER", "group")
        self.groups = 1

    def status(self, fd: int, st: abi.vfio_group_status) -> int:
        st.flags = abi.VFIO_GROUP_FLAGS_VIABLE
        st.flags |= abi.VFIO_GROUP_FLAGS_CONTAINER_SET if self.groups else 0
        return 0

    def set_iommu(self, fd: int, iommu: int) -> None:
        if not self.groups or self.iommu:
            raise VfioError(errno.EINVAL, "VFIO_SET_IOMMU", "container")
        self.iommu = True

    def get_device_fd(self, fd: int, name: str) -> int:
        if not self.iommu:
            raise VfioError(errno.EINVAL, "VFIO_GROUP_GET_DEVICE_FD", "group")
        return os.open(os.devnull, os.O_RDWR)


@pytest.fixture()
def legacy(monkeypatch: pytest.MonkeyPatch) -> FakeLegacy:
    kernel = FakeLegacy()
    monkeypatch.setattr(rq, "vfio_group_set_container", kernel.set_container)
    monkeypatch.setattr(rq, "vfio_group_get_status", kernel.status)
    monkeypatch.setattr(rq, "vfio_set_iommu", kernel.set_iommu)
    monkeypatch.setattr(rq, "vfio_group_get_device_fd", kernel.get_device_fd)
    return kernel


def test_legacy_misuse_gets_a_hint(legacy: FakeLegacy) -> None:
    with api.Container("/dev/null") as c, api.Group("/dev/null") as g:
        with pytest.raises(VfioError, match="hint: no group is attached to this container yet"):
            c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
        with pytest.raises(VfioError, match="hint: the group has no container"):
            g.open_device("0000:00:03.0")
        g.set_container(c)
        assert c.groups == [g] and g.container is c
        with pytest.raises(VfioError, match="hint: the container has no IOMMU model yet"):
            g.open_device("0000:00:03.0")
        with pytest.raises(VfioError) as twice:
            g.set_container(c)
        assert twice.value.errno == errno.EINVAL
        assert twice.value.hint.startswith("this group already has a container")
        assert "the kernel says EINVAL here when the group already has a container" in str(
            twice.value
        )
        c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
        with pytest.raises(VfioError, match="IOMMU model is already set"):
            c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
        with g.open_device("0000:00:03.0") as dev:
            assert not dev.closed


def test_a_bare_einval_without_misuse_gets_no_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group attached and no IOMMU set yet: the kernel's EINVAL from SET_IOMMU
    has another cause, so no hint is made up."""
    kernel = FakeLegacy()
    kernel.groups = 1
    monkeypatch.setattr(rq, "vfio_set_iommu", refuse_request("VFIO_SET_IOMMU", "container"))
    monkeypatch.setattr(rq, "vfio_group_set_container", kernel.set_container)
    with api.Container("/dev/null") as c:
        c.groups.append(api.Group("/dev/null"))
        with pytest.raises(VfioError) as err:
            c.set_iommu(abi.VFIO_TYPE1v2_IOMMU)
        assert err.value.hint == "" and err.value.reason
        c.groups.pop().close()


def refuse_request(request: str, fd_kind: str, code: int = errno.EINVAL) -> Callable[..., int]:
    def call(*args: Any) -> int:
        raise VfioError(code, request, fd_kind)

    return call


def test_index_out_of_range_and_reset_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    def info(fd: int, buf: bytearray) -> int:
        i = abi.vfio_device_info.from_buffer(buf)
        i.num_regions, i.num_irqs, i.flags = 9, 5, abi.VFIO_DEVICE_FLAGS_PCI
        return 0

    monkeypatch.setattr(rq, "vfio_device_get_info", info)
    for function, request in (
        ("vfio_device_get_region_info", "VFIO_DEVICE_GET_REGION_INFO"),
        ("vfio_device_get_irq_info", "VFIO_DEVICE_GET_IRQ_INFO"),
        ("vfio_device_reset", "VFIO_DEVICE_RESET"),
    ):
        monkeypatch.setattr(rq, function, refuse_request(request, "device"))
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        with pytest.raises(VfioError, match=r"hint: index 99 is out of range: the device has 9 "):
            dev.region_info(99)
        with pytest.raises(VfioError, match=r"has 5 irqs \(0..4\); Device.irqs\(\) lists"):
            dev.irq_info(5)
        with pytest.raises(VfioError) as inside:
            dev.irq_info(2)  # in range: the kernel's reason only
        assert inside.value.hint == ""
        with pytest.raises(VfioError, match="hint: this device has no reset method"):
            dev.reset()


def noiommu_machine(root: Path) -> str:
    """One device on vfio-pci in a no-IOMMU group 7 (its node /dev/vfio/noiommu-7)."""
    bdf = "0000:00:06.0"
    d = root / "sys/devices/pci0000:00" / bdf
    (d / "vfio").mkdir(parents=True)
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    (root / "sys/bus/pci/devices" / bdf).symlink_to(d)
    for name, value in (("vendor", "0x1234"), ("device", "0x11e8"), ("class", "0x00ff00")):
        (d / name).write_text(value + "\n")
    (d / "config").write_bytes(bytes(64))
    drv = root / "sys/bus/pci/drivers/vfio-pci"
    drv.mkdir(parents=True)
    (d / "driver").symlink_to(drv)
    group = root / "sys/kernel/iommu_groups/7"
    (group / "devices").mkdir(parents=True)
    (group / "devices" / bdf).symlink_to(d)
    (group / "name").write_text("vfio-noiommu\n")
    (d / "iommu_group").symlink_to(group)
    (d / "vfio" / "noiommu-7").mkdir()
    (root / "dev/vfio").mkdir(parents=True)
    (root / "dev/vfio/vfio").touch()
    (root / "dev/vfio/noiommu-7").touch()
    return bdf


def test_noiommu_needs_the_opt_in(tmp_path: Path) -> None:
    bdf = noiommu_machine(tmp_path)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(NoiommuRefusedError) as err:
        api.open_pci(bdf, root=str(tmp_path))
    assert isinstance(err.value, SetupError) and err.value.errno == errno.EPERM
    assert "noiommu=True" in err.value.hint and "all of memory" in err.value.hint
    assert err.value.path == str(tmp_path / "dev/vfio/noiommu-7")
    with pytest.raises(NoiommuRefusedError):
        api.Group(tmp_path / "dev/vfio/noiommu-7")
    assert set(os.listdir("/proc/self/fd")) == before  # refused before any open
    again = pickle.loads(pickle.dumps(err.value))
    assert type(again) is NoiommuRefusedError and str(again) == str(err.value)
    # with the opt-in it goes on to the kernel (here a plain file: ENOTTY)
    with pytest.raises(VfioError) as req:
        api.open_pci(bdf, root=str(tmp_path), noiommu=True)
    assert req.value.request == "VFIO_GROUP_GET_STATUS"
    with api.Group(tmp_path / "dev/vfio/noiommu-7", noiommu=True) as g:
        assert not g.closed
    for mode in IOMMU_MODES:  # the cdev too: a no-IOMMU group opens in mode None only
        with pytest.raises(NoiommuRefusedError):
            api.open_pci(bdf, root=str(tmp_path), mode=mode)
        with pytest.raises(IommuModeError, match="no IOMMU to choose a mode of"):
            api.open_pci(bdf, root=str(tmp_path), mode=mode, noiommu=True)
    assert set(os.listdir("/proc/self/fd")) == before


def test_cli_info_of_a_noiommu_device_needs_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bdf = noiommu_machine(tmp_path)
    assert cli.main(["--root", str(tmp_path), "info", bdf, "--json"]) == 1  # refused
    assert "--noiommu" in capsys.readouterr().out
    assert cli.main(["--root", str(tmp_path), "info", bdf, "--json", "--noiommu"]) == 1  # ENOTTY
    assert "VFIO_GROUP_GET_STATUS" in capsys.readouterr().out
    cli.main(["--root", str(tmp_path), "doctor", bdf, "--json"])  # 1: the fake host lacks modules
    doctor = json.loads(capsys.readouterr().out)
    assert any("no-IOMMU group" in f["what"] and "noiommu=True" in f["hint"] for f in doctor)
