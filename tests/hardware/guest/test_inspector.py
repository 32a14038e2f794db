"""`python -m vfio` and the API's conveniences on the guest's edu device:
the inventory and info agree with sysfs and the kernel, doctor finds nothing
wrong, bind/unbind round-trips, open_pci + map_region + interrupt drive edu."""

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


def test_info_reports_regions_irqs_and_config(edu) -> None:
    out = vfio_cli("info", edu.bdf, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["config"]["vendor"] == "0x1234" and info["config"]["device"] == "0x11e8"
    if not legacy_available():
        assert info["vfio"]["hint"], info["vfio"]  # why it could not open, in words
        pytest.skip("no legacy container on this kernel: info opens through it")
    vfio = info["vfio"]
    bar0 = next(r for r in vfio["regions"] if r["index"] == abi.VFIO_PCI_BAR0_REGION_INDEX)
    assert bar0["size"] == EDU_BAR0_SIZE and "MMAP" in bar0["flags"]
    assert bar0["name"] == "BAR0_REGION_INDEX"
    irqs = {i["index"]: i for i in vfio["irqs"]}
    assert irqs[abi.VFIO_PCI_MSI_IRQ_INDEX]["count"] == 1
    assert abi.VFIO_PCI_ERR_IRQ_INDEX not in irqs  # edu has none: skipped, not an error


def test_doctor_finds_nothing_wrong_with_edu(edu) -> None:
    out = vfio_cli("doctor", edu.bdf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{edu.group_path} opens" in out.stdout


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
    finally:
        out = vfio_cli("bind", edu.bdf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert devices.device(edu.bdf).driver == "vfio-pci"
