"""`python -m vfio` and vfio.devices against a fake sysfs/dev tree (the
layout the kernel's PCI, IOMMU-group and VFIO code create: symlinks for
driver and iommu_group, group member links, vfio-dev/vfioN for the cdev).
Opening through VFIO is the hardware tier's job; here every way to fail
before that must say what to do."""

from __future__ import annotations

import ctypes
import io
import json
import os
import pickle
import re
import stat
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "generated"))

from vfio import __main__ as cli  # noqa: E402
from vfio import _in_use, _inspect, abi, api, devices  # noqa: E402
from vfio import requests as rq  # noqa: E402
from vfio.errors import (  # noqa: E402
    DeviceInUseError,
    DeviceNotFoundError,
    NoIommuGroupError,
    NotBoundError,
    RefusedError,
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
        "container_extensions": None,  # a plain file answers no VFIO_CHECK_EXTENSION
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
    assert status == 1 and info["config"]["vendor"] == "0x8086"  # what sysfs says, and why not
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


def _in_use_tree(root: Path) -> None:
    """What the kernel shows of a NIC that is up and routed (NIC2's eth0), an
    nvme (LONE2) whose partition is mounted and swapped on and whose disk
    dm-0 holds, and a virtio 9p transport (NINEP) whose tag is mounted."""
    nic = root / "sys/devices/pci0000:00" / NIC2
    (nic / "net/eth0").mkdir(parents=True)
    (nic / "net/eth0/flags").write_text("0x1003\n")
    (root / "sys/class/net").mkdir(parents=True)
    (root / "sys/class/net/eth0").symlink_to(nic / "net/eth0")
    _device(root, NVME, (0x1B36, 0x0010, 0x010802), "nvme", 7)
    disk = root / "sys/devices/pci0000:00" / NVME / "nvme/nvme0/nvme0n1"
    (disk / "nvme0n1p1").mkdir(parents=True)
    (disk / "holders").mkdir()
    (disk / "holders/dm-0").touch()
    (disk / "dev").write_text("259:0\n")
    (disk / "nvme0n1p1/dev").write_text("259:1\n")
    (disk / "nvme0n1p1/holders").mkdir()
    (root / "sys/class/block").mkdir(parents=True)
    (root / "sys/class/block/nvme0n1").symlink_to(disk)
    (root / "sys/class/block/nvme0n1p1").symlink_to(disk / "nvme0n1p1")
    _device(root, NINEP, (0x1AF4, 0x1009, 0x000200), "virtio-pci", 8)
    transport = root / "sys/devices/pci0000:00" / NINEP / "virtio1"
    transport.mkdir()
    (transport / "mount_tag").write_text("hostroot\x00")
    (root / "sys/bus/virtio/devices").mkdir(parents=True)
    (root / "sys/bus/virtio/devices/virtio1").symlink_to(transport)
    proc = root / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self/mountinfo").write_text(
        "22 1 0:21 / / ro,relatime - 9p hostroot ro,trans=virtio\n"
        "30 22 259:1 / /mnt/data rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n"
        "31 22 0:5 / /dev rw - devtmpfs devtmpfs rw\n"
    )
    (proc / "swaps").write_text(
        "Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p1 partition 1024 0 -2\n"
    )
    (proc / "net").mkdir()
    (proc / "net/route").write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n"
        "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
    )
    (proc / "net/if_inet6").write_text(
        "fe800000000000000000000000000001 02 40 20 80     eth0\n"
        "00000000000000000000000000000001 01 80 10 80       lo\n"
    )


NVME, NINEP = "0000:00:06.0", "0000:00:07.0"


def test_bind_refuses_a_device_the_host_uses_and_names_what(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _in_use_tree(machine)
    assert devices.users(NIC2, machine) == [
        "network interface eth0 (up, has an IPv6 address, 2 route(s))"
    ]
    assert devices.users(NVME, machine) == [
        "block device nvme0n1 held by dm-0",
        "block device nvme0n1p1 mounted on /mnt/data",
        "block device nvme0n1p1 is swap",
    ]
    assert devices.users(NINEP, machine) == ["9p filesystem hostroot (on virtio1) mounted on /"]
    assert devices.users(EDU, machine) == []
    nic2 = machine / "sys/bus/pci/devices" / NIC2
    with pytest.raises(DeviceInUseError) as err:
        devices.bind(NIC2, root=machine, euid=0)
    assert err.value.users == devices.users(NIC2, machine) and err.value.errno == 16
    assert (nic2 / "driver_override").read_text() == "(null)\n"  # nothing written
    assert not (machine / "sys/bus/pci/drivers/e1000e/unbind").read_text()
    assert pickle.loads(pickle.dumps(err.value)).users == err.value.users
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "geteuid", lambda: 0)
        assert run("--root", str(machine), "bind", NVME)[0] == 1
        message = capsys.readouterr().err
        assert message == (
            f"vfio: {NVME} is in use: block device nvme0n1 held by dm-0; block device nvme0n1p1 "
            "mounted on /mnt/data; block device nvme0n1p1 is swap (stop that first, or bind "
            "--force)\n"
        )
        run("--root", str(machine), "bind", NIC2, "--force")
    assert (nic2 / "driver_override").read_text() == "vfio-pci"
    assert (machine / "sys/bus/pci/drivers/e1000e/unbind").read_text() == NIC2
    doctor = json.loads(run("--root", str(machine), "doctor", NVME, "--json")[1])
    assert {
        "ok": False,
        "what": "the host uses it: " + "; ".join(devices.users(NVME, machine)),
        "hint": "stop that first: bind refuses a device in use (unless --force)",
    } in doctor
    (machine / "sys/class/net/eth0/flags").write_text("0x1002\n")  # down, routes gone
    (machine / "proc/net/route").write_text("Iface\tDestination\n")
    (machine / "proc/net/if_inet6").write_text("")
    assert devices.users(NIC2, machine) == []


def test_unbind_refuses_a_device_no_vfio_driver_has(
    machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lone = machine / "sys/bus/pci/devices" / LONE
    with pytest.raises(RefusedError) as err:
        devices.unbind(LONE, root=machine, euid=0)
    assert (
        err.value.hint == f"{LONE} is bound to virtio-pci, not a vfio driver: nothing to give back"
    )
    assert (lone / "driver_override").read_text() == "(null)\n"
    assert not (machine / "sys/bus/pci/drivers_probe").read_text()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    capsys.readouterr()
    assert run("--root", str(machine), "unbind", LONE)[0] == 1
    assert capsys.readouterr().err == (
        f"vfio: {LONE} is bound to virtio-pci, not a vfio driver: nothing to give back\n"
    )
    (lone / "driver").unlink()  # a bind whose probe failed: no driver, the override says vfio
    (lone / "driver_override").write_text("vfio-pci\n")
    status, out = run("--root", str(machine), "unbind", LONE)
    assert status == 0 and (lone / "driver_override").read_text() == "\n"
    assert run("--root", str(machine), "unbind", EDU)[0] == 0
    assert (machine / "sys/bus/pci/drivers/vfio-pci/unbind").read_text() == EDU


def test_info_falls_back_to_the_cdev_and_exits_1_when_nothing_opens(machine: Path) -> None:
    (machine / "dev/vfio/vfio").unlink()  # a kernel without VFIO_CONTAINER
    status, out = run("--root", str(machine), "info", EDU, "--json")
    vfio = json.loads(out)["vfio"]
    assert status == 1
    assert [a["via"] for a in vfio["attempts"]] == ["container", "cdev"]
    assert "dev/vfio/vfio" in vfio["attempts"][0]["error"]
    # the fake cdev is a plain file: the first iommufd request fails, and that is the reason
    assert vfio["via"] == "cdev" and vfio["error"] == vfio["attempts"][1]["error"]
    assert "IOMMU_" in vfio["error"]
    status, out = run("--root", str(machine), "info", EDU)
    assert status == 1 and "not opened through VFIO (cdev)" in out
    assert "(through the container:" in out
    (machine / "dev/iommu").unlink()  # Debian's 7.2: the cdev, but iommufd not loaded
    vfio = json.loads(run("--root", str(machine), "info", EDU, "--json")[1])["vfio"]
    assert (
        vfio["via"] == "cdev"
        and "dev/iommu" in vfio["error"]
        and "modprobe iommufd" in vfio["hint"]
    )
    status, out = run("--root", str(machine), "info", NIC2, "--json")  # not bound: no fallback
    assert status == 1 and [a["via"] for a in json.loads(out)["vfio"]["attempts"]] == ["container"]


OPENED = {
    "via": "cdev",
    "flags": ["RESET", "PCI"],
    "num_regions": 3,
    "num_irqs": 1,
    "capabilities": [],
    "regions": [
        {"index": 0, "name": "BAR0_REGION_INDEX", "flags": ["READ", "WRITE", "MMAP"],
         "size": 0x100000, "offset": 0, "type": None, "sparse_areas": [], "capabilities": []},
        {"index": 1, "name": "BAR1_REGION_INDEX", "flags": [], "size": 0, "offset": 1 << 40,
         "type": None, "sparse_areas": [], "capabilities": []},
        {"index": 9, "name": None, "flags": ["READ"], "size": 0x1000, "offset": 9 << 40,
         "type": {"type": 1, "subtype": 2, "type_name": "VFIO_REGION_TYPE_GFX",
                  "subtype_name": None},
         "sparse_areas": [],
         "capabilities": [{"id": 2, "version": 1, "name": "VFIO_REGION_INFO_CAP_TYPE"}]},
    ],
    "irqs": [{"index": 1, "name": "MSI_IRQ_INDEX", "flags": [], "count": 1}],
    "features": {"VFIO_DEVICE_FEATURE_PCI_VF_TOKEN": False},
}  # fmt: skip


def test_info_text_has_no_none_no_empty_bars_no_trailing_blanks(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "open_report", lambda dev, root, noiommu: OPENED)
    status, out = run("--root", str(machine), "info", LONE)
    assert status == 0
    assert "None" not in out and not any(line != line.rstrip() for line in out.splitlines())
    assert "driver virtio-pci, no IOMMU group, no /dev/vfio node" in out
    assert "  region 0 BAR0: size 0x100000 READ|WRITE|MMAP\n" in out
    assert "region 1 " not in out  # a BAR the device does not have
    assert "  region 9: size 0x1000 READ; type 0x1 (VFIO_REGION_TYPE_GFX) subtype 0x2\n" in out
    assert "  irq 1 MSI: count 1\n" in out and "features: none" in out
    status, out = run("--root", str(machine), "info", EDU)
    assert "IOMMU group 5, /dev/vfio/5, cdev /dev/vfio/devices/vfio0" in out


def typed_region_kernel(type_: int, subtype: int) -> Any:
    """VFIO_DEVICE_GET_REGION_INFO as vfio-pci answers for a typed region
    (its igd OpRegion): a chain with VFIO_REGION_INFO_CAP_TYPE, after the
    argsz "grow" round trip."""
    head = ctypes.sizeof(abi.vfio_region_info)
    need = head + ctypes.sizeof(abi.vfio_region_info_cap_type)

    def kernel(fd: int, buf: bytearray) -> int:
        info = abi.vfio_region_info.from_buffer(buf)
        info.flags = abi.VFIO_REGION_INFO_FLAG_READ | abi.VFIO_REGION_INFO_FLAG_CAPS
        info.size, info.offset = 0x2000, info.index << 40
        if info.argsz < need:
            info.argsz = need
            return 0
        info.cap_offset = head
        cap = abi.vfio_region_info_cap_type.from_buffer(buf, head)
        cap.header.id, cap.header.version = abi.VFIO_REGION_INFO_CAP_TYPE, 1
        cap.type, cap.subtype = type_, subtype
        return 0

    return kernel


@pytest.mark.parametrize(
    "type_, subtype, names, text",
    [
        (
            abi.VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086,
            abi.VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION,
            ("VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086", "VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION"),
            "type 0x80008086 (VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086)"
            " subtype 0x1 (VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION)",
        ),
        (
            abi.VFIO_REGION_TYPE_GFX,
            abi.VFIO_REGION_SUBTYPE_GFX_EDID,
            ("VFIO_REGION_TYPE_GFX", "VFIO_REGION_SUBTYPE_GFX_EDID"),
            "type 0x1 (VFIO_REGION_TYPE_GFX) subtype 0x1 (VFIO_REGION_SUBTYPE_GFX_EDID)",
        ),
        (0x7777, 5, (None, None), "type 0x7777 subtype 0x5"),
    ],
)
def test_info_names_a_region_type_and_keeps_its_numbers(
    machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    type_: int,
    subtype: int,
    names: tuple[str | None, str | None],
    text: str,
) -> None:
    """`info`'s region "type": the numbers the kernel gave, as u32 (the
    vendor flag is bit 31), and the headers' names, in JSON and text."""
    monkeypatch.setattr(rq, "vfio_device_get_region_info", typed_region_kernel(type_, subtype))
    with api.Device(os.open(os.devnull, os.O_RDWR)) as dev:
        typed = _inspect.region(dev.region_info(9))
    assert typed["name"] is None  # the first device-specific index (VFIO_PCI_NUM_REGIONS)
    assert typed["type"] == {
        "type": type_ & 0xFFFFFFFF,
        "subtype": subtype,
        "type_name": names[0],
        "subtype_name": names[1],
    }
    report = {**OPENED, "regions": [typed]}
    monkeypatch.setattr(cli, "open_report", lambda dev, root, noiommu: report)
    status, out = run("--root", str(machine), "info", EDU, "--json")
    assert status == 0 and json.loads(out)["vfio"]["regions"][0]["type"] == typed["type"]
    out = run("--root", str(machine), "info", EDU)[1]
    assert f"  region 9: size 0x2000 READ|CAPS; {text}\n" in out


def processes(root: Path, *fds: tuple[int, str, str]) -> None:
    """Fake processes, each with fd 3 open on a path (PID, command, path),
    as /proc/PID/fd and /proc/PID/comm show them."""
    for pid, comm, target in fds:
        (root / f"proc/{pid}/fd").mkdir(parents=True)
        (root / f"proc/{pid}/fd/3").symlink_to(target)
        (root / f"proc/{pid}/comm").write_text(comm + "\n")


def test_doctor_names_the_processes_holding_a_busy_group(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = str(machine / "dev/vfio/5")
    processes(
        machine,
        (4242, "qemu-system-x86", "/dev/vfio/5"),
        (77, "bash", "/dev/pts/0"),
        (5000, "qemu-system-x86", "/dev/vfio/6"),
    )
    (machine / "proc/9/fd").mkdir(parents=True)
    (machine / "proc/9/fd").chmod(0)  # another user's process: skipped, counted
    real_open = os.open

    def busy(path: object, flags: int, *args: int) -> int:
        if str(path) == node:
            raise OSError(16, "Device or resource busy")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", busy)
    status, out = run("--root", str(machine), "doctor", EDU)
    (machine / "proc/9/fd").chmod(0o755)
    assert status == 1
    assert "FAIL /dev/vfio/5 is busy\n     -> held by PID 4242 (qemu-system-x86):" in out
    assert "5000" not in out and "bash" not in out
    (machine / "proc/4242/fd/3").unlink()
    (machine / "proc/9/fd").chmod(0)
    hidden = run("--root", str(machine), "doctor", EDU)[1]
    (machine / "proc/9/fd").chmod(0o755)
    assert ("run as root to see which" in hidden) == (os.geteuid() != 0)


def test_list_reports_container_extensions_or_null(machine: Path) -> None:
    data = json.loads(run("--root", str(machine), "list", "--json")[1])
    assert data["host"]["container_extensions"] is None  # a plain file answers no ioctl
    text = run("--root", str(machine), "list")[1]
    assert "VFIO modes: container, iommufd, cdev" in text
    assert not any(line != line.rstrip() for line in text.splitlines())
    (machine / "dev/vfio/vfio").unlink()
    assert (
        json.loads(run("--root", str(machine), "list", "--json")[1])["host"]["container_extensions"]
        is None
    )


def test_help_says_what_each_command_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    for name, (short, _) in cli.COMMANDS.items():
        assert re.search(rf"^ +{name} +{re.escape(short)}$", top, re.M), top
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        assert cli.COMMANDS[name][1].split(" ")[0] in capsys.readouterr().out
    assert "Exit status" in top and "vfio.devices" in top


def test_info_without_iommufd_bindings_says_to_regenerate(machine: Path, tmp_path: Path) -> None:
    """The runtime generated for 6.1 has no iommufd module: `info` tries the
    cdev through open_pci's mode "iommufd" all the same, which says the
    bindings are too old (not a crash on a missing Device.open_pci_cdev)."""
    out_dir = tmp_path / "b61"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "gen")}
    build = subprocess.run(
        [sys.executable, "-m", "vfiogen", "build", "6.1", "--out", str(out_dir), "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    assert not (out_dir / "vfio/_iommufd.py").exists()  # dropped: 6.1 lacks its requests
    (machine / "dev/vfio/vfio").unlink()  # the cdev is the only way left
    info = subprocess.run(
        [sys.executable, "-m", "vfio", "--root", str(machine), "info", EDU, "--json"],
        env={**os.environ, "PYTHONPATH": str(out_dir)},
        capture_output=True,
        text=True,
    )
    assert info.returncode == 1, info.stderr
    vfio = json.loads(info.stdout)["vfio"]
    assert [a["via"] for a in vfio["attempts"]] == ["container", "cdev"]
    assert vfio["via"] == "cdev" and "regenerate from Linux 6.6+" in vfio["hint"]


def test_in_use_reads_each_proc_table_once_per_command(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device with two interfaces and two block devices: /proc/net/*,
    /proc/swaps and the mounts are read once for the whole command."""
    _in_use_tree(machine)
    nic = machine / "sys/devices/pci0000:00" / NIC2
    (nic / "net/eth1").mkdir(parents=True)
    (nic / "net/eth1/flags").write_text("0x1002\n")
    (machine / "sys/class/net/eth1").symlink_to(nic / "net/eth1")
    nvme = machine / "sys/devices/pci0000:00" / NVME / "nvme/nvme0"
    (nvme / "nvme0n2").mkdir(parents=True)
    (nvme / "nvme0n2/dev").write_text("259:2\n")
    (machine / "sys/class/block/nvme0n2").symlink_to(nvme / "nvme0n2")
    reads: list[str] = []
    read = _in_use._read
    monkeypatch.setattr(_in_use, "_read", lambda path: reads.append(str(path)) or read(path))
    host = _in_use.HostUse(machine)
    assert _in_use.device_users(NIC2, machine, host) == [
        "network interface eth0 (up, has an IPv6 address, 2 route(s))"
    ]
    assert len(_in_use.device_users(NVME, machine, host)) == 3
    proc = [r.removeprefix(str(machine / "proc")) for r in reads if "/proc/" in r]
    assert sorted(proc) == [
        "/net/if_inet6",
        "/net/ipv6_route",
        "/net/route",
        "/self/mountinfo",
        "/swaps",
    ], proc
    reads.clear()
    devices.users(NVME, machine)  # a command of its own: its own reads, once each
    assert sum("/proc/self/mountinfo" in r for r in reads) == 1


def test_in_use_sees_an_ipv4_address_without_a_route_and_a_raw_open(machine: Path) -> None:
    """An interface down, without routes, with an IPv4 address (what
    SIOCGIFCONF lists: stood in for here); a block device a process holds
    open by its /dev node; mount points with every proc(5) escape."""
    _in_use_tree(machine)
    (machine / "sys/class/net/eth0/flags").write_text("0x1002\n")  # down
    (machine / "proc/net/route").write_text("Iface\tDestination\n")
    (machine / "proc/net/if_inet6").write_text("")
    assert devices.users(NIC2, machine) == []
    addresses = {"eth0": ["10.0.0.5", "10.0.0.6"], "lo": ["127.0.0.1"]}
    host = _in_use.HostUse(machine, addresses=lambda: addresses)
    assert _in_use.device_users(NIC2, machine, host) == [
        "network interface eth0 (has IPv4 address 10.0.0.5, 10.0.0.6)"
    ]
    processes(
        machine,
        (4242, "qemu-system-x86", "/dev/nvme0n1"),
        (4243, "dd", "/dev/nvme0n1"),
        (77, "bash", "/dev/pts/0"),
        (78, "cat", "/var/log/nvme0n1"),
    )
    (machine / "proc/self/mountinfo").write_text(
        "30 22 259:1 / /mnt/my\\040data rw - ext4 /dev/nvme0n1p1 rw\n"
        "31 22 259:1 / /srv/a\\011b\\012c\\134d rw - ext4 /dev/nvme0n1p1 rw\n"
    )
    (machine / "proc/swaps").write_text("Filename\tType\n")
    assert devices.users(NVME, machine) == [
        "block device nvme0n1 held by dm-0",
        "block device nvme0n1 open in PID 4242 (qemu-system-x86), PID 4243 (dd)",
        "block device nvme0n1p1 mounted on /mnt/my data, '/srv/a\\tb\\nc\\\\d'",
    ]
    assert [m[1] for m in _in_use.mounts(machine)] == ["/mnt/my data", "/srv/a\tb\nc\\d"]
    assert _in_use.unescape("\\134040") == "\\040"  # one pass: an escaped backslash stays one


def test_ipv4_addresses_are_what_the_kernel_lists(tmp_path: Path) -> None:
    """SIOCGIFCONF decoded as `ip -4 addr` (iproute2, over netlink) shows
    this machine's addresses (a fresh network namespace may have none)."""
    found = _in_use.ipv4_addresses()
    ip = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
    if ip.returncode != 0:
        pytest.skip("no iproute2 here to compare with")
    listed = {
        (line.split()[1], line.split()[3].partition("/")[0]) for line in ip.stdout.splitlines()
    }
    assert listed == {(name, a) for name, addrs in found.items() for a in addrs}
    assert listed or not found  # (something to compare wherever the loopback is up)
    assert _in_use.HostUse(tmp_path).ipv4 == {}  # a fake tree's interfaces are not this kernel's


def test_a_raw_open_is_found_by_device_number_whatever_the_node(tmp_path: Path) -> None:
    """This kernel's answer for a block device this process opens through a
    node of its own (mknod elsewhere than /dev): /proc/self/fd names that
    node, the fd's stat gives the device number, which sysfs's dev matches."""
    if os.geteuid() != 0:
        pytest.skip("mknod and opening a block device need root")
    blocks = sorted(Path("/sys/class/block").glob("loop*")) or sorted(
        Path("/sys/class/block").glob("*")
    )
    if not blocks:
        pytest.skip("no block device on this machine")
    number = (blocks[0] / "dev").read_text().strip()
    major, minor = map(int, number.split(":"))
    node = tmp_path / "mine"
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    fd = os.open(node, os.O_RDONLY | os.O_CLOEXEC)
    try:
        host = _in_use.HostUse("/")
        opened = [(t, rdev) for pid, t, rdev in host.open_blocks if pid == os.getpid()]
        assert (str(node), os.makedev(major, minor)) in opened, opened
        phrases = _in_use._block_uses(blocks[0].name, blocks[0], host)
        mine = f"PID {host.command(os.getpid())}"
        assert any(
            p.startswith(f"block device {blocks[0].name} open in ") and mine in p for p in phrases
        ), phrases
    finally:
        os.close(fd)
