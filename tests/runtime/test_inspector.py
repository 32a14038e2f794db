"""`python -m vfio` and vfio.devices against a fake sysfs/dev tree (the
layout the kernel's PCI, IOMMU-group and VFIO code create: symlinks for
driver and iommu_group, group member links, vfio-dev/vfioN for the cdev).
Opening through VFIO is the hardware tier's job; here every way to fail
before that must say what to do."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "generated"))

from vfio import __main__ as cli  # noqa: E402
from vfio import api, devices  # noqa: E402
from vfio.errors import (  # noqa: E402
    DeviceNotFoundError,
    NoIommuGroupError,
    NotBoundError,
    SetupError,
    SysfsError,
    VfioError,
)

EDU, NIC, NIC2, BRIDGE, LONE = (
    "0000:00:03.0",
    "0000:00:04.0",
    "0000:00:04.1",
    "0000:00:1e.0",
    "0000:00:05.0",
)


def _device(
    root: Path,
    bdf: str,
    ids: tuple[int, int, int],
    driver: str | None,
    group: int | None,
    header_type: int = 0,
) -> None:
    d = root / "sys/devices/pci0000:00" / bdf
    d.mkdir(parents=True)
    link = root / "sys/bus/pci/devices" / bdf
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(d)
    vendor, device, klass = ids
    (d / "vendor").write_text(f"0x{vendor:04x}\n")
    (d / "device").write_text(f"0x{device:04x}\n")
    (d / "class").write_text(f"0x{klass:06x}\n")
    (d / "subsystem_vendor").write_text("0x1af4\n")
    (d / "subsystem_device").write_text("0x1100\n")
    (d / "driver_override").write_text("(null)\n")
    config = bytearray(64)
    config[0:4] = vendor.to_bytes(2, "little") + device.to_bytes(2, "little")
    config[0x0E] = header_type
    (d / "config").write_bytes(bytes(config))
    if driver is not None:
        drv = root / "sys/bus/pci/drivers" / driver
        drv.mkdir(parents=True, exist_ok=True)
        (drv / "unbind").touch()
        (d / "driver").symlink_to(drv)
    if group is not None:
        g = root / "sys/kernel/iommu_groups" / str(group)
        (g / "devices").mkdir(parents=True, exist_ok=True)
        (g / "devices" / bdf).symlink_to(d)
        (d / "iommu_group").symlink_to(g)
    if driver == "vfio-pci":
        (root / "dev/vfio/devices").mkdir(parents=True, exist_ok=True)
        n = len(list((root / "dev/vfio/devices").iterdir()))
        (d / "vfio-dev" / f"vfio{n}").mkdir(parents=True)
        (root / "dev/vfio/devices" / f"vfio{n}").touch()
        (root / "dev/vfio" / str(group)).touch()


@pytest.fixture()
def machine(tmp_path: Path) -> Path:
    """edu on vfio-pci alone in group 5; two NIC functions in group 6, one on
    e1000e; a bridge in group 6 too; a device without a group."""
    root = tmp_path
    for mod in ("vfio", "vfio_pci", "vfio_iommu_type1", "iommufd"):
        (root / "sys/module" / mod).mkdir(parents=True)
    (root / "sys/class/iommu/dmar0").mkdir(parents=True)
    (root / "sys/bus/pci/drivers_probe").parent.mkdir(parents=True)
    (root / "sys/bus/pci/drivers_probe").touch()
    (root / "dev/vfio").mkdir(parents=True)
    (root / "dev/vfio/vfio").touch()
    (root / "dev/iommu").touch()
    _device(root, EDU, (0x1234, 0x11E8, 0x00FF00), "vfio-pci", 5)
    _device(root, NIC, (0x8086, 0x10D3, 0x020000), "vfio-pci", 6)
    _device(root, NIC2, (0x8086, 0x10D3, 0x020000), "e1000e", 6)
    _device(root, BRIDGE, (0x8086, 0x244E, 0x060400), "pcieport", 6, header_type=1)
    _device(root, LONE, (0x1AF4, 0x1041, 0x020000), "virtio-pci", None)
    return root


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(list(argv))
    return status, out.getvalue()


def test_no_vfio_is_an_empty_inventory_and_exit_0(tmp_path: Path) -> None:
    status, out = run("--root", str(tmp_path), "list", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["devices"] == [] and data["host"]["container"] is False
    assert data["host"]["modules"] == dict.fromkeys(
        ("vfio", "vfio_pci", "vfio_iommu_type1", "iommufd"), False
    )
    assert run("--root", str(tmp_path), "list")[0] == 0


def test_list_shows_vfio_capable_devices_with_group_node_and_cdev(machine: Path) -> None:
    status, out = run("--root", str(machine), "list", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["host"] == {
        "iommu_units": ["dmar0"],
        "container": True,
        "iommufd": True,
        "cdev": True,
        "noiommu": False,
        "modules": dict.fromkeys(("vfio", "vfio_pci", "vfio_iommu_type1", "iommufd"), True),
    }
    by_bdf = {d["bdf"]: d for d in data["devices"]}
    assert sorted(by_bdf) == [EDU, NIC, NIC2, BRIDGE]  # LONE has no group
    edu = by_bdf[EDU]
    assert (edu["id"], edu["class"], edu["driver"], edu["iommu_group"]) == (
        "1234:11e8",
        "0x00ff00",
        "vfio-pci",
        5,
    )
    assert (edu["group_node"], edu["cdev"], edu["group_devices"]) == (
        "/dev/vfio/5",
        "/dev/vfio/devices/vfio0",
        [EDU],
    )
    assert by_bdf[NIC2]["group_node"] == "/dev/vfio/6" and by_bdf[NIC2]["cdev"] is None
    every = json.loads(run("--root", str(machine), "list", "--all", "--json")[1])
    assert LONE in {d["bdf"] for d in every["devices"]}
    text = run("--root", str(machine), "list")[1]
    assert "dmar0" in text and f"{EDU}  1234:11e8" in text


def test_discovery_by_ids_and_class(machine: Path) -> None:
    assert [d.bdf for d in devices.find(0x1234, 0x11E8, root=machine)] == [EDU]
    nics = devices.find(class_code=0x020000, class_mask=0xFF0000, root=machine)
    assert [d.bdf for d in nics] == [NIC, NIC2]
    assert devices.device("00:03.0", machine).bdf == EDU  # domain 0 implied
    with pytest.raises(ValueError, match="not a PCI address"):
        devices.device("3.0", machine)
    with pytest.raises(DeviceNotFoundError, match="python -m vfio list"):
        devices.device("0000:00:09.0", machine)
    assert devices.group_viable(devices.device(EDU, machine), machine)
    assert not devices.group_viable(devices.device(NIC, machine), machine)  # e1000e in it


def test_bind_refused_when_not_root_and_writes_sysfs_when_root(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nic2 = machine / "sys/bus/pci/devices" / NIC2
    with pytest.raises(SysfsError, match="run as root"):
        devices.bind(NIC2, root=machine, euid=1000)
    assert (nic2 / "driver_override").read_text() == "(null)\n"  # nothing written
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert run("--root", str(machine), "bind", NIC2)[0] == 1
    devices.bind(NIC2, root=machine, euid=0)
    assert (nic2 / "driver_override").read_text() == "vfio-pci"
    assert (machine / "sys/bus/pci/drivers/e1000e/unbind").read_text() == NIC2
    assert (machine / "sys/bus/pci/drivers_probe").read_text() == NIC2
    with pytest.raises(SysfsError, match="modprobe nosuch"):
        devices.bind(NIC2, "nosuch", root=machine, euid=0)
    devices.unbind(NIC2, root=machine, euid=0)
    assert (nic2 / "driver_override").read_text() == "\n"


def test_doctor_says_what_blocks_a_device(machine: Path) -> None:
    status, out = run("--root", str(machine), "doctor", NIC2, "--json")
    findings = json.loads(out)
    assert status == 1
    failed = [f for f in findings if not f["ok"]]
    assert any(f"python -m vfio bind {NIC2}" in f["hint"] for f in failed)
    assert any(
        "not viable" in f["what"] and NIC2 in f["what"]
        for f in json.loads(run("--root", str(machine), "doctor", NIC, "--json")[1])
        if not f["ok"]
    )
    status, out = run("--root", str(machine), "doctor", EDU)
    assert status == 0 and "/dev/vfio/5 opens" in out and "FAIL" not in out
    status, out = run("--root", str(machine), "doctor", LONE)
    assert status == 1 and "no IOMMU group" in out
    (machine / "sys/class/iommu/dmar0").rmdir()
    status, out = run("--root", str(machine), "doctor")
    assert status == 1 and "intel_iommu=on" in out


def test_open_errors_carry_hints(machine: Path) -> None:
    with pytest.raises(NotBoundError) as err:
        api.open_pci(NIC2, root=str(machine))
    assert f"bound to e1000e, not vfio-pci: python -m vfio bind {NIC2}" in str(err.value)
    assert isinstance(err.value, VfioError) and err.value.driver == "e1000e"
    with pytest.raises(NoIommuGroupError, match="intel_iommu=on"):
        api.open_pci(LONE, root=str(machine))
    with pytest.raises(DeviceNotFoundError):
        api.open_pci("0000:00:09.0", root=str(machine))
    with pytest.raises(DeviceNotFoundError):
        api.Group.number_of("0000:00:09.0", machine / "sys/bus/pci/devices")
    with pytest.raises(NoIommuGroupError):
        api.Group.number_of(LONE, machine / "sys/bus/pci/devices")
    # bound and present: the fake nodes are plain files, so the first request fails
    with pytest.raises(VfioError) as req:
        api.open_pci(EDU, root=str(machine))
    assert req.value.request == "VFIO_GROUP_GET_STATUS" and not isinstance(req.value, SetupError)
    status, out = run("--root", str(machine), "info", NIC2, "--json")
    info = json.loads(out)
    assert status == 0 and info["config"]["vendor"] == "0x8086"
    assert info["vfio"]["hint"] == f"bound to e1000e, not vfio-pci: python -m vfio bind {NIC2}"


@pytest.mark.parametrize(
    "error",
    [
        DeviceNotFoundError(EDU, "/sys/x"),
        NotBoundError(EDU, "e1000e", "/sys/x"),
        NoIommuGroupError(EDU, "/sys/x"),
        SysfsError(13, "/sys/x", "vfio-pci", "run as root"),
    ],
)
def test_setup_errors_pickle(error: SetupError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error) and again.hint == error.hint
