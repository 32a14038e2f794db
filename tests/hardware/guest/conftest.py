"""Fixtures of the guest-side tests, which run inside a rig guest (see
../rig.py): the edu device bound to vfio-pci, and what the host told us.

A new hardware test is a `test_*.py` file in this directory; the rig runs
every one of them on every kernel under test."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_GUEST = os.environ.get("VFIOGEN_GUEST") == "1"
# The sPAPR TCE IOMMU is POWER's: test_spapr.py runs on the ppc64 flavor only
# (which runs it and the request fuzzer only: rig_kernels.Flavor.guest_tests).
collect_ignore = [] if platform.machine().startswith("ppc64") else ["test_spapr.py"]
HERE = Path(__file__).parent
BINDINGS = Path(os.environ.get("VFIO_BINDINGS", HERE.parents[2] / "generated"))
sys.path.insert(0, str(BINDINGS))

import proof  # noqa: E402
from pci import PciDevice, find_pci  # noqa: E402
from vfio import _ioctl, requests  # noqa: E402

if IN_GUEST:
    proof.install(_ioctl)
    proof.install_requests(requests)
EDU_VENDOR, EDU_DEVICE = 0x1234, 0x11E8


@pytest.fixture(autouse=True)
def proof_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Calls of a test module with PROOF_MODE count as proof in that mode."""
    name = getattr(request.module, "PROOF_MODE", None)
    if name is None:
        yield
        return
    with proof.mode(name):
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Leave the proof record in the work dir (the host merges it)."""
    work = os.environ.get("VFIOGEN_RIG_WORK")
    if IN_GUEST and work:
        proof.dump(Path(work) / "proof-guest.json")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Guest tests collected on the host (`pytest tests/hardware/guest` by
    hand) are skipped: they need the guest's VFIO device."""
    if IN_GUEST:
        return
    skip = pytest.mark.skip(reason="runs inside the rig's guest: pytest -m hardware tests/hardware")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def edu() -> PciDevice:
    """QEMU's edu device (1234:11e8) behind the IOMMU, which /init bound to
    vfio-pci (the 7.2-full flavor has a second one outside it: noiommu_edu)."""
    devices = [d for d in find_pci(EDU_VENDOR, EDU_DEVICE) if not d.noiommu]
    assert len(devices) == 1, f"expected one edu device, found {devices}"
    return devices[0]


@pytest.fixture(scope="session")
def noiommu_edu() -> PciDevice:
    """The edu outside the IOMMU's scope (behind a pxb-pcie with
    bypass_iommu), on vfio-pci in no-IOMMU mode; skip where there is none."""
    devices = [d for d in find_pci(EDU_VENDOR, EDU_DEVICE) if d.noiommu]
    if not devices:
        pytest.skip("no edu in no-IOMMU mode on this flavor")
    return devices[0]


@pytest.fixture(scope="session")
def rig_host() -> dict:
    """host.json, written by the rig: the host's interpreter, sys.path, and
    the kernel flavor ("6.1", "7.2") this guest booted."""
    return json.loads((Path(os.environ["VFIOGEN_RIG_WORK"]) / "host.json").read_text())


@pytest.fixture(scope="session")
def guest_kernel() -> str:
    """The kernel flavor under test: "6.1", "7.2", "7.2-full" (rig.FLAVORS)."""
    return os.environ["VFIOGEN_GUEST_KERNEL"]
