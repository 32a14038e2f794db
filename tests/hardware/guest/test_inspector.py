"""`python -m vfio` and the API's conveniences on the guest's edu device:
the inventory and info agree with sysfs and the kernel (the container's
extensions, the cdev when the container is missing), doctor finds nothing
wrong or names who holds the group, bind/unbind round-trips and refuses what
it must (the 9p transport the guest's root is mounted from; a device no vfio
driver has), open_pci + map_region + interrupt drive edu."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BINDINGS = Path(os.environ.get("VFIO_BINDINGS", Path(__file__).parents[3] / "generated"))
sys.path.insert(0, str(BINDINGS))

from vfio import abi, api, devices  # noqa: E402
from vfio.errors import SetupError  # noqa: E402

EDU_ID, EDU_IRQ_STATUS, EDU_IRQ_RAISE, EDU_IRQ_ACK = 0x00, 0x24, 0x60, 0x64
EDU_BAR0_SIZE = 1 << 20


def vfio_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(BINDINGS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "vfio", *args], capture_output=True, text=True, env=env, timeout=60
    )


def legacy_available() -> bool:
    return Path("/dev/vfio/vfio").exists()


def test_list_names_edu_with_its_group_and_node(edu) -> None:
    out = vfio_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (mine,) = [d for d in data["devices"] if d["bdf"] == edu.bdf]
    assert (mine["id"], mine["driver"], mine["iommu_group"]) == ("1234:11e8", "vfio-pci", edu.group)
    assert mine["group_node"] == str(edu.group_path) and Path(mine["group_node"]).exists()
    assert data["host"]["modules"]["vfio_pci"] is True
    assert data["host"]["container"] == legacy_available()
    # what the kernel's type1 driver answers before a model is set
    # (vfio_iommu_type1_check_extension), and its noiommu driver only in noiommu mode
    extensions = set(data["host"]["container_extensions"])
    assert {"VFIO_TYPE1_IOMMU", "VFIO_TYPE1v2_IOMMU", "VFIO_UNMAP_ALL"} <= extensions
    assert not extensions & {"VFIO_SPAPR_TCE_IOMMU", "VFIO_SPAPR_TCE_v2_IOMMU", "VFIO_EEH"}
    assert ("VFIO_NOIOMMU_IOMMU" in extensions) == data["host"]["noiommu"]
    assert "VFIO modes: container (type1, type1v2, " in vfio_cli("list").stdout


def test_info_reports_regions_irqs_and_config(edu) -> None:
    out = vfio_cli("info", edu.bdf, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["config"]["vendor"] == "0x1234" and info["config"]["device"] == "0x11e8"
    if not legacy_available():
        assert info["vfio"]["hint"], info["vfio"]  # why it could not open, in words
        pytest.skip("no legacy container on this kernel: info opens through it")
    vfio = info["vfio"]
    assert vfio["via"] == "container"
    bar0 = next(r for r in vfio["regions"] if r["index"] == abi.VFIO_PCI_BAR0_REGION_INDEX)
    assert bar0["size"] == EDU_BAR0_SIZE and "MMAP" in bar0["flags"]
    assert bar0["name"] == "BAR0_REGION_INDEX"
    irqs = {i["index"]: i for i in vfio["irqs"]}
    assert irqs[abi.VFIO_PCI_MSI_IRQ_INDEX]["count"] == 1
    assert abi.VFIO_PCI_ERR_IRQ_INDEX not in irqs  # edu has none: skipped, not an error


def test_info_opens_through_the_cdev_when_the_container_is_missing(edu, tmp_path) -> None:
    """A root whose /dev lacks vfio/vfio (a kernel without VFIO_CONTAINER):
    the real sysfs, group node, cdev and /dev/iommu, through symlinks."""
    (tmp_path / "dev/vfio").mkdir(parents=True)
    for name in ("sys", "proc"):
        (tmp_path / name).symlink_to(f"/{name}")
    for node in ("iommu", "vfio/devices", f"vfio/{edu.group}"):
        if Path("/dev", node).exists():
            (tmp_path / "dev" / node).symlink_to(Path("/dev", node))
    out = vfio_cli("--root", str(tmp_path), "info", edu.bdf, "--json")
    vfio = json.loads(out.stdout)["vfio"]
    cdev = (edu.sysfs / "vfio-dev").is_dir()  # Debian's 7.2: a cdev, but no /dev/iommu
    if not (Path("/dev/iommu").exists() and cdev):
        assert out.returncode == 1, out.stdout  # nothing to fall back to
        assert [a["via"] for a in vfio["attempts"]] == ["container"] + (["cdev"] if cdev else [])
        assert ("dev/iommu" if cdev else "dev/vfio/vfio") in vfio["error"]  # the last missing
        return
    assert out.returncode == 0, out.stdout + out.stderr
    assert vfio["via"] == "cdev"
    bar0 = next(r for r in vfio["regions"] if r["index"] == abi.VFIO_PCI_BAR0_REGION_INDEX)
    assert bar0["size"] == EDU_BAR0_SIZE
    text = vfio_cli("--root", str(tmp_path), "info", edu.bdf).stdout
    assert "opened through the cdev" in text and "region 0 BAR0: size 0x100000" in text


def ninep_transport() -> tuple[str, str]:
    """The PCI address of the virtio 9p device the guest's / is mounted
    from (the rig's hostroot), and its virtio device."""
    for transport in sorted(Path("/sys/bus/virtio/devices").glob("*")):
        tag_file = transport / "mount_tag"
        if tag_file.exists() and tag_file.read_text().rstrip("\x00\n") == "hostroot":
            return transport.resolve().parent.name, transport.name
    raise AssertionError("no virtio 9p device with the tag hostroot")


def test_info_of_a_device_not_on_vfio_exits_1_with_the_reason() -> None:
    bdf, _ = ninep_transport()
    out = vfio_cli("info", bdf, "--json")
    assert out.returncode == 1, out.stdout + out.stderr
    info = json.loads(out.stdout)
    assert info["config"]["vendor"] == "0x1af4" and info["driver"] == "virtio-pci"
    assert info["vfio"]["hint"] == f"bound to virtio-pci, not vfio-pci: python -m vfio bind {bdf}"


def test_bind_refuses_the_device_the_root_filesystem_is_mounted_from() -> None:
    bdf, transport = ninep_transport()
    expected = f"9p filesystem hostroot (on {transport}) mounted on /"
    assert expected in devices.users(bdf)  # else the bind below would take the guest's /
    out = vfio_cli("bind", bdf)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.startswith(f"vfio: {bdf} is in use: ") and expected in out.stderr
    assert devices.device(bdf).driver == "virtio-pci"


def test_doctor_finds_nothing_wrong_with_edu(edu) -> None:
    out = vfio_cli("doctor", edu.bdf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{edu.group_path} opens" in out.stdout


def test_doctor_names_the_process_holding_the_group(edu) -> None:
    if not legacy_available():
        pytest.skip("open_pci goes through the legacy container")
    with api.open_pci(edu.bdf):
        out = vfio_cli("doctor", edu.bdf)
    assert out.returncode == 1, out.stdout
    comm = Path("/proc/self/comm").read_text().strip()
    assert f"{edu.group_path} is busy\n     -> held by PID {os.getpid()} ({comm})" in out.stdout


def test_open_pci_map_region_and_interrupt_drive_edu(edu) -> None:
    if not legacy_available():
        pytest.skip("open_pci goes through the legacy container")
    with api.open_pci(edu.bdf) as dev:
        assert [i.index for i in dev.irqs()][:3] == [0, 1, 2]
        with dev.map_region(abi.VFIO_PCI_BAR0_REGION_INDEX) as bar0:
            assert bar0.read32(EDU_ID) == 0x010000ED
            dev.enable_bus_master()  # edu's MSI is a memory write it masters
            with dev.interrupt(abi.VFIO_PCI_MSI_IRQ_INDEX) as irq:
                bar0.write32(EDU_IRQ_RAISE, 0x1)
                assert irq.wait(5) == 1, "no MSI from edu"
                bar0.write32(EDU_IRQ_ACK, bar0.read32(EDU_IRQ_STATUS))
            dev.disable_irq(abi.VFIO_PCI_MSI_IRQ_INDEX)
        with dev.dma_buffer(8192, iova=0x100000) as buf:
            assert buf.mapped
            container = dev.dma_space  # vfio.api's Container, with every part of it
            assert isinstance(container, api.Container)
            with container.dirty_tracking() as tracking:  # no vendor driver: all pages dirty
                assert tracking.bitmap(buf.iova, buf.size).dirty_iovas() == [
                    buf.iova,
                    buf.iova + 4096,
                ]
    with pytest.raises(SetupError) as err:  # the group is free again, but not a bogus device
        api.open_pci("0000:00:1f.7")
    assert "python -m vfio list" in str(err.value)


def test_bind_unbind_round_trip(edu) -> None:
    assert vfio_cli("unbind", edu.bdf).returncode == 0
    try:
        assert devices.device(edu.bdf).driver != "vfio-pci"
        again = vfio_cli("unbind", edu.bdf)  # edu has no driver of its own: nothing to give back
        assert again.returncode == 1 and again.stderr == (
            f"vfio: {edu.bdf} is bound to no driver, not a vfio driver: nothing to give back\n"
        )
    finally:
        out = vfio_cli("bind", edu.bdf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert devices.device(edu.bdf).driver == "vfio-pci"


def test_in_use_lists_the_ipv4_addresses_this_kernel_has() -> None:
    """SIOCGIFCONF as vfio._in_use decodes it, against this kernel: an
    address added to the loopback (routes or not, up or not) shows, an
    alias label's too, under the interface, as `ip -4 addr` lists them
    (a kernel without IPv4 lists none)."""
    import socket

    from vfio import _in_use

    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    except OSError:  # no CONFIG_INET (the -full flavor's tinyconfig): nothing to list
        assert _in_use.ipv4_addresses() == {}
        return
    added = [("192.0.2.77/32", "lo"), ("192.0.2.78/32", "lo:vf")]
    for address, label in added:
        subprocess.run(["ip", "addr", "add", address, "dev", "lo", "label", label], check=True)
    try:
        found = _in_use.ipv4_addresses()
        assert {"192.0.2.77", "192.0.2.78"} <= set(found.get("lo", [])), found
        listed = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        pairs = {(f.split()[1], f.split()[3].partition("/")[0]) for f in listed.splitlines()}
        assert pairs == {(name, a) for name, addrs in found.items() for a in addrs}
    finally:
        for address, _ in added:
            subprocess.run(["ip", "addr", "del", address, "dev", "lo"], check=False)
